//! Ridge sweeps against sklearn 1.9.1. Every reference number is in
//! tests/data/reference.json, written by tests/data/gen_reference.py (the
//! inputs — small .npy files — are written by the same script):
//!
//! - `per_alpha`: `Ridge(alpha=a).fit(Xtr, ytr)` → `coef_`, `intercept_`,
//!   `r2_score` / `mean_squared_error` on the test rows;
//! - `loo`: `RidgeCV(alphas, store_cv_results=True)` → `cv_results_.mean(axis=0)`
//!   and `alpha_`;
//! - `explicit_loo_mse`: an explicit leave-one-out loop of `Ridge` fits;
//! - `kfold5`: `cross_val_score(Ridge(alpha=a), Xtr, ytr, cv=KFold(5))` with the
//!   `r2` and `neg_mean_squared_error` scorers (mean over folds);
//! - `standardized`: `make_pipeline(StandardScaler(), Ridge(alpha=a))`, and
//!   `RidgeCV` on `StandardScaler().fit_transform(Xtr)`;
//! - `no_intercept`: `Ridge(fit_intercept=False)` / `RidgeCV(fit_intercept=False)`;
//! - `shuffled`: `RidgeCV` fitted to `ytr[perm]` (perm in `*_perm.npy`), scored on
//!   the true test targets.
//!
//! Cases: `wide` is n < d (30 training rows × 60 features), `tall` n > d (80 × 12),
//! each in float64 and float32 (`X.astype(float32)`); the float32 references are
//! sklearn run on the float64 conversion of the same float32 values (sklearn would
//! otherwise compute in float32; `sklearn_f32_test_r2` is that, compared loosely).

use std::path::PathBuf;

use pref_data::npy::{read_npy_matrix_f32, read_npy_matrix_f64};
use pref_data::Matrix;
use pref_probe::{
    probe_study, read_indices, read_targets, Baselines, Cv, RidgeParams, Shuffle, Solver, Split,
};
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(data("reference.json")).unwrap()).unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn vecf(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(f).collect()
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * (1.0 + b.abs()),
        "{what}: got {a}, sklearn {b} (tol {tol})"
    );
}

struct Case {
    x64: Matrix<f64>,
    x32: Option<Matrix<f32>>,
    y: Matrix<f64>,
    split: Split,
}

fn load(name: &str) -> Case {
    let x_path = data(&format!("{name}_x.npy"));
    let x64 = read_npy_matrix_f64(&x_path).unwrap();
    let x32 = name
        .ends_with("f32")
        .then(|| read_npy_matrix_f32(&x_path).unwrap());
    let y = read_targets(data(&format!("{name}_y.npy"))).unwrap();
    let train = read_indices(data(&format!("{name}_train.npy"))).unwrap();
    let test = read_indices(data(&format!("{name}_test.npy"))).unwrap();
    let split = Split::from_indices(x64.rows, &train, &test).unwrap();
    Case { x64, x32, y, split }
}

fn params(cv: Cv, solver: Solver) -> RidgeParams {
    RidgeParams {
        cv,
        solver,
        ..RidgeParams::default()
    }
}

