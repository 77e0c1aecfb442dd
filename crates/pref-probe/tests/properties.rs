//! Invariants of the ridge sweep that need no external reference: the Gram and
//! SVD routes agree, results do not depend on the thread count, the closed-form
//! LOO equals the explicit loop on rank-deficient data, bad input is an error.

use pref_data::Matrix;
use pref_probe::{
    cosine_matrix, cross_generalisation, gaussian_like, probe_study, Baselines, Cv, Error, Probe,
    RidgeParams, Shuffle, Solver, Split, TestSet,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn random(n: usize, d: usize, t: usize, seed: u64) -> (Matrix<f64>, Matrix<f64>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut draw = || -> f64 { StandardNormal.sample(&mut rng) };
    let x: Vec<f64> = (0..n * d).map(|j| 3.0 * draw() + (j % d) as f64).collect();
    let x = Matrix::new(n, d, x).unwrap();
    let y: Vec<f64> = (0..n * t)
        .map(|k| {
            let (i, c) = (k / t, k % t);
            x.row(i)[c % d] - 0.5 * x.row(i)[(c + 1) % d] + draw()
        })
        .collect();
    (x, Matrix::new(n, t, y).unwrap())
}

fn fit(x: &Matrix<f64>, y: &Matrix<f64>, p: RidgeParams) -> pref_probe::RidgeCv {
    p.check().unwrap().fit(x, y).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn tridiag_gram_and_svd_routes_agree(n in 3usize..40, d in 1usize..40, seed in 0u64..1000,
                                 standardize: bool, fit_intercept: bool) {
        let (x, y) = random(n, d, 2, seed);
        let base = RidgeParams { standardize, fit_intercept, ..RidgeParams::default() };
        let s = fit(&x, &y, RidgeParams { solver: Solver::Svd, ..base.clone() });
        for solver in [Solver::Tridiag, Solver::Gram] {
            let g = fit(&x, &y, RidgeParams { solver, ..base.clone() });
            for a in 0..g.alphas.len() {
                for t in 0..2 {
                    let (cg, cs) = (g.cv_mse[a][t], s.cv_mse[a][t]);
                    prop_assert!((cg - cs).abs() <= 1e-7 * (1.0 + cs.abs()), "LOO {cg} vs {cs}");
                }
                let (mg, ms) = (g.model(a), s.model(a));
                for t in 0..2 {
                    for (u, v) in mg.coef[t].iter().zip(&ms.coef[t]) {
                        prop_assert!((u - v).abs() <= 1e-7 * (1.0 + v.abs()), "coef {u} vs {v}");
                    }
                    prop_assert!((mg.intercept[t] - ms.intercept[t]).abs() <= 1e-6 * (1.0 + ms.intercept[t].abs()));
                }
            }
        }
    }
}

#[test]
fn closed_form_loo_equals_loop_with_repeated_rows() {
    // n < d with two identical rows and a constant feature: extra null directions
    // next to the intercept's.
    let (mut x, y) = random(25, 40, 1, 7);
    let r0 = x.row(0).to_vec();
    x.data[3 * 40..4 * 40].copy_from_slice(&r0);
    for i in 0..25 {
        x.data[i * 40 + 5] = 2.5;
    }
    for solver in [Solver::Tridiag, Solver::Gram, Solver::Svd] {
        let loo = fit(
            &x,
            &y,
            RidgeParams {
                solver,
                ..RidgeParams::default()
            },
        );
        let lp = fit(
            &x,
            &y,
            RidgeParams {
                solver,
                cv: Cv::KFold(25),
                ..RidgeParams::default()
            },
        );
        for a in 0..loo.alphas.len() {
            let (c, l) = (loo.cv_mse[a][0], lp.cv_mse[a][0]);
            assert!(
                (c - l).abs() <= 1e-9 * l,
                "{solver:?} α#{a}: closed form {c}, loop {l}"
            );
        }
    }
}

#[test]
fn tiny_training_folds_agree_across_solvers() {
    // k-fold training sets of one and two rows (nothing or a single direction
    // left after centring) and a single feature: the tridiagonal route's edge cases.
    for (n, d) in [(3, 1), (3, 8), (4, 2), (5, 1)] {
        let (x, y) = random(n, d, 1, 3);
        for (cv, fit_intercept) in [
            (Cv::KFold(2), true),
            (Cv::KFold(n), true),
            (Cv::KFold(2), false),
            (Cv::Loo, true),
        ] {
            let base = RidgeParams {
                cv,
                fit_intercept,
                ..RidgeParams::default()
            };
            let s = fit(
                &x,
                &y,
                RidgeParams {
                    solver: Solver::Svd,
                    ..base.clone()
                },
            );
            for solver in [Solver::Tridiag, Solver::Gram] {
                let g = fit(
                    &x,
                    &y,
                    RidgeParams {
                        solver,
                        ..base.clone()
                    },
                );
                for a in 0..g.alphas.len() {
                    let (cg, cs) = (g.cv_mse[a][0], s.cv_mse[a][0]);
                    assert!(
                        (cg - cs).abs() <= 1e-9 * (1.0 + cs.abs()),
                        "{n}×{d} {cv:?} {solver:?}: CV {cg} vs {cs}"
                    );
                    for (u, v) in g.model(a).coef[0].iter().zip(&s.model(a).coef[0]) {
                        assert!((u - v).abs() <= 1e-9 * (1.0 + v.abs()), "coef {u} vs {v}");
                    }
                }
            }
        }
    }
}

#[test]
fn identical_results_for_any_thread_count() {
    // Large enough that every parallel path is taken (Householder applications to
    // more than one 128-column block, several 256-row blocks of LOO forms, faer's
    // parallel products); faer's own parallel tridiagonalisation, bidiagonalisation
    // and Householder splits would make these differ, so the crate avoids them.
    // The default solver runs the whole study (with both baselines), the others
    // the fit.
    for solver in [Solver::Tridiag, Solver::Gram, Solver::Svd] {
        for (n, d) in [(400, 600), (650, 300)] {
            let (x, y) = random(n, d, 2, 11);
            let split = Split::random(n, 0.2, 5).unwrap();
            let run = |threads: usize, parallel: bool| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let p = RidgeParams {
                        parallel,
                        solver,
                        ..RidgeParams::default()
                    }
                    .check()
                    .unwrap();
                    if solver != Solver::Tridiag {
                        let fit = p.fit_rows(&x, &y, &split.train).unwrap();
                        return (format!("{:?}", fit.cv_mse), fit.best_model());
                    }
                    let s = probe_study(
                        &p,
                        &x,
                        &y,
                        &split,
                        &Baselines {
                            shuffle: Some(Shuffle::Seed(1)),
                            random_seed: Some(2),
                        },
                    )
                    .unwrap();
                    (format!("{:?}", s.targets), s.fit.best_model())
                })
            };
            let reference = run(1, false);
            for threads in [1, 2, 3] {
                let r = run(threads, true);
                assert_eq!(
                    r.0, reference.0,
                    "{n}×{d} {solver:?}, {threads} threads: reports differ"
                );
                assert_eq!(
                    r.1, reference.1,
                    "{n}×{d} {solver:?}, {threads} threads: models differ"
                );
            }
        }
    }
}

