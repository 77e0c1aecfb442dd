"""Reference values of tests/reference.rs (numpy / sklearn, independent of the Rust code).

Writes small_logged.jsonl, small_fresh_a.jsonl, bandit.jsonl and prints the values
pasted into the tests. Run from tests/data: python3 ref_basic.py
"""
import json
import math

import numpy as np
from sklearn.isotonic import IsotonicRegression

rng = np.random.default_rng(3)
n = 40
pid = [f"p{i // 2}" for i in range(n)]          # 20 prompts, 2 rows each
judge = np.round(rng.uniform(0, 1, n), 3)
base = -np.round(rng.uniform(5, 30, n), 4)
ta = base + np.round(rng.normal(0, 1.0, n), 4)
tb = base + np.round(rng.normal(0, 0.3, n), 4)
ta = np.minimum(ta, 0.0); tb = np.minimum(tb, 0.0)
with open("small_logged.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"prompt_id": pid[i], "prompt": "x", "response": "y",
                            "base_policy_logprob": float(base[i]),
                            "target_policy_logprobs": {"a": float(ta[i]), "b": float(tb[i])},
                            "judge_score": float(judge[i])}) + "\n")
# Fresh draws of policy a: 1 or 2 per prompt.
fresh = {}
with open("small_fresh_a.jsonl", "w") as f:
    for c in range(20):
        k = 1 + c % 2
        fresh[f"p{c}"] = np.round(rng.uniform(0, 1, k), 3)
        for s in fresh[f"p{c}"]:
            f.write(json.dumps({"prompt_id": f"p{c}", "judge_score": float(s)}) + "\n")

cl = np.array([int(p[1:]) for p in pid])
def cluster_se(phi):
    G = len(set(cl)); sums = np.bincount(cl, weights=phi)
    return math.sqrt(G / (G - 1) * np.sum(sums ** 2) / n ** 2)

for name, t in [("a", ta), ("b", tb)]:
    l = t - base
    w = np.exp(l); r = judge
    ips = np.mean(w * r); snips = np.sum(w * r) / np.sum(w)
    wn = w / w.mean()
    clipped = np.mean(np.minimum(w, 1.5) * r)
    ess = w.sum() ** 2 / (n * (w ** 2).sum())
    k = max(2, math.ceil(0.05 * n)); ls = np.sort(l)[::-1]
    hill = 1.0 / np.mean(ls[:k] - ls[k])
    print(name, "ips", repr(ips), "se", repr(cluster_se(w * r - ips)))
    print(name, "snips", repr(snips), "se", repr(cluster_se(wn * (r - snips))))
    print(name, "clipped(1.5)", repr(clipped), "se", repr(cluster_se(np.minimum(w, 1.5) * r - clipped)))
    print(name, "ess", repr(ess), "hill", repr(hill), "max_w", repr(wn.max()), "share", repr(wn.max() / n))
    if name == "a":
        # Without oracle labels the reward is the judge score and the cross-fitted
        # isotonic outcome model of the reward on the judge is the identity, so
        # DR = mean over rows of the mean fresh judge score of the row's prompt.
        d = np.array([fresh[p].mean() for p in pid])
        print(name, "dr", repr(d.mean()), "se", repr(cluster_se(d - d.mean())))

# PAVA against sklearn: ties in x, weights, both directions, interpolation + clipping.
x = np.array([0.1, 0.2, 0.2, 0.35, 0.5, 0.5, 0.5, 0.7, 0.8, 0.95])
y = np.array([0.3, 0.9, 0.1, 0.2, 0.8, 0.4, 0.5, 0.45, 0.6, 0.55])
sw = np.array([1.0, 2.0, 1.0, 0.5, 1.0, 3.0, 1.0, 2.0, 1.0, 1.0])
q = np.array([0.0, 0.1, 0.15, 0.2, 0.3, 0.5, 0.6, 0.75, 0.9, 1.0])
for inc in (True, False):
    ir = IsotonicRegression(increasing=inc, out_of_bounds="clip").fit(x, y, sample_weight=sw)
    print("pava", "inc" if inc else "dec", [repr(v) for v in ir.predict(q)])