/// Coefficients, intercepts, test R²/MSE for every α and the LOO table, for one
/// parameter set against one block of reference.json.
fn check_block(case: &Case, p: &RidgeParams, block: &Value, tol: f64, what: &str) {
    let valid = p.check().unwrap();
    let fits = match &case.x32 {
        Some(x32) => vec![
            valid.fit_rows(x32, &case.y, &case.split.train).unwrap(),
            valid
                .fit_rows(&case.x64, &case.y, &case.split.train)
                .unwrap(),
        ],
        None => vec![valid
            .fit_rows(&case.x64, &case.y, &case.split.train)
            .unwrap()],
    };
    for fit in &fits {
        let test = match &case.x32 {
            Some(x32) => fit.evaluate(x32, &case.y, &case.split.test).unwrap(),
            None => fit.evaluate(&case.x64, &case.y, &case.split.test).unwrap(),
        };
        for (a, row) in block["per_alpha"].as_array().unwrap().iter().enumerate() {
            let m = fit.model(a);
            let coef = row["coef"].as_array().unwrap();
            // sklearn: coef_ is [d] for one target, [targets, d] for several.
            let coefs: Vec<Vec<f64>> = if coef[0].is_array() {
                coef.iter().map(vecf).collect()
            } else {
                vec![vecf(&row["coef"])]
            };
            let intercepts = match &row["intercept"] {
                Value::Array(v) => v.iter().map(f).collect(),
                v => vec![f(v)],
            };
            for t in 0..fit.n_targets() {
                for (j, (g, r)) in m.coef[t].iter().zip(&coefs[t]).enumerate() {
                    close(
                        *g,
                        *r,
                        tol,
                        &format!("{what} α={} coef[{t}][{j}]", row["alpha"]),
                    );
                }
                close(
                    m.intercept[t],
                    intercepts[t],
                    tol,
                    &format!("{what} intercept"),
                );
                close(
                    test[a][t].r2,
                    f(&row["test_r2"][t]),
                    tol,
                    &format!("{what} test R²"),
                );
                close(
                    test[a][t].mse,
                    f(&row["test_mse"][t]),
                    tol,
                    &format!("{what} test MSE"),
                );
            }
        }
        if p.cv == Cv::Loo {
            let loo = &block["loo"];
            for (a, r) in loo["cv_mse"].as_array().unwrap().iter().enumerate() {
                for t in 0..fit.n_targets() {
                    close(
                        fit.cv_mse[a][t],
                        f(&r[t]),
                        tol,
                        &format!("{what} LOO MSE α#{a}"),
                    );
                }
            }
            if fit.n_targets() == 1 {
                assert_eq!(fit.best_alpha()[0], f(&loo["alpha"]), "{what}: chosen α");
            }
        }
    }
}

#[test]
fn sweep_matches_sklearn_for_wide_and_tall_f64_and_f32() {
    let r = reference();
    for name in ["wide_f64", "tall_f64", "wide_f32", "tall_f32", "multi_f64"] {
        let case = load(name);
        for solver in [Solver::Tridiag, Solver::Gram, Solver::Svd] {
            let what = format!("{name} {solver:?}");
            check_block(&case, &params(Cv::Loo, solver), &r[name], 1e-8, &what);
        }
    }
}

#[test]
fn multi_target_chooses_alpha_per_target() {
    // Per-target argmin of sklearn's LOO table (`RidgeCV(alpha_per_target=False)`
    // reports only the argmin of the mean, so the per-target choice is derived
    // from its `cv_results_`).
    let r = reference();
    let case = load("multi_f64");
    let fit = params(Cv::Loo, Solver::Auto)
        .check()
        .unwrap()
        .fit_rows(&case.x64, &case.y, &case.split.train)
        .unwrap();
    let table = r["multi_f64"]["loo"]["cv_mse"].as_array().unwrap();
    for t in 0..3 {
        let col: Vec<f64> = table.iter().map(|row| f(&row[t])).collect();
        let best = (0..col.len())
            .min_by(|&a, &b| col[a].partial_cmp(&col[b]).unwrap())
            .unwrap();
        assert_eq!(fit.best[t], best, "target {t}");
    }
    // The best model of each target is that target's column at its α.
    let bm = fit.best_model();
    for t in 0..3 {
        assert_eq!(bm.coef[t], fit.model(fit.best[t]).coef[t]);
    }
}

#[test]
fn standardized_and_no_intercept_match_sklearn() {
    let r = reference();
    for name in ["wide_f64", "tall_f64", "tall_f32"] {
        let case = load(name);
        for solver in [Solver::Tridiag, Solver::Gram, Solver::Svd] {
            let p = RidgeParams {
                standardize: true,
                ..params(Cv::Loo, solver)
            };
            check_block(
                &case,
                &p,
                &r[name]["standardized"],
                1e-8,
                &format!("{name} std"),
            );
            let p = RidgeParams {
                fit_intercept: false,
                ..params(Cv::Loo, solver)
            };
            check_block(
                &case,
                &p,
                &r[name]["no_intercept"],
                1e-8,
                &format!("{name} no-int"),
            );
        }
    }
}

