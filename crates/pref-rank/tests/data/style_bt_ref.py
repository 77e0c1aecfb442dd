"""Independent reference numbers for crates/pref-rank/tests/style.rs (System C).

Run from the workspace root (numpy, scipy):

    python3 crates/pref-rank/tests/data/style_bt_ref.py

(1) Simulates a small fixture (seeded numpy): 3 groups (personas), 4 models, 2 style
    features, 240 observations including ties. The raw style counts of both answers
    (length in tokens, number of headers; some header pairs are both 0) are turned into
    arena-rank's relative differences (a - b) / (a + b), a total of 0 replaced by 1, and
    standardised by the column mean and the sample sd (ddof = 1), as arena-rank's
    examples/example_utils.py does. Writes crates/pref-rank/tests/data/style_bt.jsonl:
    one JSON object per line {group, a, b, outcome, features, raw}; `raw` holds the
    counts [len_a, len_b, headers_a, headers_b] and `rel` the unstandardised relative
    differences, so that the Rust test can redo the feature construction.
(2) Fits the System C objective (negative log posterior, a sum over observations)

        L = sum_i [softplus(z_i) - y_i z_i] + tau_t/2 |theta|^2 + tau_d/2 |delta|^2
            + tau_b/2 |beta|^2,
        z_i = (theta_a + delta_ga) - (theta_b + delta_gb) + beta_g . x_i

    written with a dense design matrix X (one row per observation, z = X p), with
    scipy.optimize.minimize(method="L-BFGS-B", jac=True, gtol=1e-12, ftol=1e-15,
    maxiter=10000), then three Newton steps with the analytic Hessian
    H = X' diag(s(1 - s)) X + diag(prior) (s = expit(z)) to remove what is left of the
    gradient (the change they make is printed; it is ~1e-9 or less). Standard errors:
    Sigma = inv(H); theta is reported centred, with covariance C Sigma_tt C,
    C = I - 11'/M. Fitted twice: per-group style coefficients (3 rows) and one shared
    row. Defaults tau_t = 0.01, tau_d = 1, tau_b = 1.
(3) Prints Rust constants to paste into tests/style.rs.
"""
import json
import os

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log1p

HERE = os.path.dirname(os.path.abspath(__file__))
G, M, K, N = 3, 4, 2, 240
TAU_T, TAU_D, TAU_B = 0.01, 1.0, 1.0

# (1) fixture -----------------------------------------------------------------------
rng = np.random.default_rng(20240611)
theta_true = np.array([0.8, 0.2, -0.3, -0.7])
delta_true = rng.normal(0.0, 0.5, size=(G, M))
beta_true = np.array([[0.6, -0.2], [0.1, 0.4], [-0.3, 0.0]])
group = rng.integers(0, G, size=N)
a = rng.integers(0, M, size=N)
b = (a + 1 + rng.integers(0, M - 1, size=N)) % M
len_a = rng.integers(50, 800, size=N).astype(float)
len_b = rng.integers(50, 800, size=N).astype(float)
hdr_a = rng.poisson(0.8, size=N).astype(float)
hdr_b = rng.poisson(0.8, size=N).astype(float)


def rel(x, y):
    total = x + y
    total = np.where(total == 0, 1.0, total)
    return (x - y) / total


raw_rel = np.column_stack([rel(len_a, len_b), rel(hdr_a, hdr_b)])
feat = (raw_rel - raw_rel.mean(axis=0)) / raw_rel.std(axis=0, ddof=1)
z_true = (theta_true[a] + delta_true[group, a] - theta_true[b] - delta_true[group, b]
          + np.einsum("ik,ik->i", beta_true[group], feat))
u = rng.random(N)
tie = rng.random(N) < 0.1
y = np.where(tie, 0.5, (u < expit(z_true)).astype(float))

