//! Robustness statistics against SciPy and statsmodels.
//!
//! Data: `tests/data/runs.json` from `tests/data/gen_runs.py`. Reference values:
//! `tests/data/ref_robustness.py`, reproduced verbatim here:

// """Reference values of tests/robustness_reference.rs (numpy 2.4.6, scipy 1.17.1,
// statsmodels 0.15.0). Run from tests/data."""
// import itertools, json
// import numpy as np
// import statsmodels.api as sm
// from scipy.stats import pearsonr, spearmanr
//
// runs = json.load(open("runs.json"))
//
// def shared(r, s):
//     ids = sorted(set(r["utilities"]) & set(s["utilities"]))
//     return [r["utilities"][i] for i in ids], [s["utilities"][i] for i in ids]
//
// for method, f in [("pearson", pearsonr), ("spearman", spearmanr)]:
//     m = [[float(f(*shared(r, s))[0]) for s in runs] for r in runs]
//     print(method, "row 0:", [repr(x) for x in m[0]])
//     print(method, "row 5:", [repr(x) for x in m[5]])
// print("n_shared 0-1, 2-7:", len(shared(runs[0], runs[1])[0]), len(shared(runs[2], runs[7])[0]))
//
// # Factor regression: y = Spearman(r, s) on match indicators (order, format, lang), r < s.
// factors = ["format", "lang", "order"]  # sorted factor names
// ys, xs = [], []
// for i, j in itertools.combinations(range(len(runs)), 2):
//     ys.append(spearmanr(*shared(runs[i], runs[j]))[0])
//     xs.append([float(runs[i]["factors"][f] == runs[j]["factors"][f]) for f in factors])
// res = sm.OLS(np.array(ys), sm.add_constant(np.array(xs))).fit()
// for name, v in [("params", res.params), ("bse", res.bse), ("tvalues", res.tvalues), ("pvalues", res.pvalues)]:
//     print(name, [repr(float(x)) for x in v])
// print("rsquared", repr(res.rsquared), "rsquared_adj", repr(res.rsquared_adj), "fvalue", repr(res.fvalue),
//       "f_pvalue", repr(res.f_pvalue), "df_resid", res.df_resid, "nobs", res.nobs, "scale", repr(res.scale))
//
// # A plain OLS with continuous regressors.
// rng = np.random.default_rng(5)
// X = rng.normal(size=(12, 2)); y = 0.5 + X @ [1.5, -0.25] + rng.normal(scale=0.3, size=12)
// print("X", [[repr(float(v)) for v in row] for row in X]); print("y", [repr(float(v)) for v in y])
// res = sm.OLS(y, sm.add_constant(X)).fit()
// for name, v in [("params", res.params), ("bse", res.bse), ("tvalues", res.tvalues), ("pvalues", res.pvalues)]:
//     print(name, [repr(float(x)) for x in v])
// print("rsquared", repr(res.rsquared), "rsquared_adj", repr(res.rsquared_adj), "fvalue", repr(res.fvalue), "f_pvalue", repr(res.f_pvalue))
//
// # Spearman with ties.
// a = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0, 0.5]; b = [2.0, 1.0, 4.0, 4.0, 3.0, 6.0, 6.0, 0.0]
// print("spearman ties", repr(float(spearmanr(a, b)[0])), "pearson", repr(float(pearsonr(a, b)[0])))
// from scipy.stats import rankdata
// print("ranks", rankdata(a).tolist())

use std::collections::BTreeMap;

use pref_utility::robustness::ranks;
use pref_utility::{
    correlation_matrix, factor_regression, ols, pearson, spearman, CorrelationMethod, UtilityRun,
};

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol * (1.0 + want.abs()),
        "{what}: got {got}, want {want}"
    );
}

fn runs() -> Vec<UtilityRun> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/runs.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| UtilityRun {
            name: r["name"].as_str().unwrap().to_string(),
            utilities: r["utilities"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, u)| (k.clone(), u.as_f64().unwrap()))
                .collect(),
            factors: r["factors"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, u)| (k.clone(), u.as_str().unwrap().to_string()))
                .collect::<BTreeMap<_, _>>(),
        })
        .collect()
}

