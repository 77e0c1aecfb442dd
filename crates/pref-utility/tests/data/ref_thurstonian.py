import json, sys
import numpy as np
from scipy.special import log_ndtr, ndtr
from scipy.optimize import minimize, check_grad

def load(path):
    out = []
    for line in open(path):
        if not line.strip():
            continue
        r = json.loads(line)
        if "p_a" in r:
            ca, cb = r["p_a"] * r["n"], (1 - r["p_a"]) * r["n"]
        else:
            ca, cb = r["count_a"], r["count_b"]
        out.append((r["a"], r["b"], float(ca), float(cb)))
    return out

def fit(rows, mu_sd=5.0, s_sd=1.0, weighting="counts"):
    items = list(dict.fromkeys(x for r in rows for x in r[:2]))
    ix = {k: i for i, k in enumerate(items)}
    a = np.array([ix[r[0]] for r in rows]); b = np.array([ix[r[1]] for r in rows])
    ca = np.array([r[2] for r in rows]); cb = np.array([r[3] for r in rows])
    if weighting == "per-pair":
        nn = ca + cb; ca, cb = ca / nn, cb / nn
    W = (ca + cb).sum(); n = len(items)
    pm = 1 / mu_sd**2 if mu_sd else 0.0
    ps = 1 / s_sd**2 if s_sd else 0.0
    def total(th):  # summed negative log-posterior
        mu, s = th[0::2], th[1::2]
        z = (mu[a] - mu[b]) / np.sqrt(np.exp(s[a]) + np.exp(s[b]) + 1e-5)
        return -(ca * log_ndtr(z) + cb * log_ndtr(-z)).sum() + 0.5 * pm * (mu**2).sum() + 0.5 * ps * (s**2).sum()
    def grad_total(th):
        mu, s = th[0::2], th[1::2]
        e = np.exp(s); v = e[a] + e[b] + 1e-5; z = (mu[a] - mu[b]) / np.sqrt(v)
        lpdf = -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
        dz = -ca * np.exp(lpdf - log_ndtr(z)) + cb * np.exp(lpdf - log_ndtr(-z))
        g = np.zeros(2 * n)
        np.add.at(g, 2 * a, dz / np.sqrt(v)); np.add.at(g, 2 * b, -dz / np.sqrt(v))
        dv = dz * (-0.5 * z / v)
        np.add.at(g, 2 * a + 1, dv * e[a]); np.add.at(g, 2 * b + 1, dv * e[b])
        g[0::2] += pm * mu; g[1::2] += ps * s
        return g
    rng = np.random.default_rng(0)
    th0 = rng.normal(size=2 * n) * 0.01
    tp = th0 + rng.normal(size=2 * n)
    assert check_grad(total, grad_total, tp) < 1e-6 * np.linalg.norm(grad_total(tp))
    r = minimize(lambda t: total(t) / W, th0, jac=lambda t: grad_total(t) / W, method="L-BFGS-B",
                 options=dict(maxiter=100000, maxfun=100000, ftol=1e-16, gtol=1e-13))
    th = r.x
    # Newton polish with a finite-difference Hessian of the analytic gradient.
    def hess(th, h=1e-5):
        H = np.zeros((2 * n, 2 * n))
        for k in range(2 * n):
            e = np.zeros(2 * n); e[k] = h
            H[:, k] = (grad_total(th + e) - grad_total(th - e)) / (2 * h)
        return 0.5 * (H + H.T)
    for _ in range(3):
        H = hess(th)
        step = np.linalg.lstsq(H, grad_total(th), rcond=None)[0]
        th = th - step
    g = grad_total(th) / W
    def gauge(mu_raw):
        return (mu_raw - mu_raw.mean()) / mu_raw.std(ddof=1)
    mu_raw, s = th[0::2], th[1::2]
    sd = mu_raw.std(ddof=1)
    mu = gauge(mu_raw); s2 = np.exp(s) / sd**2
    # SEs: delta method through the gauge with a numerical Jacobian.
    H = hess(th)
    Sigma = np.linalg.inv(H)[0::2, 0::2]
    J = np.zeros((n, n))
    for k in range(n):
        e = np.zeros(n); e[k] = 1e-6
        J[:, k] = (gauge(mu_raw + e) - gauge(mu_raw - e)) / 2e-6
    se = np.sqrt(np.diag(J @ Sigma @ J.T))
    return dict(items=items, mu=mu, s2=s2, se=se, obj=total(th) / W, gnorm=np.linalg.norm(g), nit=r.nit)

def evaluate(model, rows):
    ix = {k: i for i, k in enumerate(model["items"])}
    mu, s2 = model["mu"], model["s2"]
    ll = acc = accm = nt = m = 0
    for (x, y, ca, cb) in rows:
        i, j = ix[x], ix[y]
        p = ndtr((mu[i] - mu[j]) / np.sqrt(s2[i] + s2[j] + 1e-5))
        yv = ca / (ca + cb); pc = np.clip(p, 1e-5, 1 - 1e-5)
        ll += -(yv * np.log(pc) + (1 - yv) * np.log(1 - pc))
        acc += (p >= 0.5) == (yv >= 0.5)
        if yv == 0.5: nt += 1
        else: accm += (p >= 0.5) == (yv > 0.5)
        m += 1
    return dict(log_loss=ll / m, accuracy=acc / m, accuracy_majority=accm / (m - nt), n_pairs=m, n_ties=nt)

if __name__ == "__main__":
    np.set_printoptions(precision=17)
    for name, path, kw in [
        ("fixture", "/work/main/fixtures/pair_counts.jsonl", {}),
        ("sim", "/work/main/crates/pref-utility/tests/data/sim_train.jsonl", {}),
        ("sim_perpair", "/work/main/crates/pref-utility/tests/data/sim_train.jsonl", dict(mu_sd=3.0, s_sd=2.0, weighting="per-pair")),
    ]:
        rows = load(path)
        m = fit(rows, **kw)
        print("==", name, kw, "nit", m["nit"], "gnorm", m["gnorm"], "obj", repr(m["obj"]))
        print("items", m["items"])
        print("mu", [repr(float(x)) for x in m["mu"]])
        print("s2", [repr(float(x)) for x in m["s2"]])
        print("se", [repr(float(x)) for x in m["se"]])
        print("train", evaluate(m, rows))
        if name.startswith("sim"):
            print("test", evaluate(m, load("/work/main/crates/pref-utility/tests/data/sim_test.jsonl")))
