"""sklearn / numpy reference timings for benches/ridge.rs.

python3 benches/reference_ridgecv.py 953 4096 [THREADS]   (BLAS threads, default 1)
Times: RidgeCV(alphas) fit + predict on 200 held-out rows (efficient LOO; for n < d
sklearn uses the eigendecomposition of X Xᵀ), six separate Ridge fits, and the
two steps RidgeCV is built on (X @ X.T and eigh; for n ≥ 3000, X.T @ X and eigh).
Median of 5 runs (one run for n ≥ 3000; RidgeCV then takes its SVD route).
"""
import sys
import time

import numpy as np
from sklearn.linear_model import Ridge, RidgeCV
from threadpoolctl import threadpool_limits

n, d = int(sys.argv[1]), int(sys.argv[2])
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
rng = np.random.default_rng(1)
X = rng.standard_normal((n + 200, d))
y = X[:, :50].sum(axis=1) + rng.standard_normal(n + 200)
Xtr, ytr, Xte = X[:n], y[:n], X[n:]
alphas = [0.1, 1, 10, 100, 1000, 10000]


def med(f, reps=5 if n < 3000 else 1):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


with threadpool_limits(threads):
    print(f"n={n} d={d} BLAS threads={threads}")
    print(f"RidgeCV fit+predict  {med(lambda: RidgeCV(alphas=alphas).fit(Xtr, ytr).predict(Xte)):.3f} s")
    if n < 3000:
        print(f"6 x Ridge fit        {med(lambda: [Ridge(alpha=a).fit(Xtr, ytr) for a in alphas], 3):.3f} s")
        print(f"X @ X.T              {med(lambda: Xtr @ Xtr.T):.3f} s")
        G = Xtr @ Xtr.T
        print(f"eigh(X X^T)          {med(lambda: np.linalg.eigh(G)):.3f} s")
    else:
        print(f"X.T @ X              {med(lambda: Xtr.T @ Xtr):.3f} s")
        G = Xtr.T @ Xtr
        print(f"eigh(X^T X)          {med(lambda: np.linalg.eigh(G)):.3f} s")
