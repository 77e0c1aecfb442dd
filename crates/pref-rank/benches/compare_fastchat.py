"""Reference timings of FastChat / LMArena's rating code on the data shape of benches/rank.rs.

pip install numpy scipy pandas; python3 crates/pref-rank/benches/compare_fastchat.py [--boot 20]

Same shape as the criterion bench: 1,000,000 battles among 200 models, strengths evenly
spread over [-2, 2], 10 % ties, otherwise a Bradley-Terry draw (numpy's generator, so
not the same draws). Times, single process as FastChat runs by default:
  - loading the JSONL battles with pandas.read_json(lines=True) (FastChat loads a
    pandas DataFrame of battles);
  - compute_elo: the online Elo loop of fastchat/serve/monitor/elo_analysis.py;
  - compute_bt: preprocess_for_bt (np.unique over the battle rows) + fit_bt (scipy
    L-BFGS-B on the BT loss, tol 1e-6) as in fastchat/serve/monitor/rating_systems.py;
  - compute_bootstrap_bt: multinomial resampling of the unique (matchup, outcome) rows
    and one fit_bt per replicate (run serially here; FastChat spreads them over a
    process pool).
The functions below restate those FastChat functions (same algorithm and calls).
"""
import argparse, json, math, os, tempfile, time
from collections import defaultdict

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

N, K = 1_000_000, 200


def make(path):
    rng = np.random.default_rng(2024)
    theta = np.linspace(-2, 2, K)
    a = rng.integers(0, K, N)
    b = (a + 1 + rng.integers(0, K - 1, N)) % K
    tie = rng.random(N) < 0.1
    awin = rng.random(N) < expit(theta[a] - theta[b])
    names = [f"model-{i:03d}-{1 + i % 70}b-chat-v{i % 4}" for i in range(K)]
    w = np.where(tie, "tie", np.where(awin, "model_a", "model_b"))
    with open(path, "w") as f:
        for x, y, z in zip(a, b, w):
            f.write(json.dumps({"model_a": names[x], "model_b": names[y], "winner": z}) + "\n")


def compute_elo(battles, K=4, SCALE=400, BASE=10, INIT_RATING=1000):
    rating = defaultdict(lambda: INIT_RATING)
    for rd, model_a, model_b, winner in battles[["model_a", "model_b", "winner"]].itertuples():
        ra = rating[model_a]
        rb = rating[model_b]
        ea = 1 / (1 + BASE ** ((rb - ra) / SCALE))
        eb = 1 / (1 + BASE ** ((ra - rb) / SCALE))
        if winner == "model_a":
            sa = 1
        elif winner == "model_b":
            sa = 0
        elif winner == "tie" or winner == "tie (bothbad)":
            sa = 0.5
        else:
            raise Exception(f"unexpected vote {winner}")
        rating[model_a] += K * (sa - ea)
        rating[model_b] += K * (1 - sa - eb)
    return dict(rating)


def preprocess_for_bt(df):
    n_rows = len(df)
    schedule = np.full((n_rows, 3), fill_value=1, dtype=np.int32)
    models = pd.unique(df[["model_a", "model_b"]].values.ravel()).tolist()
    idx = {m: i for i, m in enumerate(models)}
    schedule[:, 0] = df["model_a"].map(idx).to_numpy()
    schedule[:, 1] = df["model_b"].map(idx).to_numpy()
    schedule[df["winner"] == "model_a", 2] = 2
    schedule[df["winner"] == "model_b", 2] = 0
    matchups_outcomes, weights = np.unique(schedule, return_counts=True, axis=0)
    matchups = matchups_outcomes[:, [0, 1]]
    outcomes = matchups_outcomes[:, 2].astype(np.float64) / 2.0
    return matchups, outcomes, models, weights.astype(np.float64)


def bt_loss_and_grad(ratings, matchups, outcomes, weights, alpha=1.0):
    matchup_ratings = ratings[matchups]
    logits = alpha * (matchup_ratings[:, 0] - matchup_ratings[:, 1])
    probs = expit(logits)
    loss = -((np.log(probs) * outcomes + np.log(1.0 - probs) * (1.0 - outcomes)) * weights).sum()
    matchups_grads = -alpha * (outcomes - probs) * weights
    model_grad = np.zeros_like(ratings)
    np.add.at(model_grad, matchups[:, [0, 1]], matchups_grads[:, None] * np.array([1.0, -1.0]))
    return loss, model_grad


def fit_bt(matchups, outcomes, weights, n_models, alpha, tol=1e-6):
    res = minimize(fun=bt_loss_and_grad, x0=np.zeros(n_models), args=(matchups, outcomes, weights, alpha),
                   jac=True, method="L-BFGS-B", options={"disp": False, "maxiter": 100, "gtol": tol})
    return res["x"]


def compute_bt(df, base=10.0, scale=400.0, init_rating=1000, tol=1e-6):
    matchups, outcomes, models, weights = preprocess_for_bt(df)
    ratings = fit_bt(matchups, outcomes, weights, len(models), math.log(base), tol)
    return scale * ratings + init_rating


def compute_bootstrap_bt(df, num_round, base=10.0, scale=400.0, init_rating=1000, tol=1e-6):
    matchups, outcomes, models, weights = preprocess_for_bt(df)
    rng = np.random.default_rng(seed=0)
    idxs = rng.multinomial(n=len(df), pvals=weights / weights.sum(), size=(num_round))
    boot_weights = idxs.astype(np.float64) / len(df)
    results = [fit_bt(matchups, outcomes, w, len(models), math.log(base), tol) for w in boot_weights]
    return scale * np.array(results) + init_rating


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--boot", type=int, default=20)
    args = ap.parse_args()
    d = tempfile.mkdtemp()
    path = os.path.join(d, "battles.jsonl")
    make(path)
    t = time.perf_counter(); df = pd.read_json(path, lines=True); t_load = time.perf_counter() - t
    t = time.perf_counter(); compute_elo(df); t_elo = time.perf_counter() - t
    t = time.perf_counter(); compute_bt(df); t_bt = time.perf_counter() - t
    t = time.perf_counter(); compute_bootstrap_bt(df, args.boot); t_boot = time.perf_counter() - t
    print(f"load (pandas.read_json)     {t_load:8.2f} s")
    print(f"compute_elo (online loop)   {t_elo:8.2f} s  {N / t_elo / 1e6:6.2f} M battles/s")
    print(f"compute_bt (scipy L-BFGS-B) {t_bt:8.2f} s")
    print(f"bootstrap, {args.boot} replicates    {t_boot:8.2f} s  ({t_boot / args.boot:.3f} s per replicate)")


if __name__ == "__main__":
    main()
