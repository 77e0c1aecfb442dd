"""Reference values of tests/counts_reference.rs: aggregation of comparisons.jsonl
and transitivity of sim_train.jsonl and of the aggregated comparisons (pure Python,
brute force over all item triples). Run from tests/data."""
import itertools, json
from collections import defaultdict

# Aggregation: pool both orders and orientations; ties ½ each; null counted apart.
pairs, order, unp, ties = {}, [], defaultdict(int), defaultdict(int)
tot = defaultdict(int)
for line in open("comparisons.jsonl"):
    r = json.loads(line)
    key = frozenset((r["a"], r["b"]))
    if key not in pairs:
        pairs[key] = [r["a"], r["b"], 0.0, 0.0]; order.append(key)
    p = pairs[key]; flipped = p[0] != r["a"]
    tot["n"] += 1
    if r["choice"] is None:
        unp[key] += 1; tot["unparseable"] += 1
    elif r["choice"] == "tie":
        ties[key] += 1; tot["ties"] += 1; p[2] += 0.5; p[3] += 0.5
    else:
        tot["decisive"] += 1
        if (r["choice"] == "a") != flipped: p[2] += 1
        else: p[3] += 1
print("totals", dict(tot), "pairs", len(order))
print("pairs", [(pairs[k][0], pairs[k][1], pairs[k][2], pairs[k][3], unp[k], ties[k]) for k in order])

def load(path):
    out = []
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            ca, cb = (r["p_a"] * r["n"], (1 - r["p_a"]) * r["n"]) if "p_a" in r else (r["count_a"], r["count_b"])
            out.append((r["a"], r["b"], ca, cb))
    return out

def transitivity(rows):
    s = defaultdict(lambda: [0.0, 0.0])
    for a, b, ca, cb in rows:
        s[(a, b)][0] += ca; s[(a, b)][1] += cb
        s[(b, a)][0] += cb; s[(b, a)][1] += ca
    P = {k: v[0] / (v[0] + v[1]) for k, v in s.items() if v[0] + v[1] > 0}
    items = sorted({x for k in P for x in k})
    tri = dec = cyc = 0; soft = 0.0
    for i, j, k in itertools.combinations(items, 3):
        if (i, j) in P and (j, k) in P and (k, i) in P:
            pij, pjk, pki = P[(i, j)], P[(j, k)], P[(k, i)]
            tri += 1
            soft += pij * pjk * pki + (1 - pij) * (1 - pjk) * (1 - pki)
            if 0.5 not in (pij, pjk, pki):
                dec += 1
                cyc += (pij > 0.5) == (pjk > 0.5) == (pki > 0.5)
    return dict(n_triads=tri, n_decisive=dec, n_cycles=cyc, soft=repr(soft / tri))

print("sim_train", transitivity(load("sim_train.jsonl")))
print("comparisons", transitivity([(p[0], p[1], p[2], p[3]) for p in pairs.values()]))
