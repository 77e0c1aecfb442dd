"""Independent reference numbers for crates/pref-rank/tests/judges.rs.

Run from the workspace root:  python3 crates/pref-rank/tests/data/judges_reference.py
(numpy, pandas, scipy, scikit-learn). Reads the shared real file
../shared/data/arena_battles/cnn_selfpref_llm_judge_battles.jsonl and the arena-catalog
overall ranking CSV, and prints:
  (1) per judge: the `analyze` point estimates (pandas, written from the definitions),
  (2) a percentile cluster bootstrap of self_preference / first_option_rate (numpy RNG,
      1000 replicates resampling question ids; compared loosely, never seed-for-seed),
  (3) Bradley-Terry ratings (plain MLE) of the authors from all decisions, via sklearn
      LogisticRegression(penalty=None) as FastChat's compute_mle_elo, and self-bias point
      estimates from per-judge fits (star graph: closed form via logit) and fits on the
      other judges' decisions (sklearn), centred on the shared authors,
  (4) Spearman / Kendall (scipy) of the all-judge ratings against the Arena overall CSV.
"""
import json, math, sys
import numpy as np, pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression

SHARED = "../shared/data/arena_battles/"
df = pd.read_json(SHARED + "cnn_selfpref_llm_judge_battles.jsonl", lines=True)
df["winner_name"] = np.where(df.winner == "model_a", df.model_a,
                    np.where(df.winner == "model_b", df.model_b, None))
tie = df.winner.str.startswith("tie")

# (1) point estimates ------------------------------------------------------------
out = {}
for j, g in df.groupby("judge"):
    own = g[(g.model_a == j) | (g.model_b == j)]
    own_score = np.where(own.winner.str.startswith("tie"), 0.5, (own.winner_name == j).astype(float))
    chosen_own = own.winner_name == j
    p_own = np.where(own.winner.str.startswith("tie"), 0.5,
                     np.where(chosen_own, own.choice_prob, 1 - own.choice_prob))
    first = np.where(g.winner.str.startswith("tie"), 0.5, (g.winner == "model_a").astype(float))
    other = np.where(own.model_a == j, own.model_b, own.model_a)
    vs = pd.Series(own_score).groupby(other).mean().to_dict()
    # flips: cell = (question, sorted pair); orientation = whether model_a is the smaller name
    g2 = g.assign(lo=np.minimum(g.model_a, g.model_b), hi=np.maximum(g.model_a, g.model_b),
                  orient=(g.model_a <= g.model_b), w=g.winner_name.fillna("<tie>"))
    flips = []
    for _, c in g2.groupby(["question_id", "lo", "hi"]):
        x = c[c.orient].w.tolist(); y = c[~c.orient].w.tolist()
        if x and y:
            flips.append(sum(a != b for a in x for b in y) / (len(x) * len(y)))
    out[j] = dict(n_decisions=len(g), n_own=len(own), self_preference=float(own_score.mean()),
                  self_preference_prob=float(p_own.mean()), first_option_rate=float(first.mean()),
                  order_flip_rate=float(np.mean(flips)), n_flip_cells=len(flips),
                  win_rate_vs={k: float(v) for k, v in sorted(vs.items())})
print("(1)", json.dumps(out, indent=1))

# (2) cluster bootstrap --------------------------------------------------------------
qs = np.array(sorted(df.question_id.unique())); qi = {q: i for i, q in enumerate(qs)}
df["q"] = df.question_id.map(qi)
rng = np.random.default_rng(12345)
W = np.stack([np.bincount(rng.integers(0, len(qs), len(qs)), minlength=len(qs)) for _ in range(1000)])
boot = {}
for j, g in df.groupby("judge"):
    own = g[(g.model_a == j) | (g.model_b == j)]
    s = (own.winner_name == j).astype(float).to_numpy()
    num = np.bincount(own.q, s, len(qs)); den = np.bincount(own.q, None, len(qs))
    sp = (W @ num) / (W @ den)
    f = (g.winner == "model_a").astype(float).to_numpy()
    fn = np.bincount(g.q, f, len(qs)); fd = np.bincount(g.q, None, len(qs))
    fr = (W @ fn) / (W @ fd)
    boot[j] = dict(self_preference=np.percentile(sp, [2.5, 97.5]).round(5).tolist(),
                   first_option_rate=np.percentile(fr, [2.5, 97.5]).round(5).tolist())
print("(2)", json.dumps(boot))

# (3) Bradley-Terry ---------------------------------------------------------------
def bt(sub):
    """Plain MLE ratings (Elo scale, mean 1000) via unpenalised logistic regression."""
    models = sorted(set(sub.model_a) | set(sub.model_b)); idx = {m: i for i, m in enumerate(models)}
    X = np.zeros((len(sub), len(models)))
    X[np.arange(len(sub)), sub.model_a.map(idx)] = 1.0
    X[np.arange(len(sub)), sub.model_b.map(idx)] = -1.0
    y = (sub.winner == "model_a").astype(int).to_numpy()   # no ties in this file
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-12, max_iter=100000)
    lr.fit(X, y)
    theta = lr.coef_[0] - lr.coef_[0].mean()
    return dict(zip(models, 400 / math.log(10) * theta + 1000))
allr = bt(df)
print("(3) all judges", json.dumps(allr))
C = 400 / math.log(10)
for j, g in df.groupby("judge"):
    # own fit: a star graph around j, so theta_j - theta_x = logit(share of j's wins vs x)
    share = g.assign(o=np.where(g.model_a == j, g.model_b, g.model_a), w=(g.winner_name == j)).groupby("o").w.mean()
    own = {x: -C * math.log(p / (1 - p)) for x, p in share.items()}; own[j] = 0.0
    oth = bt(df[df.judge != j])
    shared = sorted(set(own) & set(oth))
    a = own[j] - np.mean([own[m] for m in shared]) + 1000
    b = oth[j] - np.mean([oth[m] for m in shared]) + 1000
    print("(3) self-bias", j, json.dumps(dict(by_self=a, by_others=b, bias=a - b, shared=shared)))

# (4) against the Arena overall ranking ------------------------------------------------
arena = pd.read_csv(SHARED + "leaderboards/arena-catalog_overall_raw_ranking_20241130.csv")
ref = dict(zip(arena.Model, arena["Elo rating"]))
names = {"gpt4": "gpt-4-1106-preview", "gpt35": "gpt-3.5-turbo-1106", "llama": "llama-2-7b-chat", "claude": "claude-2.1"}
m = [k for k in allr if names.get(k, k) in ref]
x = [allr[k] for k in m]; y = [ref[names[k]] for k in m]
print("(4) matched", m, "missing", [k for k in allr if k not in m], "reference", dict(zip(m, y)))
print("(4) spearman", stats.spearmanr(x, y), "kendall", stats.kendalltau(x, y))
cx = np.array(x) - np.mean(x); cy = np.array(y) - np.mean(y)
print("(4) differences", dict(zip(m, (cx - cy).tolist())))
