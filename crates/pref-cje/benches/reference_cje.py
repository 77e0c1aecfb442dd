"""Reference timings: cje-eval 0.3.0 (pip install cje-eval==0.3.0) on 2,000 logged rows ×
3 target policies, 10% oracle labels, one fresh draw per prompt and policy, from the same
generative model as pref-cje's simulator (and fixtures/gen_cje.py). Also writes the data
to OUT_DIR so `pref cje` can be timed on the same files.
Run: python3 benches/reference_cje.py OUT_DIR"""
import json, os, sys, time, warnings
import numpy as np

warnings.filterwarnings("ignore")
out = sys.argv[1]
os.makedirs(f"{out}/fresh", exist_ok=True)
rng = np.random.default_rng(5)
n = 2000
pols = {"clone": (0.0, 0.0), "better": (1.5, 0.5), "heavy": (1.0, 1.3)}
grid = np.linspace(0, 1, 20001); dens = 6 * grid * (1 - grid)
shift = {p: np.log(np.trapezoid(dens * np.exp(b * (grid - 0.5)), grid)) + s * s / 2 for p, (b, s) in pols.items()}
with open(f"{out}/logged.jsonl", "w") as f:
    for i in range(n):
        s = rng.beta(2, 2); mu = np.clip(s * s, 1e-6, 1 - 1e-6); y = rng.beta(10 * mu, 10 * (1 - mu))
        base = -float(rng.uniform(50, 150))
        tl = {p: base + (0.0 if b == 0 and sg == 0 else b * (s - 0.5) + sg * rng.normal() - shift[p]) for p, (b, sg) in pols.items()}
        row = {"prompt_id": f"q{i}", "prompt": "p", "response": "r", "base_policy_logprob": base,
               "target_policy_logprobs": tl, "judge_score": float(s)}
        if rng.uniform() < 0.1:
            row["oracle_label"] = float(y)
        f.write(json.dumps(row) + "\n")
for p, (b, _) in pols.items():
    with open(f"{out}/fresh/{p}_responses.jsonl", "w") as f:
        for i in range(n):
            while True:
                s = rng.beta(2, 2)
                if rng.uniform() < np.exp(b * s - max(b, 0)):
                    break
            f.write(json.dumps({"prompt_id": f"q{i}", "judge_score": float(s)}) + "\n")
if len(sys.argv) > 2 and sys.argv[2] == "--no-reference":
    sys.exit(0)
from cje import analyze_dataset
for est in ["calibrated-ips", "dr-cpo", "tmle", "stacked-dr"]:
    kw = {} if est == "calibrated-ips" else {"fresh_draws_dir": f"{out}/fresh"}
    t = time.time()
    r = analyze_dataset(f"{out}/logged.jsonl", estimator=est, verbose=False, **kw)
    print(f"{est}: {time.time() - t:.2f} s", [round(float(e), 4) for e in r.estimates])
