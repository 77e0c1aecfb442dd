//! `pref bt-probe` against scipy's L-BFGS-B minimiser of the same objective on
//! a fixture built by formula (X 40 × 6 with a constant column, 120 training
//! and 60 test pairs), with and without standardisation; λ tuning; bad input.
//!
//! Reference values: this script (numpy 2.4.6, scipy 1.17.1), verbatim:
//!
//! import numpy as np, json
//! from scipy.optimize import minimize
//! n, d = 40, 6
//! X = np.array([[((i*7 + j*13 + i*j) % 23) / 8.0 - 1.25 + 0.5*j if j < 5 else 3.0 for j in range(d)] for i in range(n)])
//! t = X[:, 0] - 0.5 * X[:, 2]
//! def pairs(ks):
//!     out = []
//!     for k in ks:
//!         a, b = (k*5 + 1) % n, (k*11 + 7) % n
//!         if a == b: b = (b + 1) % n
//!         ca = (k*3) % 4 + (2 if t[a] > t[b] else 0)
//!         cb = (k*7 + 1) % 3 + (2 if t[b] > t[a] else 0)
//!         out.append((a, b, float(ca), float(cb)))
//!     return out
//! train, test = pairs(range(120)), pairs(range(120, 180))
//! def sp(z): return np.logaddexp(0.0, z)
//! def L(w, Z, P, lam):
//!     s = Z @ w
//!     A = np.array([p[0] for p in P]); B = np.array([p[1] for p in P])
//!     ca = np.array([p[2] for p in P]); cb = np.array([p[3] for p in P])
//!     N = (ca + cb).sum(); dl = s[A] - s[B]
//!     f = (ca*sp(-dl) + cb*sp(dl)).sum()/N + 0.5*lam*w@w
//!     g_pair = (cb/(1+np.exp(-dl)) - ca/(1+np.exp(dl)))/N
//!     r = np.zeros(len(s)); np.add.at(r, A, g_pair); np.add.at(r, B, -g_pair)
//!     return f, Z.T @ r + lam*w
//! def metrics(s, P):
//!     right = dec = 0; loss = 0.0; N = 0.0
//!     for a, b, ca, cb in P:
//!         dl = s[a] - s[b]; loss += ca*sp(-dl) + cb*sp(dl); N += ca + cb
//!         if ca != cb and dl != 0: dec += 1; right += (dl > 0) == (ca > cb)
//!     return right/dec, loss/N
//! out = {}
//! for std in (False, True):
//!     rows = sorted({p[0] for p in train} | {p[1] for p in train})
//!     if std:
//!         m = X[rows].mean(0); sd = X[rows].std(0); sd[sd < 1e-12] = 1.0
//!     else:
//!         m = np.zeros(d); sd = np.ones(d)
//!     Z = (X - m)/sd
//!     lam = 0.05
//!     r = minimize(L, np.zeros(d), args=(Z, train, lam), jac=True, method="L-BFGS-B",
//!                  options=dict(gtol=1e-12, ftol=1e-15, maxiter=10000))
//!     s = Z @ r.x
//!     tr_acc, _ = metrics(s, train); te_acc, te_ll = metrics(s, test)
//!     out["std" if std else "raw"] = dict(objective=r.fun, weights=list(r.x), train_accuracy=tr_acc,
//!                                          test_accuracy=te_acc, test_log_loss=te_ll, nit=int(r.nit))
//! print(json.dumps(out, indent=1))
//!
//! Output (objective, weights, accuracies, test log loss) in the constants below.

use std::path::Path;
use std::process::Command;

use pref_data::npy::{write_npy_matrix_f64, Matrix};
use serde_json::Value;

const N: usize = 40;
const D: usize = 6;

fn x() -> Vec<f64> {
    let mut v = Vec::with_capacity(N * D);
    for i in 0..N {
        for j in 0..D {
            v.push(if j < 5 {
                ((i * 7 + j * 13 + i * j) % 23) as f64 / 8.0 - 1.25 + 0.5 * j as f64
            } else {
                3.0
            });
        }
    }
    v
}

fn pairs(ks: std::ops::Range<usize>) -> String {
    let x = x();
    let t = |i: usize| x[i * D] - 0.5 * x[i * D + 2];
    let mut out = String::new();
    for k in ks {
        let (a, mut b) = ((k * 5 + 1) % N, (k * 11 + 7) % N);
        if a == b {
            b = (b + 1) % N;
        }
        let ca = (k * 3) % 4 + if t(a) > t(b) { 2 } else { 0 };
        let cb = (k * 7 + 1) % 3 + if t(b) > t(a) { 2 } else { 0 };
        out.push_str(&format!(
            "{{\"a\": {a}, \"b\": {b}, \"count_a\": {ca}, \"count_b\": {cb}}}\n"
        ));
    }
    out
}

fn fixture(dir: &Path) -> [String; 3] {
    let xp = dir.join("x.npy");
    write_npy_matrix_f64(&xp, &Matrix::new(N, D, x()).unwrap()).unwrap();
    let (tr, te) = (dir.join("train.jsonl"), dir.join("test.jsonl"));
    std::fs::write(&tr, pairs(0..120)).unwrap();
    std::fs::write(&te, pairs(120..180)).unwrap();
    [xp, tr, te].map(|p| p.to_str().unwrap().to_string())
}

