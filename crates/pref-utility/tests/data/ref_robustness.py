"""Reference values of tests/robustness_reference.rs (numpy 2.4.6, scipy 1.17.1,
statsmodels 0.15.0). Run from tests/data."""
import itertools, json
import numpy as np
import statsmodels.api as sm
from scipy.stats import pearsonr, spearmanr

runs = json.load(open("runs.json"))

def shared(r, s):
    ids = sorted(set(r["utilities"]) & set(s["utilities"]))
    return [r["utilities"][i] for i in ids], [s["utilities"][i] for i in ids]

for method, f in [("pearson", pearsonr), ("spearman", spearmanr)]:
    m = [[float(f(*shared(r, s))[0]) for s in runs] for r in runs]
    print(method, "row 0:", [repr(x) for x in m[0]])
    print(method, "row 5:", [repr(x) for x in m[5]])
print("n_shared 0-1, 2-7:", len(shared(runs[0], runs[1])[0]), len(shared(runs[2], runs[7])[0]))

# Factor regression: y = Spearman(r, s) on match indicators (order, format, lang), r < s.
factors = ["format", "lang", "order"]  # sorted factor names
ys, xs = [], []
for i, j in itertools.combinations(range(len(runs)), 2):
    ys.append(spearmanr(*shared(runs[i], runs[j]))[0])
    xs.append([float(runs[i]["factors"][f] == runs[j]["factors"][f]) for f in factors])
res = sm.OLS(np.array(ys), sm.add_constant(np.array(xs))).fit()
for name, v in [("params", res.params), ("bse", res.bse), ("tvalues", res.tvalues), ("pvalues", res.pvalues)]:
    print(name, [repr(float(x)) for x in v])
print("rsquared", repr(res.rsquared), "rsquared_adj", repr(res.rsquared_adj), "fvalue", repr(res.fvalue),
      "f_pvalue", repr(res.f_pvalue), "df_resid", res.df_resid, "nobs", res.nobs, "scale", repr(res.scale))

# A plain OLS with continuous regressors.
rng = np.random.default_rng(5)
X = rng.normal(size=(12, 2)); y = 0.5 + X @ [1.5, -0.25] + rng.normal(scale=0.3, size=12)
print("X", [[repr(float(v)) for v in row] for row in X]); print("y", [repr(float(v)) for v in y])
res = sm.OLS(y, sm.add_constant(X)).fit()
for name, v in [("params", res.params), ("bse", res.bse), ("tvalues", res.tvalues), ("pvalues", res.pvalues)]:
    print(name, [repr(float(x)) for x in v])
print("rsquared", repr(res.rsquared), "rsquared_adj", repr(res.rsquared_adj), "fvalue", repr(res.fvalue), "f_pvalue", repr(res.f_pvalue))

# Spearman with ties.
a = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0, 0.5]; b = [2.0, 1.0, 4.0, 4.0, 3.0, 6.0, 6.0, 0.0]
print("spearman ties", repr(float(spearmanr(a, b)[0])), "pearson", repr(float(pearsonr(a, b)[0])))
from scipy.stats import rankdata
print("ranks", rankdata(a).tolist())
