//! `pref ridge`: JSON shape, values against the sklearn references of
//! crates/pref-probe/tests/data (reference.json, written by gen_reference.py:
//! `Ridge(alpha).fit(Xtr, ytr)` scored with `r2_score` / `mean_squared_error`,
//! `RidgeCV(alphas, store_cv_results=True)` for the LOO table and `alpha_`, and
//! `RidgeCV` on `ytr[perm]` for the shuffled baseline), and errors naming shapes.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/pref-probe/tests/data")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn pref(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pref"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v = if out.status.success() {
        serde_json::from_str(&stdout).unwrap()
    } else {
        Value::Null
    };
    (
        out.status.success(),
        v,
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn close(a: &Value, b: &Value, what: &str) {
    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
    assert!(
        (a - b).abs() <= 1e-8 * (1.0 + b.abs()),
        "{what}: {a} vs sklearn {b}"
    );
}

#[test]
fn ridge_matches_sklearn_with_index_files_and_permutation() {
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(data("reference.json")).unwrap()).unwrap();
    for (case, solver) in [
        ("wide_f64", "tridiag"),
        ("tall_f32", "tridiag"),
        ("wide_f64", "gram"),
        ("tall_f32", "svd"),
    ] {
        let (x, y, tr, te, perm) = (
            data(&format!("{case}_x.npy")),
            data(&format!("{case}_y.npy")),
            data(&format!("{case}_train.npy")),
            data(&format!("{case}_test.npy")),
            data(&format!("{case}_perm.npy")),
        );
        let (ok, v, err) = pref(&[
            "ridge",
            "--x",
            &x,
            "--y",
            &y,
            "--train-idx",
            &tr,
            "--test-idx",
            &te,
            "--shuffle-perm",
            &perm,
            "--solver",
            solver,
        ]);
        assert!(ok, "{err}");
        let refc = &r[case];
        let rows = v["alphas"].as_array().unwrap();
        assert_eq!(rows.len(), 6);
        for (a, row) in rows.iter().enumerate() {
            let want = &refc["per_alpha"][a];
            assert_eq!(row["alpha"], want["alpha"]);
            let what = |m: &str| format!("{case} --solver {solver}: {m}");
            close(&row["test_r2"], &want["test_r2"][0], &what("test_r2"));
            close(&row["test_mse"], &want["test_mse"][0], &what("test_mse"));
            close(
                &row["cv_mse"],
                &refc["loo"]["cv_mse"][a][0],
                &what("cv_mse"),
            );
        }
        assert_eq!(v["best_alpha"], refc["loo"]["alpha"]);
        let best = rows.iter().find(|r| r["alpha"] == v["best_alpha"]).unwrap();
        assert_eq!(v["test_r2"], best["test_r2"]);
        assert_eq!(v["test_mse"], best["test_mse"]);
        let sh = &v["baselines"]["shuffled"];
        close(&sh["test_r2"], &refc["shuffled"]["test_r2"], "shuffled R²");
        close(
            &sh["test_mse"],
            &refc["shuffled"]["test_mse"],
            "shuffled MSE",
        );
        let rnd = &v["baselines"]["random"];
        assert!(
            rnd["test_r2"].as_f64().unwrap().is_finite() && rnd["test_mse"].as_f64().unwrap() > 0.0
        );
        assert!(v["seconds"].as_f64().unwrap() >= 0.0);
        let n_test = if case == "tall_f32" { 20 } else { 10 };
        assert_eq!(v["n_test"].as_u64(), Some(n_test));
    }
}

