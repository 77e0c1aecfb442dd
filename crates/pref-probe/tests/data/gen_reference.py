"""Reference numbers for pref-probe's tests (sklearn 1.9.1, numpy 2.4).

Run from this directory: `python3 gen_reference.py`. Writes the small .npy
inputs (case_*) and reference.json, which tests/ridge_reference.rs and
bins/pref/tests/probe_cli.rs read. Every number in reference.json comes from
sklearn / numpy below; nothing is typed by hand.
"""
import json

import numpy as np
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ALPHAS = [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]
rng = np.random.default_rng(20261123)


def make_case(name, n, d, n_test, dtype, targets=1, scale=1.0):
    # Features with unequal scales and a non-zero mean, so centring and
    # standardisation both matter.
    col_scale = np.exp(rng.normal(0, 0.7, d))
    X = (rng.standard_normal((n, d)) * col_scale + rng.normal(0, 2, d)) * scale
    X = X.astype(dtype)
    W = rng.standard_normal((d, targets)) / np.sqrt(d)
    Y = X.astype(np.float64) @ W + 0.5 * rng.standard_normal((n, targets)) + 3.0
    perm = rng.permutation(n)
    test_idx, train_idx = np.sort(perm[:n_test]), perm[n_test:]
    np.save(f"{name}_x.npy", X)
    np.save(f"{name}_y.npy", Y[:, 0] if targets == 1 else Y)
    np.save(f"{name}_train.npy", train_idx.astype(np.int64))
    np.save(f"{name}_test.npy", test_idx.astype(np.int64))
    return X, (Y[:, 0] if targets == 1 else Y), train_idx, test_idx


def per_alpha(Xtr, ytr, Xte, yte, fit_intercept=True, standardize=False):
    rows = []
    for a in ALPHAS:
        if standardize:
            m = make_pipeline(StandardScaler(), Ridge(alpha=a)).fit(Xtr, ytr)
            sc, r = m[0], m[1]
            coef = (r.coef_ / sc.scale_).tolist()
            intercept = float(np.ravel(r.intercept_ - (r.coef_ / sc.scale_) @ sc.mean_)[0]) \
                if np.ndim(ytr) == 1 else (r.intercept_ - (r.coef_ / sc.scale_) @ sc.mean_).tolist()
        else:
            m = Ridge(alpha=a, fit_intercept=fit_intercept).fit(Xtr, ytr)
            coef, intercept = m.coef_.tolist(), (np.asarray(m.intercept_).tolist())
        pred = m.predict(Xte)
        rows.append({
            "alpha": a,
            "coef": coef,
            "intercept": intercept,
            "test_r2": r2_score(yte, pred, multioutput="raw_values").tolist(),
            "test_mse": mean_squared_error(yte, pred, multioutput="raw_values").tolist(),
        })
    return rows


def loo(Xtr, ytr, fit_intercept=True):
    cv = RidgeCV(alphas=ALPHAS, fit_intercept=fit_intercept, store_cv_results=True).fit(Xtr, ytr)
    res = cv.cv_results_  # (n, alphas) or (n, targets, alphas): squared LOO errors
    mse = res.mean(axis=0)
    mse = mse.T.tolist() if mse.ndim == 2 else [[v] for v in mse.tolist()]  # [alpha][target]
    return {"cv_mse": mse, "alpha": float(cv.alpha_)}


def explicit_loo(Xtr, ytr, alpha):
    errs = []
    for i in range(len(ytr)):
        keep = np.arange(len(ytr)) != i
        m = Ridge(alpha=alpha).fit(Xtr[keep], ytr[keep])
        errs.append((m.predict(Xtr[i:i + 1])[0] - ytr[i]) ** 2)
    return float(np.mean(errs))


def kfold(Xtr, ytr, k):
    r2, mse = [], []
    for a in ALPHAS:
        r2.append(float(cross_val_score(Ridge(alpha=a), Xtr, ytr, cv=KFold(k), scoring="r2").mean()))
        mse.append(float(-cross_val_score(Ridge(alpha=a), Xtr, ytr, cv=KFold(k),
                                          scoring="neg_mean_squared_error").mean()))
    return {"cv_r2": r2, "cv_mse": mse, "best_alpha": ALPHAS[int(np.argmax(r2))]}


ref = {"alphas": ALPHAS}
cases = {
    "wide_f64": make_case("wide_f64", 40, 60, 10, np.float64),
    "tall_f64": make_case("tall_f64", 100, 12, 20, np.float64),
    "wide_f32": make_case("wide_f32", 40, 60, 10, np.float32),
    "tall_f32": make_case("tall_f32", 100, 12, 20, np.float32),
    "multi_f64": make_case("multi_f64", 50, 30, 10, np.float64, targets=3),
}
for name, (X, y, tr, te) in cases.items():
    X64 = X.astype(np.float64)  # sklearn computes in float32 for float32 X
    Xtr, ytr, Xte, yte = X64[tr], y[tr], X64[te], y[te]
    c = {
        "per_alpha": per_alpha(Xtr, ytr, Xte, yte),
        "loo": loo(Xtr, ytr),
    }
    if name != "multi_f64":
        c["explicit_loo_mse"] = [explicit_loo(Xtr, ytr, a) for a in ALPHAS]
        c["kfold5"] = kfold(Xtr, ytr, 5)
        c["standardized"] = {"per_alpha": per_alpha(Xtr, ytr, Xte, yte, standardize=True),
                             "loo": loo(StandardScaler().fit_transform(Xtr), ytr)}
        c["no_intercept"] = {"per_alpha": per_alpha(Xtr, ytr, Xte, yte, fit_intercept=False),
                             "loo": loo(Xtr, ytr, fit_intercept=False)}
        # Shuffled-label baseline with a fixed permutation of the training rows.
        perm = rng.permutation(len(tr))
        np.save(f"{name}_perm.npy", perm.astype(np.int64))
        cvs = RidgeCV(alphas=ALPHAS).fit(Xtr, ytr[perm])
        p = cvs.predict(Xte)
        c["shuffled"] = {"best_alpha": float(cvs.alpha_), "test_r2": r2_score(yte, p),
                         "test_mse": mean_squared_error(yte, p)}
    if X.dtype == np.float32:
        # sklearn's own float32 computation, for a loose comparison.
        c["sklearn_f32_test_r2"] = [
            r2_score(yte, Ridge(alpha=a).fit(X[tr], ytr).predict(X[te])) for a in ALPHAS]
    ref[name] = c

with open("reference.json", "w") as f:
    json.dump(ref, f, indent=1)