#[test]
fn bad_input_is_an_error_with_shapes() {
    let (x, y) = random(10, 4, 1, 1);
    let p = RidgeParams::default().check().unwrap();
    let short = Matrix::new(9, 1, vec![0.0; 9]).unwrap();
    let e = p.fit(&x, &short).unwrap_err();
    assert!(matches!(e, Error::Shape(_)), "{e}");
    assert!(
        e.to_string().contains("[10 × 4]") && e.to_string().contains("9 rows"),
        "{e}"
    );
    let e = p.fit_rows(&x, &y, &[0, 1, 2, 10]).unwrap_err();
    assert!(
        e.to_string().contains("row index 10") && e.to_string().contains("[10 × 4]"),
        "{e}"
    );
    let e = Split::from_indices(10, &[0, 1, 2], &[2, 3]).unwrap_err();
    assert!(e.to_string().contains("row 2 is in both"), "{e}");
    let e = Split::from_indices(10, &[0, 1, -1], &[3]).unwrap_err();
    assert!(e.to_string().contains("index -1"), "{e}");
    let mut bad = x.clone();
    bad.data[6] = f64::NAN;
    let e = p.fit(&bad, &y).unwrap_err();
    assert!(e.to_string().contains("row 1, column 2"), "{e}");
    for alphas in [vec![], vec![1.0, 0.0], vec![f64::INFINITY]] {
        let e = RidgeParams {
            alphas,
            ..RidgeParams::default()
        }
        .check()
        .unwrap_err();
        assert!(
            matches!(e, Error::InvalidParam { name: "alphas", .. }),
            "{e}"
        );
    }
    let e = RidgeParams {
        cv: Cv::KFold(1),
        ..RidgeParams::default()
    }
    .check()
    .unwrap_err();
    assert!(matches!(e, Error::InvalidParam { name: "cv", .. }), "{e}");
    let e = pref_probe::data::check_permutation(&[0, 2, 2], 3).unwrap_err();
    assert!(e.to_string().contains("repeated"), "{e}");
}