#[test]
fn loo_closed_form_equals_explicit_loop() {
    let r = reference();
    for name in ["wide_f64", "tall_f64", "wide_f32", "tall_f32"] {
        let case = load(name);
        let n = case.split.train.len();
        let explicit = vecf(&r[name]["explicit_loo_mse"]);
        let loo = params(Cv::Loo, Solver::Auto)
            .check()
            .unwrap()
            .fit_rows(&case.x64, &case.y, &case.split.train)
            .unwrap();
        // k-fold with k = n refits on n − 1 rows n times: the explicit loop in Rust.
        let loop_fit = params(Cv::KFold(n), Solver::Auto)
            .check()
            .unwrap()
            .fit_rows(&case.x64, &case.y, &case.split.train)
            .unwrap();
        for (a, e) in explicit.iter().enumerate() {
            close(
                loo.cv_mse[a][0],
                *e,
                1e-9,
                &format!("{name} closed form vs sklearn loop"),
            );
            close(
                loop_fit.cv_mse[a][0],
                loo.cv_mse[a][0],
                1e-9,
                &format!("{name} Rust loop"),
            );
        }
    }
}

#[test]
fn kfold_matches_cross_val_score() {
    let r = reference();
    for name in ["wide_f64", "tall_f64", "wide_f32", "tall_f32"] {
        let case = load(name);
        let kf = &r[name]["kfold5"];
        for solver in [Solver::Tridiag, Solver::Gram, Solver::Svd] {
            let fit = params(Cv::KFold(5), solver)
                .check()
                .unwrap()
                .fit_rows(&case.x64, &case.y, &case.split.train)
                .unwrap();
            let cv_r2 = fit.cv_r2.as_ref().unwrap();
            for (a, (r2, mse)) in vecf(&kf["cv_r2"])
                .iter()
                .zip(vecf(&kf["cv_mse"]))
                .enumerate()
            {
                close(cv_r2[a][0], *r2, 1e-8, &format!("{name} k-fold R²"));
                close(fit.cv_mse[a][0], mse, 1e-8, &format!("{name} k-fold MSE"));
            }
            assert_eq!(fit.best_alpha()[0], f(&kf["best_alpha"]), "{name}");
        }
    }
}

#[test]
fn float32_close_to_sklearns_float32_computation() {
    let r = reference();
    for name in ["wide_f32", "tall_f32"] {
        let case = load(name);
        let x32 = case.x32.as_ref().unwrap();
        let fit = RidgeParams::default()
            .check()
            .unwrap()
            .fit_rows(x32, &case.y, &case.split.train)
            .unwrap();
        let test = fit.evaluate(x32, &case.y, &case.split.test).unwrap();
        for (a, r2) in vecf(&r[name]["sklearn_f32_test_r2"]).iter().enumerate() {
            close(
                test[a][0].r2,
                *r2,
                1e-3,
                &format!("{name} vs sklearn float32"),
            );
        }
    }
}

#[test]
fn shuffled_baseline_with_given_permutation_matches_sklearn() {
    let r = reference();
    for name in ["wide_f64", "tall_f64"] {
        let case = load(name);
        let perm: Vec<usize> = read_indices(data(&format!("{name}_perm.npy")))
            .unwrap()
            .into_iter()
            .map(|v| v as usize)
            .collect();
        let study = probe_study(
            &RidgeParams::default().check().unwrap(),
            &case.x64,
            &case.y,
            &case.split,
            &Baselines {
                shuffle: Some(Shuffle::Permutation(perm)),
                random_seed: Some(3),
            },
        )
        .unwrap();
        let t = &study.targets[0];
        let sh = t.baselines.shuffled.unwrap();
        let refs = &r[name]["shuffled"];
        assert_eq!(sh.best_alpha, f(&refs["best_alpha"]));
        close(sh.test_r2, f(&refs["test_r2"]), 1e-8, "shuffled R²");
        close(sh.test_mse, f(&refs["test_mse"]), 1e-8, "shuffled MSE");
        // The real probe's numbers in the same study are the plain sweep's.
        let per = &r[name]["per_alpha"];
        for (a, row) in t.alphas.iter().enumerate() {
            close(row.test_r2, f(&per[a]["test_r2"][0]), 1e-8, "study R²");
            close(
                row.cv_mse,
                f(&r[name]["loo"]["cv_mse"][a][0]),
                1e-8,
                "study LOO",
            );
        }
        assert_eq!(t.best_alpha, f(&r[name]["loo"]["alpha"]));
        // Random activations carry no signal about y: far below the real probe.
        let rnd = t.baselines.random.unwrap();
        assert!(
            rnd.test_r2 < t.test_r2 - 0.3,
            "random {rnd:?} vs real {}",
            t.test_r2
        );
        assert_eq!(study.fit.n_targets(), 1);
    }
}