#[test]
fn correlation_matrices_match_scipy() {
    let runs = runs();
    // pearson row 0 / row 5, spearman row 0 / row 5 (printed by the script).
    let pearson0 = [
        1.0,
        0.7115941701661732,
        0.920447750340773,
        0.8581146915177523,
        0.8839025636255177,
        0.6911888732037004,
        0.9664309696772909,
        0.7279413649812196,
    ];
    let pearson5 = [
        0.6911888732037004,
        0.9576319823693114,
        0.6993215219951275,
        0.9326689258091065,
        0.6316275093223459,
        1.0,
        0.6409328763603649,
        0.9560236904445889,
    ];
    let spearman0 = [
        0.9999999999999999,
        0.6861726508785332,
        0.9225225225225225,
        0.8366946778711486,
        0.8765469824293353,
        0.6627565982404692,
        0.948529411764706,
        0.7200916730328494,
    ];
    let spearman5 = [
        0.6627565982404692,
        0.939149560117302,
        0.6583651642475172,
        0.9211876832844573,
        0.6358870967741936,
        1.0,
        0.6004398826979471,
        0.9318181818181818,
    ];
    let p = correlation_matrix(&runs, CorrelationMethod::Pearson);
    let s = correlation_matrix(&runs, CorrelationMethod::Spearman);
    for j in 0..8 {
        close(p.values[0][j], pearson0[j], 1e-12, "pearson row 0");
        close(p.values[5][j], pearson5[j], 1e-12, "pearson row 5");
        close(s.values[0][j], spearman0[j], 1e-12, "spearman row 0");
        close(s.values[5][j], spearman5[j], 1e-12, "spearman row 5");
        assert_eq!(p.values[j][5], p.values[5][j]);
    }
    // n_shared 0-1, 2-7: 34 36
    assert_eq!((p.n_shared[0][1], p.n_shared[2][7]), (34, 36));
    assert_eq!(p.runs[3], "run3");
}

#[test]
fn factor_regression_matches_statsmodels() {
    let runs = runs();
    let fr = factor_regression(&runs, CorrelationMethod::Spearman, 2).unwrap();
    let f = &fr.fit;
    assert_eq!(f.names, ["const", "format", "lang", "order"]);
    assert!(fr.constant.is_empty() && fr.aliased.is_empty());
    assert_eq!(f.rank, 4);
    assert_eq!((f.n, f.df_resid, fr.n_skipped), (28, 24, 0));
    let params = [
        0.6647363955050537,
        0.058232230422598466,
        0.02289625318255613,
        0.23036838163725093,
    ];
    let bse = [
        0.01787562645948633,
        0.022171985835182192,
        0.01940048760578442,
        0.019400487605784406,
    ];
    let tvalues = [
        37.18674682599937,
        2.626387679275728,
        1.1801895729532805,
        11.874360393321496,
    ];
    let pvalues = [
        9.869718482223587e-23,
        0.014793344349796454,
        0.24949051619317156,
        1.5536609640791387e-11,
    ];
    for j in 0..4 {
        close(f.coef[j], params[j], 1e-10, "coef");
        close(f.se[j], bse[j], 1e-10, "se");
        close(f.t[j], tvalues[j], 1e-9, "t");
        assert!(
            (f.p[j] - pvalues[j]).abs() <= 1e-8 * pvalues[j] + 1e-15,
            "p[{j}] = {} vs {}",
            f.p[j],
            pvalues[j]
        );
    }
    // rsquared 0.8560328896204901 rsquared_adj 0.8380370008230513 fvalue 47.568247351157474
    // f_pvalue 2.974679666392395e-10 scale 0.0024088250837900464
    close(f.r2, 0.8560328896204901, 1e-12, "r2");
    close(f.adj_r2, 0.8380370008230513, 1e-12, "adj_r2");
    close(f.f_stat, 47.568247351157474, 1e-9, "F");
    close(f.f_p, 2.974679666392395e-10, 1e-7, "F p");
    close(f.sigma * f.sigma, 0.0024088250837900464, 1e-10, "scale");
}