/// A constant target (all training rows, or all test rows) is refused by name:
/// sklearn's `r2_score` would report 1.0 for it by convention.
#[test]
fn a_constant_target_is_refused() {
    let (x, y) = random(20, 3, 2, 5);
    let split =
        Split::from_indices(20, &(0..15).collect::<Vec<i64>>(), &[15, 16, 17, 18, 19]).unwrap();
    let p = RidgeParams::default().check().unwrap();
    let none = Baselines {
        shuffle: None,
        random_seed: None,
    };
    let mut constant = y.clone();
    for i in 0..20 {
        constant.data[i * 2 + 1] = 4.0;
    }
    let e = probe_study(&p, &x, &constant, &split, &none).unwrap_err();
    assert_eq!(
        e.to_string(),
        "target 1 is constant (4) on the 15 training rows: R² is undefined and a probe has \
         nothing to learn"
    );
    let mut test_constant = y.clone();
    for i in 15..20 {
        test_constant.data[i * 2] = -1.5;
    }
    let e = probe_study(&p, &x, &test_constant, &split, &none).unwrap_err();
    assert_eq!(
        e.to_string(),
        "target 0 is constant (-1.5) on the 5 test rows: R² is undefined and a probe has \
         nothing to learn"
    );
    assert!(probe_study(&p, &x, &y, &split, &none).is_ok());
}

#[test]
fn probe_comparison() {
    // Two signals from the same activations: y_b = 2·y_a + 1 exactly, so probe b
    // is 2 × probe a (cosine 1) and each predicts the other's test targets
    // perfectly up to the affine map: R² of a on b is computed against b's values.
    let (x, y) = random(60, 8, 1, 3);
    let yb = Matrix::new(60, 1, y.data.iter().map(|v| 2.0 * v + 1.0).collect()).unwrap();
    let split = Split::random(60, 0.25, 0).unwrap();
    let p = RidgeParams {
        alphas: vec![1e-6],
        ..RidgeParams::default()
    }
    .check()
    .unwrap();
    let fa = p.fit_rows(&x, &y, &split.train).unwrap().best_model();
    let fb = p.fit_rows(&x, &yb, &split.train).unwrap().best_model();
    let probes = [
        Probe::from_model("a", &fa, 0),
        Probe::from_model("b", &fb, 0),
    ];
    let cos = cosine_matrix(&probes).unwrap();
    assert!((cos[0][1] - 1.0).abs() < 1e-9 && (cos[0][0] - 1.0).abs() < 1e-12);
    let xt = Matrix::new(
        split.test.len(),
        8,
        split.test.iter().flat_map(|&r| x.row(r).to_vec()).collect(),
    )
    .unwrap();
    let ya: Vec<f64> = split.test.iter().map(|&r| y.data[r]).collect();
    let ybt: Vec<f64> = split.test.iter().map(|&r| yb.data[r]).collect();
    let tests = [
        TestSet {
            name: "a",
            x: &xt,
            y: &ya,
        },
        TestSet {
            name: "b",
            x: &xt,
            y: &ybt,
        },
    ];
    let m = cross_generalisation(&probes, &tests).unwrap();
    // Diagonal: the ordinary held-out score; b's R² equals a's (affine invariance).
    assert!((m[0][0].r2 - m[1][1].r2).abs() < 1e-9);
    assert!((m[1][1].mse - 4.0 * m[0][0].mse).abs() < 1e-9 * m[1][1].mse);
    // Off-diagonal [a][b] is probe a scored on set b: the model's own predictions
    // for b's rows against b's targets.
    let pa = fa.predict(&xt).unwrap();
    let want = pref_probe::metrics(&ybt, &pa.data);
    assert_eq!(m[0][1], want);
    assert!(
        m[0][1].mse > 10.0 * m[0][0].mse,
        "a misses b's scale: {:?}",
        m[0][1]
    );
    let orthogonal = Probe {
        name: "o".into(),
        direction: vec![0.0; 8],
        intercept: 0.0,
    };
    assert_eq!(
        cosine_matrix(&[probes[0].clone(), orthogonal]).unwrap()[0][1],
        0.0
    );
    let wrong = Matrix::new(2, 3, vec![0.0; 6]).unwrap();
    let e = cross_generalisation(
        &probes,
        &[TestSet {
            name: "w",
            x: &wrong,
            y: &[0.0, 1.0],
        }],
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("8 features") && e.to_string().contains("[2 × 3]"),
        "{e}"
    );
}

