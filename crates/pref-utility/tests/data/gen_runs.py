"""Writes runs.json for the robustness tests (numpy 2.4.6): 8 elicitation runs over
40 outcomes with three template factors. Run utilities = shared base + a per-level
perturbation for each factor + noise, so runs that share factor levels agree more.
Each run misses a few outcomes (correlations use the shared ones)."""
import json
import numpy as np

rng = np.random.default_rng(77)
n = 40
base = rng.normal(size=n)
levels = {"order": ["ab", "ba"], "format": ["plain", "xml", "tool"], "lang": ["en", "de"]}
effects = {f: {l: rng.normal(scale=s, size=n) for l in ls}
           for (f, ls), s in zip(levels.items(), [0.6, 0.3, 0.1])}
runs = []
for r in range(8):
    fac = {"order": levels["order"][r % 2], "format": levels["format"][r % 3],
           "lang": levels["lang"][(r // 4) % 2]}
    u = base + sum(effects[f][l] for f, l in fac.items()) + rng.normal(scale=0.2, size=n)
    keep = rng.random(n) > 0.1
    runs.append({"name": f"run{r}", "factors": fac,
                 "utilities": {f"o{i:02d}": float(u[i]) for i in range(n) if keep[i]}})
json.dump(runs, open("runs.json", "w"), indent=1)