#[test]
fn plain_ols_matches_statsmodels() {
    let x = [
        [-0.8019314252534474, -1.324358995628145],
        [-0.24836162209524854, 0.4204452380655215],
        [1.1360465324896427, 0.10970639932180819],
        [-0.5526473205362324, -0.7847803553442784],
        [0.7487457707345911, 1.6347830429585775],
        [0.27276877584472176, -1.2333286640307717],
        [-0.9582652054360887, 1.6000190889991115],
        [0.2028824405086084, -1.7321348424395848],
        [-0.08369619281702581, -1.1632259734447485],
        [-0.6292880940615545, -0.48800582327685743],
        [-0.7133133716322436, 0.5533784703532895],
        [-0.06308597192528916, -0.5894312580326048],
    ];
    let y = [
        -0.24891604100599973,
        0.27130284945914396,
        1.6837361874823087,
        -0.2097949298779273,
        0.9201986885490387,
        1.1655387623161657,
        -1.7242282044300685,
        1.243564489584086,
        0.653896481822428,
        -0.4132320105606641,
        -1.0226926265727616,
        0.4338717574782896,
    ];
    let rows: Vec<Vec<f64>> = x.iter().map(|r| r.to_vec()).collect();
    let f = ols(&["x1".into(), "x2".into()], &rows, &y).unwrap();
    let params = [0.33766141607351124, 1.4037101666789171, -0.3582939126303691];
    let bse = [
        0.05549479249880295,
        0.08555701916342169,
        0.04923515601248969,
    ];
    let tvalues = [6.084560386108206, 16.406721276692718, -7.2771966547537525];
    let pvalues = [
        0.00018263691196778844,
        5.166903155749784e-08,
        4.677561963590832e-05,
    ];
    for j in 0..3 {
        close(f.coef[j], params[j], 1e-12, "coef");
        close(f.se[j], bse[j], 1e-11, "se");
        close(f.t[j], tvalues[j], 1e-10, "t");
        close(f.p[j], pvalues[j], 1e-8, "p");
    }
    // rsquared 0.9724706069006036 rsquared_adj 0.9663529639896267 fvalue 158.96164929072393
    // f_pvalue 9.529823726953072e-08
    close(f.r2, 0.9724706069006036, 1e-12, "r2");
    close(f.adj_r2, 0.9663529639896267, 1e-12, "adj r2");
    close(f.f_stat, 158.96164929072393, 1e-10, "F");
    close(f.f_p, 9.529823726953072e-08, 1e-8, "F p");
}

#[test]
fn collinear_designs_get_the_minimum_norm_fit_and_short_ones_an_error() {
    // y = i, a = i, b = 2a: rank 2 of 3 columns. Every β with const = 0 and
    // a + 2b = 1 fits exactly; the one of least norm is (0, 1/5, 2/5) (closed form).
    let rows: Vec<Vec<f64>> = (0..6).map(|i| vec![i as f64, 2.0 * i as f64]).collect();
    let y: Vec<f64> = (0..6).map(|i| i as f64).collect();
    let f = ols(&["a".into(), "b".into()], &rows, &y).unwrap();
    assert_eq!((f.rank, f.df_resid), (2, 3));
    for (got, want) in f.coef.iter().zip([0.0, 0.2, 0.4]) {
        close(*got, want, 1e-12, "min-norm coef");
    }
    close(f.r2, 1.0, 1e-12, "r2");
    let err = ols(&["a".into(), "b".into()], &rows[..3], &y[..3])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("3 observations cannot identify 3 coefficients"),
        "{err}"
    );
}

#[test]
fn constant_factor_is_dropped_with_its_value() {
    let mut runs = runs();
    for r in &mut runs {
        r.factors.insert("system_prompt".into(), "none".into());
    }
    let fr = factor_regression(&runs, CorrelationMethod::Spearman, 2).unwrap();
    assert_eq!(fr.constant, vec![("system_prompt".to_string(), 1.0)]);
    assert_eq!(fr.fit.names.len(), 4);
}

#[test]
fn ranks_and_correlations_with_ties_match_scipy() {
    let a = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0, 0.5];
    let b = [2.0, 1.0, 4.0, 4.0, 3.0, 6.0, 6.0, 0.0];
    // spearman ties 0.7889568540593018 pearson 0.7943105342644805
    // ranks [2.0, 3.5, 3.5, 5.0, 7.0, 7.0, 7.0, 1.0]
    assert_eq!(ranks(&a), [2.0, 3.5, 3.5, 5.0, 7.0, 7.0, 7.0, 1.0]);
    close(
        spearman(&a, &b).unwrap(),
        0.7889568540593018,
        1e-14,
        "spearman",
    );
    close(
        pearson(&a, &b).unwrap(),
        0.7943105342644805,
        1e-14,
        "pearson",
    );
    assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0])
        .unwrap()
        .is_nan());
}

#[test]
fn unequal_lengths_are_an_error_not_a_truncation() {
    // Before pref-stats, spearman([1, 2, 3], [3, 2]) silently used the first 2 points.
    assert!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0]).is_err());
    assert!(pearson(&[1.0, 2.0], &[1.0, 2.0, 3.0]).is_err());
    assert!(CorrelationMethod::Spearman
        .correlate(&[1.0, 2.0, 3.0], &[3.0, 2.0])
        .is_err());
    assert!(pearson(&[1.0], &[1.0]).is_err());
}