#[test]
fn gaussian_baseline_has_the_shape_and_scale() {
    let (x, _) = random(200, 30, 1, 9);
    let train: Vec<usize> = (0..150).collect();
    let g = gaussian_like(&x, &train, 4);
    assert_eq!((g.rows, g.cols), (200, 30));
    assert_eq!(g, gaussian_like(&x, &train, 4));
    assert_ne!(g, gaussian_like(&x, &train, 5));
    let var = g.data.iter().map(|v| v * v).sum::<f64>() / g.data.len() as f64;
    // Pooled variance of x is 9 (each column is 3·N(0,1) + const).
    assert!((var / 9.0 - 1.0).abs() < 0.1, "variance {var}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The Bradley–Terry probe's analytic gradient equals central finite
    /// differences of its objective, at any weights and penalty.
    #[test]
    fn bt_probe_gradient_matches_finite_differences(
        seed in 0u64..1000,
        lambda in 0.001f64..10.0,
        scale in 0.1f64..3.0,
    ) {
        let (x, _) = random(25, 5, 1, seed);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + 1);
        let pairs: Vec<pref_probe::PairCounts> = (0..40)
            .map(|k| {
                let a = (k * 7 + seed as usize) % 25;
                let b = (a + 1 + k % 24) % 25;
                let u: f64 = StandardNormal.sample(&mut rng);
                pref_probe::PairCounts { a, b, count_a: (k % 3) as f64, count_b: u.abs().round() }
            })
            .collect();
        let w: Vec<f64> = (0..5)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                scale * z / 10.0
            })
            .collect();
        let (_, g) = pref_probe::bt_objective(&x, &pairs, &w, lambda);
        for j in 0..5 {
            let h = 1e-6;
            let (mut up, mut down) = (w.clone(), w.clone());
            up[j] += h;
            down[j] -= h;
            let fd = (pref_probe::bt_objective(&x, &pairs, &up, lambda).0
                - pref_probe::bt_objective(&x, &pairs, &down, lambda).0)
                / (2.0 * h);
            prop_assert!((fd - g[j]).abs() <= 1e-6 * (1.0 + g[j].abs()), "j {}: fd {} vs {}", j, fd, g[j]);
        }
    }
}

#[test]
fn bt_probe_refuses_bad_input_by_name() {
    let (x, _) = random(10, 3, 1, 1);
    let ok = pref_probe::PairCounts {
        a: 0,
        b: 1,
        count_a: 2.0,
        count_b: 1.0,
    };
    let p = pref_probe::BtProbeParams::default();
    for (pairs, want) in [
        (
            vec![pref_probe::PairCounts { b: 10, ..ok }],
            "rows 0 and 10 but X has 10 rows",
        ),
        (
            vec![pref_probe::PairCounts { b: 0, ..ok }],
            "compared with itself",
        ),
        (
            vec![pref_probe::PairCounts {
                count_a: f64::NAN,
                ..ok
            }],
            "finite and non-negative",
        ),
        (
            vec![pref_probe::PairCounts {
                count_a: 0.0,
                count_b: 0.0,
                ..ok
            }],
            "zero counts",
        ),
    ] {
        let e = pref_probe::fit_bt_probe(&x, &pairs, &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{want} not in {e}");
    }
    let bad = pref_probe::BtProbeParams {
        lambdas: vec![-1.0],
        ..p
    };
    let e = pref_probe::fit_bt_probe(&x, &[ok], &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("lambdas: -1"), "{e}");
}
