"""Python reference timing for `pref_rank::judges::analyze` (README, "Judges and self-preference").

The same computation in vectorised numpy/pandas: per judge, self_preference,
self_preference_prob, first_option_rate, order_flip_rate and win_rate_vs[author], each
with a 95% percentile interval from 1000 cluster-bootstrap replicates over question ids
(weights matrix W: replicates x questions, statistics as (W @ num) / (W @ den)).
Run from the workspace root:  OMP_NUM_THREADS=1 python3 crates/pref-rank/benches/judges_reference.py
"""
import time
import numpy as np, pandas as pd

PATH = "../shared/data/arena_battles/cnn_selfpref_llm_judge_battles.jsonl"
B = 1000


def analyze(df, B=B, seed=0):
    qs, q = np.unique(df.question_id.to_numpy(), return_inverse=True)
    nq = len(qs)
    rng = np.random.default_rng(seed)
    W = np.zeros((B, nq))
    draws = rng.integers(0, nq, (B, nq))
    np.add.at(W, (np.repeat(np.arange(B), nq), draws.ravel()), 1.0)
    tie = df.winner.str.startswith("tie").to_numpy()
    a_won = (df.winner == "model_a").to_numpy()
    winner = np.where(a_won, df.model_a, np.where(tie, "<tie>", df.model_b))

    def stat(mask, x):
        num = np.bincount(q[mask], x, nq); den = np.bincount(q[mask], None, nq)
        est = num.sum() / den.sum()
        lo, hi = np.nanpercentile((W @ num) / (W @ den), [2.5, 97.5])
        return {"estimate": est, "ci_lower": lo, "ci_upper": hi}

    out = {}
    for j in np.unique(df.judge):
        m = (df.judge == j).to_numpy()
        own = m & ((df.model_a == j) | (df.model_b == j)).to_numpy()
        score = np.where(tie, 0.5, (winner == j).astype(float))
        p = df.choice_prob.to_numpy()
        p_own = np.where(tie, 0.5, np.where(winner == j, p, 1 - p))
        first = np.where(tie, 0.5, a_won.astype(float))
        other = np.where(df.model_a == j, df.model_b, df.model_a)
        # flips: one row per (question, pair, orientation); both orientations -> compare
        g = pd.DataFrame({"q": q[m], "lo": np.minimum(df.model_a[m], df.model_b[m]),
                          "hi": np.maximum(df.model_a[m], df.model_b[m]),
                          "o": (df.model_a[m] <= df.model_b[m]).to_numpy(), "w": winner[m]})
        wide = g.pivot_table(index=["q", "lo", "hi"], columns="o", values="w", aggfunc="first").dropna()
        fq = wide.index.get_level_values("q").to_numpy()
        fl = (wide[True] != wide[False]).to_numpy().astype(float)
        fnum = np.bincount(fq, fl, nq); fden = np.bincount(fq, None, nq)
        flo, fhi = np.nanpercentile((W @ fnum) / (W @ fden), [2.5, 97.5])
        out[j] = {
            "n_decisions": int(m.sum()), "n_own": int(own.sum()),
            "self_preference": stat(own, score[own]),
            "self_preference_prob": stat(own, p_own[own]),
            "first_option_rate": stat(m, first[m]),
            "order_flip_rate": fnum.sum() / fden.sum(), "order_flip": (flo, fhi),
            "win_rate_vs": {o: stat(own & (other == o), score[own & (other == o)]) for o in np.unique(other[own])},
        }
    return out


t0 = time.perf_counter(); df = pd.read_json(PATH, lines=True); t_load = time.perf_counter() - t0
res = analyze(df)
print({j: (round(r["self_preference"]["estimate"], 6), round(r["order_flip_rate"], 6)) for j, r in res.items()})
times = []
for _ in range(10):
    t0 = time.perf_counter(); analyze(df); times.append(time.perf_counter() - t0)
print(f"load {t_load*1e3:.1f} ms; analyze (B={B}) median {np.median(times)*1e3:.1f} ms, min {min(times)*1e3:.1f} ms over 10 runs")
