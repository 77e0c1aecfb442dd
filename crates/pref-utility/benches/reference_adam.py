"""The reference fit (emergent-values `fit_thurstonian_model`: full-batch Adam,
lr 0.01, 1000 epochs, init N(0, 0.01²), μ normalised inside the loss, mean
binary cross-entropy with soft labels) re-implemented in NumPy (float64, manual
backward pass; PyTorch is not needed), for the held-out comparison in the
README. Usage, after `cargo run --release -p pref-utility --example fit_sim --
500 8000 2000 DIR`:

    python3 benches/reference_adam.py DIR [DIR ...]

Prints the reference's train and held-out log loss / accuracy / majority
accuracy on DIR/train.jsonl and DIR/test.jsonl (numpy 2.4.6, scipy 1.17.1).
"""
import json
import sys
import time

import numpy as np
from scipy.special import ndtr
from scipy.stats import norm


def load(path, ix):
    a, b, ca, cb = [], [], [], []
    for line in open(path):
        r = json.loads(line)
        a.append(ix.setdefault(r["a"], len(ix)))
        b.append(ix.setdefault(r["b"], len(ix)))
        ca.append(r["count_a"])
        cb.append(r["count_b"])
    return np.array(a), np.array(b), np.array(ca, float), np.array(cb, float)


def fit(n, a, b, ca, cb, epochs=1000, lr=0.01, seed=0):
    y = ca / (ca + cb)
    m = len(y)
    rng = np.random.default_rng(seed)
    mu, s = rng.normal(size=n) * 0.01, rng.normal(size=n) * 0.01
    th = np.concatenate([mu, s])
    m1 = np.zeros(2 * n)
    m2 = np.zeros(2 * n)

    def grad(th):
        mu, s = th[:n], th[n:]
        mean = mu.mean()
        std = mu.std(ddof=1)
        sd = std + 1e-5
        mun = (mu - mean) / sd
        c = 1 / (sd + 1e-5)
        es = np.exp(s)
        s2 = es * c * c
        v = s2[a] + s2[b] + 1e-5
        z = (mun[a] - mun[b]) / np.sqrt(v)
        p = ndtr(z)
        # torch's binary_cross_entropy backward: (p − y) / max(p(1 − p), 1e-12)
        dz = (p - y) / np.maximum(p * (1 - p), 1e-12) / m * norm.pdf(z)
        gmun = np.bincount(a, dz / np.sqrt(v), n) - np.bincount(b, dz / np.sqrt(v), n)
        dv = dz * (-0.5 * z / v)
        gs2 = np.bincount(a, dv, n) + np.bincount(b, dv, n)
        gsd = np.sum(gmun * (-(mu - mean) / sd**2)) + np.sum(gs2 * es * (-2 * c**3))
        gmu = (gmun - gmun.mean()) / sd + gsd * (mu - mean) / ((n - 1) * std)
        return np.concatenate([gmu, gs2 * s2])

    for t in range(1, epochs + 1):
        g = grad(th)
        m1 = 0.9 * m1 + 0.1 * g
        m2 = 0.999 * m2 + 0.001 * g * g
        th = th - lr * (m1 / (1 - 0.9**t)) / (np.sqrt(m2 / (1 - 0.999**t)) + 1e-8)
    mu, s = th[:n], th[n:]
    sd = mu.std(ddof=1) + 1e-5
    return (mu - mu.mean()) / sd, np.exp(s) / (sd + 1e-5) ** 2


def metrics(mu, s2, a, b, ca, cb):
    y = ca / (ca + cb)
    p = ndtr((mu[a] - mu[b]) / np.sqrt(s2[a] + s2[b] + 1e-5))
    pc = np.clip(p, 1e-5, 1 - 1e-5)
    ll = -np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))
    acc = np.mean((p >= 0.5) == (y >= 0.5))
    keep = y != 0.5
    return round(float(ll), 4), round(float(acc), 4), round(float(np.mean(((p >= 0.5) == (y > 0.5))[keep])), 4)


for d in sys.argv[1:]:
    ix = {}
    tr = load(f"{d}/train.jsonl", ix)
    te = load(f"{d}/test.jsonl", ix)
    t0 = time.time()
    mu, s2 = fit(len(ix), *tr)
    print(d, f"numpy Adam {time.time() - t0:.1f} s", "train (log loss, acc, majority acc)",
          metrics(mu, s2, *tr), "test", metrics(mu, s2, *te))
