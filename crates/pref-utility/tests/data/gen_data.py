"""Writes the small simulated data sets of pref-utility's tests (numpy 2.4.6).

sim_train.jsonl / sim_test.jsonl: 30 items, mu ~ N(0, 1), sigma^2 = exp(N(-1, 0.5^2)),
160 training pairs and 60 disjoint test pairs, 10 draws each (binomial), some
pairs written in the flipped orientation and one training pair as {a, b, p_a, n}.
comparisons.jsonl: Comparison records with both orders, flipped orientations,
ties and unparseable answers.
"""
import json
import numpy as np
from scipy.special import ndtr

rng = np.random.default_rng(20240611)
n = 30
mu = rng.normal(size=n)
s2 = np.exp(rng.normal(-1.0, 0.5, size=n))
pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
order = rng.permutation(len(pairs))
chosen = [pairs[k] for k in order[:220]]
rows = []
for (i, j) in chosen:
    p = ndtr((mu[i] - mu[j]) / np.sqrt(s2[i] + s2[j]))
    ca = int(rng.binomial(10, p))
    if rng.random() < 0.3:
        rows.append({"a": f"o{j:02d}", "b": f"o{i:02d}", "count_a": 10 - ca, "count_b": ca})
    else:
        rows.append({"a": f"o{i:02d}", "b": f"o{j:02d}", "count_a": ca, "count_b": 10 - ca})
train, test = rows[:160], rows[160:]
r = train[5]
train[5] = {"a": r["a"], "b": r["b"], "p_a": r["count_a"] / 10, "n": 10}
with open("sim_train.jsonl", "w") as f:
    for k, r in enumerate(train):
        f.write(json.dumps(r) + "\n")
        if k == 40:
            f.write("\n")  # a blank line: line numbers must still be right
with open("sim_test.jsonl", "w") as f:
    for r in test:
        f.write(json.dumps(r) + "\n")
np.savetxt("sim_truth.txt", np.c_[mu, s2], header="mu sigma2 (item o00..o29)")

# Comparisons: 6 items, random pairs in random orientation, both orders, ties and nulls.
crow = []
items = [f"t{i}" for i in range(6)]
for _ in range(120):
    i, j = rng.choice(6, size=2, replace=False)
    order_ = "ab" if rng.random() < 0.5 else "ba"
    u = rng.random()
    choice = "a" if u < 0.45 else "b" if u < 0.8 else "tie" if u < 0.9 else None
    crow.append({"a": items[i], "b": items[j], "order": order_, "choice": choice,
                 "raw": "x", "model": "m", "template": "t", "sample": 0})
with open("comparisons.jsonl", "w") as f:
    for r in crow:
        f.write(json.dumps(r) + "\n")