with open(os.path.join(HERE, "style_bt.jsonl"), "w") as f:
    for i in range(N):
        f.write(json.dumps({
            "group": int(group[i]), "a": int(a[i]), "b": int(b[i]), "outcome": float(y[i]),
            "features": [float(v) for v in feat[i]],
            "raw": [float(len_a[i]), float(len_b[i]), float(hdr_a[i]), float(hdr_b[i])],
            "rel": [float(v) for v in raw_rel[i]],
        }) + "\n")


# (2) fit ---------------------------------------------------------------------------
def design(per_group):
    S = G if per_group else 1
    P = M + G * M + S * K
    X = np.zeros((N, P))
    r = np.arange(N)
    X[r, a] += 1.0
    X[r, b] -= 1.0
    X[r, M + group * M + a] += 1.0
    X[r, M + group * M + b] -= 1.0
    s = group if per_group else np.zeros(N, dtype=int)
    for k in range(K):
        X[r, M + G * M + s * K + k] = feat[:, k]
    prior = np.concatenate([np.full(M, TAU_T), np.full(G * M, TAU_D), np.full(S * K, TAU_B)])
    return X, prior, S


def fit(per_group):
    X, prior, S = design(per_group)
    P = X.shape[1]

    def fg(p):
        z = X @ p
        sp = np.maximum(z, 0) + log1p(np.exp(-np.abs(z)))
        f = np.sum(sp - y * z) + 0.5 * np.sum(prior * p * p)
        g = X.T @ (expit(z) - y) + prior * p
        return f, g

    def hess(p):
        s = expit(X @ p)
        return X.T @ ((s * (1 - s))[:, None] * X) + np.diag(prior)

    res = minimize(fg, np.zeros(P), method="L-BFGS-B", jac=True,
                   options=dict(gtol=1e-12, ftol=1e-15, maxiter=10000))
    p = res.x.copy()
    g_lbfgs = np.abs(fg(p)[1]).max()
    for _ in range(3):
        p = p - np.linalg.solve(hess(p), fg(p)[1])
    f, g = fg(p)
    sigma = np.linalg.inv(hess(p))
    C = np.eye(M) - np.ones((M, M)) / M
    cov_t = C @ sigma[:M, :M] @ C.T
    theta = p[:M] - p[:M].mean()
    out = dict(
        strength=theta, strength_se=np.sqrt(np.diag(cov_t)),
        offsets=p[M:M + G * M].reshape(G, M),
        offset_se=np.sqrt(np.diag(sigma)[M:M + G * M]).reshape(G, M),
        style=p[M + G * M:].reshape(S, K),
        style_se=np.sqrt(np.diag(sigma)[M + G * M:]).reshape(S, K),
        objective=f,
    )
    info = (f"// per_group_style = {per_group}: L-BFGS-B nit = {res.nit}, "
            f"|grad|_inf after L-BFGS-B = {g_lbfgs:.2e}, after Newton = {np.abs(g).max():.2e}, "
            f"Newton moved the estimates by {np.abs(p - res.x).max():.2e}, "
            f"mean theta before centring = {p[:M].mean():.2e}")
    return out, info


def rust(name, v):
    v = np.asarray(v)
    if v.ndim == 0:
        return f"const {name}: f64 = {float(v)!r};"
    if v.ndim == 1:
        return f"const {name}: [f64; {len(v)}] = [{', '.join(repr(float(x)) for x in v)}];"
    rows = ", ".join("[" + ", ".join(repr(float(x)) for x in row) + "]" for row in v)
    return f"const {name}: [[f64; {v.shape[1]}]; {v.shape[0]}] = [{rows}];"


print(f"// fixture: {N} observations, {int(tie.sum())} ties, "
      f"{int(((hdr_a + hdr_b) == 0).sum())} header pairs with total 0")
for per_group, tag in [(True, "PG"), (False, "SH")]:
    out, info = fit(per_group)
    print(info)
    for key in ["strength", "strength_se", "offsets", "offset_se", "style", "style_se",
                "objective"]:
        print(rust(f"{tag}_{key.upper()}", out[key]))