# Bandit estimators.
m = 30
reward = np.round(rng.uniform(0, 1, m), 3)
pscore = np.round(rng.uniform(0.1, 0.9, m), 3)
tprob = np.round(rng.uniform(0.0, 1.0, m), 3)
qh = np.round(rng.uniform(0, 1, m), 3)
qt = np.round(rng.uniform(0, 1, m), 3)
with open("bandit.jsonl", "w") as f:
    for i in range(m):
        f.write(json.dumps({"reward": float(reward[i]), "pscore": float(pscore[i]),
                            "target_prob": float(tprob[i]), "q_hat": float(qh[i]),
                            "q_hat_target": float(qt[i])}) + "\n")
w = tprob / pscore
def se(phi): return math.sqrt(np.var(phi, ddof=1) / m)
ipw = np.mean(w * reward)
snipw = np.sum(w * reward) / np.sum(w)
dr_t = qt + w * (reward - qh); dr = dr_t.mean()
c = np.sum(w * (reward - qh)) / np.sum(w); sndr = qt.mean() + c
lam = 2.0
sw_t = qt + np.where(w <= lam, w * (reward - qh), 0.0)
print("bandit ipw", repr(ipw), repr(se(w * reward)))
print("bandit snipw", repr(snipw), repr(se(w * (reward - snipw) / w.mean())))
print("bandit dr", repr(dr), repr(se(dr_t)))
print("bandit sndr", repr(sndr), repr(se((qt - qt.mean()) + w * (reward - qh - c) / w.mean())))
print("bandit switch-dr(2)", repr(sw_t.mean()), repr(se(sw_t)))

# DR and TMLE restated with sklearn, policy a, no oracle labels (reward = judge),
# the crate's fold assignment ported: prompts sorted by a seeded FNV-1a/splitmix64
# hash, dealt round-robin to 5 folds; outcome model = isotonic of reward on judge
# fitted on the other folds (out_of_bounds="clip"); weights mean-one.
M = (1 << 64) - 1
def splitmix(z):
    z = (z + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
def fnv(s, seed):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & M
    return splitmix(h ^ splitmix(seed))
prompts = [f"p{c}" for c in range(20)]
order = sorted(prompts, key=lambda p: (fnv(p, 42), p))
fold_of = {p: i % 5 for i, p in enumerate(order)}
fold = np.array([fold_of[p] for p in pid])
r = judge; w = np.exp(ta - base); wn = w / w.mean()
g = np.zeros(n); direct = {}
for k in range(5):
    tr = fold != k
    ir = IsotonicRegression(out_of_bounds="clip").fit(judge[tr], r[tr])
    g[~tr] = ir.predict(judge[~tr])
    for p in prompts:
        if fold_of[p] == k:
            direct[p] = ir.predict(fresh[p])
d = np.array([direct[p].mean() for p in pid])
t = d + wn * (r - g)
print("a dr(sklearn)", repr(t.mean()), "se", repr(cluster_se(t - t.mean())))
# The calibrated direct estimate is DR's direct term alone.
print("a direct(sklearn)", repr(d.mean()), "se", repr(cluster_se(d - d.mean())))
from scipy.optimize import brentq
lg = lambda p: np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6)))
sig = lambda x: 1 / (1 + np.exp(-x))
eps = brentq(lambda e: np.sum(wn * (r - sig(lg(g) + e))), -30, 30, xtol=1e-14)
d2 = np.array([sig(lg(direct[p]) + eps).mean() for p in pid])
t2 = d2 + wn * (r - sig(lg(g) + eps))
print("a tmle(sklearn)", repr(t2.mean()), "se", repr(cluster_se(t2 - t2.mean())), "eps", repr(eps))