/// `pref ridge --standardize` against sklearn's
/// `make_pipeline(StandardScaler(), Ridge(alpha=a))` per α and `RidgeCV` on
/// `StandardScaler().fit_transform(Xtr)` for the LOO table and the chosen α
/// (reference.json's `standardized`, written by gen_reference.py).
#[test]
fn ridge_standardize_matches_sklearn_standard_scaler_and_ridge_cv() {
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(data("reference.json")).unwrap()).unwrap();
    for case in ["wide_f64", "tall_f64"] {
        let (x, y, tr, te) = (
            data(&format!("{case}_x.npy")),
            data(&format!("{case}_y.npy")),
            data(&format!("{case}_train.npy")),
            data(&format!("{case}_test.npy")),
        );
        let (ok, v, err) = pref(&[
            "ridge",
            "--x",
            &x,
            "--y",
            &y,
            "--train-idx",
            &tr,
            "--test-idx",
            &te,
            "--standardize",
            "--no-baselines",
        ]);
        assert!(ok, "{err}");
        let want = &r[case]["standardized"];
        let rows = v["alphas"].as_array().unwrap();
        assert_eq!(rows.len(), 6);
        for (a, row) in rows.iter().enumerate() {
            let what = |m: &str| format!("{case} --standardize: {m}");
            let ref_row = &want["per_alpha"][a];
            assert_eq!(row["alpha"], ref_row["alpha"]);
            close(&row["test_r2"], &ref_row["test_r2"][0], &what("test_r2"));
            close(&row["test_mse"], &ref_row["test_mse"][0], &what("test_mse"));
            close(
                &row["cv_mse"],
                &want["loo"]["cv_mse"][a][0],
                &what("cv_mse"),
            );
        }
        assert_eq!(v["best_alpha"], want["loo"]["alpha"], "{case}");
    }
}

#[test]
fn ridge_kfold_multi_target_and_seeded_split_are_deterministic() {
    let (x, y) = (data("multi_f64_x.npy"), data("multi_f64_y.npy"));
    let args = [
        "ridge",
        "--x",
        &x,
        "--y",
        &y,
        "--test-fraction",
        "0.2",
        "--seed",
        "4",
        "--cv",
        "kfold:5",
        "--alphas",
        "1,10,100",
    ];
    let (ok, v, err) = pref(&args);
    assert!(ok, "{err}");
    let targets = v["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3);
    for t in targets {
        assert_eq!(t["alphas"].as_array().unwrap().len(), 3);
        assert!(t["alphas"][0]["cv_r2"].is_number());
    }
    assert_eq!(
        (v["n_train"].as_u64(), v["n_test"].as_u64()),
        (Some(40), Some(10))
    );
    let (_, v2, _) = pref(&args);
    assert_eq!(v["targets"], v2["targets"], "same seed, same output");
}

#[test]
fn ridge_errors_name_shapes_and_indices() {
    let (x, y_other) = (data("wide_f64_x.npy"), data("tall_f64_y.npy"));
    let (ok, _, err) = pref(&["ridge", "--x", &x, "--y", &y_other]);
    assert!(!ok);
    assert!(
        err.contains("[40 × 60]") && err.contains("100 rows"),
        "{err}"
    );
    // tall's training indices go up to 99, out of range for wide's 40 rows.
    let (ok, _, err) = pref(&[
        "ridge",
        "--x",
        &x,
        "--y",
        &data("wide_f64_y.npy"),
        "--train-idx",
        &data("tall_f64_train.npy"),
        "--test-idx",
        &data("wide_f64_test.npy"),
    ]);
    assert!(!ok);
    assert!(
        err.contains("out of range for 40 rows") && err.contains("[40 × 60]"),
        "{err}"
    );
    let (ok, _, err) = pref(&[
        "ridge",
        "--x",
        &x,
        "--y",
        &data("wide_f64_y.npy"),
        "--cv",
        "kfold:1",
    ]);
    assert!(!ok && err.contains("kfold:K"), "{err}");
    let (ok, _, err) = pref(&[
        "ridge",
        "--x",
        &x,
        "--y",
        &data("wide_f64_y.npy"),
        "--shuffle-perm",
        &data("wide_f64_test.npy"),
    ]);
    assert!(!ok && err.contains("permutation"), "{err}");
}

#[test]
fn ridge_help_describes_output() {
    let out = Command::new(env!("CARGO_BIN_EXE_pref"))
        .args(["ridge", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for s in [
        "--train-idx",
        "--shuffle-perm",
        "kfold:K",
        "baselines",
        "best_alpha",
        "tridiag",
    ] {
        assert!(help.contains(s), "help lacks {s}:\n{help}");
    }
}