fn pref(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pref"))
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

#[test]
fn bt_probe_equals_scipy_lbfgsb() {
    let tmp = tempfile::tempdir().unwrap();
    let [x, tr, te] = fixture(tmp.path());
    #[allow(clippy::type_complexity)]
    let cases: [(&str, f64, [f64; 6], f64); 2] = [
        (
            "raw",
            0.5803214042036644,
            [
                0.6818689550598216,
                -0.07228133393271778,
                -0.1684750542485145,
                -0.11361862457209558,
                -0.11726486978920843,
                0.0,
            ],
            0.572639650689821,
        ),
        (
            "std",
            0.5762907160092359,
            [
                0.6016379044113315,
                -0.060192136580251125,
                -0.14424376584001364,
                -0.09397971632122962,
                -0.10544790076057971,
                0.0,
            ],
            0.5715710383617573,
        ),
    ];
    for (name, objective, weights, test_log_loss) in cases {
        let mut args = vec![
            "bt-probe",
            "--x",
            &x,
            "--pairs",
            &tr,
            "--test-pairs",
            &te,
            "--lambda",
            "0.05",
        ];
        if name == "std" {
            args.push("--standardize");
        }
        let (ok, v, err) = pref(&args);
        assert!(ok, "{err}");
        let got = v["objective"].as_f64().unwrap();
        assert!(close(got, objective, 1e-9), "{name}: {got} vs {objective}");
        assert_eq!(v["converged"], true, "{name}");
        for (j, w) in weights.iter().enumerate() {
            let g = v["weights"][j].as_f64().unwrap();
            assert!((g - w).abs() < 1e-6, "{name} w[{j}]: {g} vs {w}");
        }
        assert_eq!(v["train_accuracy"].as_f64().unwrap(), 0.9545454545454546);
        assert_eq!(v["test_accuracy"].as_f64().unwrap(), 0.9629629629629629);
        let ll = v["test_log_loss"].as_f64().unwrap();
        assert!(close(ll, test_log_loss, 1e-7), "{name}: {ll}");
        assert_eq!(
            (v["n_train_pairs"].as_u64(), v["n_test_pairs"].as_u64()),
            (Some(120), Some(60))
        );
        assert!(
            v["validation"].as_array().unwrap().is_empty(),
            "one λ: no tuning"
        );
    }
}

/// With a grid, the λ of the lowest validation log loss is chosen and refitted
/// on all training pairs: the same objective as asking for that λ alone.
#[test]
fn lambda_is_chosen_on_validation_pairs_then_refitted() {
    let tmp = tempfile::tempdir().unwrap();
    let [x, tr, te] = fixture(tmp.path());
    let base = [
        "bt-probe",
        "--x",
        &x,
        "--pairs",
        &tr,
        "--test-pairs",
        &te,
        "--standardize",
    ];
    let (ok, v, err) = pref(&[&base[..], &["--lambdas", "0.001,0.1,10", "--seed", "3"]].concat());
    assert!(ok, "{err}");
    let val = v["validation"].as_array().unwrap();
    assert_eq!(val.len(), 3);
    let best = val
        .iter()
        .min_by(|a, b| {
            let l = |v: &Value| v["validation_log_loss"].as_f64().unwrap();
            l(a).total_cmp(&l(b))
        })
        .unwrap();
    assert_eq!(v["lambda"], best["lambda"]);
    let lambda = v["lambda"].as_f64().unwrap().to_string();
    let (ok, one, err) = pref(&[&base[..], &["--lambda", &lambda]].concat());
    assert!(ok, "{err}");
    assert_eq!(v["objective"], one["objective"]);
}

#[test]
fn bad_pairs_are_named_by_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let [x, tr, _] = fixture(tmp.path());
    let bad = tmp.path().join("bad.jsonl");
    for (text, want) in [
        (
            "{\"a\": 0, \"b\": 1, \"count_a\": 1, \"count_b\": 0}\n{\"a\": 0, \"b\": 40, \"count_a\": 1, \"count_b\": 0}\n",
            "bad.jsonl:2: b: row 40 is out of range for X's 40 rows",
        ),
        (
            "{\"a\": 3, \"b\": 3, \"count_a\": 1, \"count_b\": 0}\n",
            "bad.jsonl:1: b",
        ),
        (
            "{\"a\": 0, \"b\": 1, \"count_a\": -1, \"count_b\": 0}\n",
            "bad.jsonl:1: count_a",
        ),
        ("{\"a\": 0, \"b\": 1, \"wins\": 2}\n", "bad.jsonl:1"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let (ok, _, err) = pref(&["bt-probe", "--x", &x, "--pairs", bad.to_str().unwrap()]);
        assert!(!ok);
        assert!(err.contains(want), "{want} not in {err}");
    }
    let (ok, _, err) = pref(&["bt-probe", "--x", &x, "--pairs", &tr, "--lambda", "0"]);
    assert!(!ok);
    assert!(err.contains("not a positive finite number"), "{err}");
}
