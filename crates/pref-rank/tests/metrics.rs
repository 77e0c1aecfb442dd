//! Ranking metrics against scipy 1.17 and a brute-force enumeration.
//!
//! ```python
//! import numpy as np
//! from scipy.stats import kendalltau, spearmanr
//! cases = {
//!   "no_ties_n8": ([3.1, 1.2, 5.5, 4.4, 2.0, 8.1, 7.7, 6.0], [2.0, 1.0, 4.0, 5.0, 3.0, 8.0, 6.0, 7.0]),
//!   "ties_n10": ([1, 2, 2, 3, 4, 4, 4, 5, 6, 7], [2, 1, 3, 3, 5, 4, 6, 6, 7, 7]),
//!   "no_ties_n40": (list(np.sin(np.arange(40) * 1.3)), list(np.cos(np.arange(40) * 0.7) + np.arange(40) / 20)),
//!   "sorted_n50": (list(range(50)), list(range(50))),
//!   "one_swap_n40": (list(range(40)), [1, 0] + list(range(2, 40))),
//!   "reversed_n6": ([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]),
//!   "constant_x": ([1, 1, 1, 1], [1, 2, 3, 4]),
//!   "n3": ([1, 2, 3], [1, 3, 2]),
//! }
//! for k, (x, y) in cases.items():
//!     t = kendalltau(x, y); r = spearmanr(x, y)
//!     print(k, t.statistic, t.pvalue, r.statistic, r.pvalue)
//! ```

use pref_rank::metrics::{
    average_ranks, kendall_p_exact, kendall_tau_b, pairwise_accuracy, ranking_metrics,
    spearman_rho, top_k_hit,
};
use proptest::prelude::*;

fn close(a: f64, b: f64, rel: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs()) || (a - b).abs() < 1e-300
}

fn case(name: &str, x: &[f64], y: &[f64], want: [f64; 4]) {
    let k = kendall_tau_b(x, y).unwrap();
    let s = spearman_rho(x, y).unwrap();
    let got = [k.statistic, k.pvalue, s.statistic, s.pvalue];
    let labels = ["tau", "tau p", "rho", "rho p"];
    for ((g, w), l) in got.iter().zip(want).zip(labels) {
        assert!(close(*g, w, 1e-9), "{name} {l}: {g} vs scipy {w}");
    }
}

fn f(v: &[i32]) -> Vec<f64> {
    v.iter().map(|&a| a as f64).collect()
}

#[test]
fn kendall_and_spearman_match_scipy() {
    case(
        "no_ties_n8 (exact p)",
        &[3.1, 1.2, 5.5, 4.4, 2.0, 8.1, 7.7, 6.0],
        &[2.0, 1.0, 4.0, 5.0, 3.0, 8.0, 6.0, 7.0],
        [
            0.7857142857142856,
            0.005505952380952381,
            0.9285714285714287,
            0.0008629681828999767,
        ],
    );
    case(
        "ties_n10 (asymptotic, tie-corrected)",
        &f(&[1, 2, 2, 3, 4, 4, 4, 5, 6, 7]),
        &f(&[2, 1, 3, 3, 5, 4, 6, 6, 7, 7]),
        [
            0.8675328468813838,
            0.0009011422639293584,
            0.9472232404686609,
            3.184013993451864e-05,
        ],
    );
    let x40: Vec<f64> = (0..40).map(|i| (i as f64 * 1.3).sin()).collect();
    let y40: Vec<f64> = (0..40)
        .map(|i| (i as f64 * 0.7).cos() + i as f64 / 20.0)
        .collect();
    case(
        "no_ties_n40 (asymptotic, n > 33)",
        &x40,
        &y40,
        [
            -0.020512820512820516,
            0.8521181125523042,
            -0.013883677298311447,
            0.9322393716997964,
        ],
    );
    let r50: Vec<f64> = (0..50).map(f64::from).collect();
    case(
        "sorted_n50 (exact, c = 0)",
        &r50,
        &r50,
        [1.0, 6.575898833266317e-65, 0.9999999999999999, 0.0],
    );
    let r40: Vec<f64> = (0..40).map(f64::from).collect();
    let mut s40 = r40.clone();
    s40.swap(0, 1);
    case(
        "one_swap_n40 (exact, c = 1)",
        &r40,
        &s40,
        [
            0.9974358974358974,
            9.804939513027087e-47,
            0.9998123827392121,
            1.0477258152676973e-66,
        ],
    );
    case(
        "reversed_n6",
        &f(&[1, 2, 3, 4, 5, 6]),
        &f(&[6, 5, 4, 3, 2, 1]),
        [-0.9999999999999999, 0.002777777777777778, -1.0, 0.0],
    );
    case(
        "constant_x",
        &f(&[1, 1, 1, 1]),
        &f(&[1, 2, 3, 4]),
        [f64::NAN, f64::NAN, f64::NAN, f64::NAN],
    );
    case(
        "n3",
        &f(&[1, 2, 3]),
        &f(&[1, 3, 2]),
        [0.33333333333333337, 1.0, 0.5, 0.6666666666666666],
    );
}

#[test]
fn pairwise_and_top_k_match_enumeration() {
    // Brute force in Python (fractions): pairwise accuracy over pairs with y_i != y_j
    // (x tie = 1/2); top-k = share of all tie-breaking orders of x whose first k items
    // contain a best item of y.
    //   import itertools; from fractions import Fraction
    //   def pairwise(x, y): ... (sum over pairs as described) / count
    //   def topk(x, y, k):
    //       best = {i for i in range(len(y)) if y[i] == max(y)}
    //       hits = tot = 0
    //       for perm in itertools.permutations(range(len(x))):
    //           order = sorted(range(len(x)), key=lambda i: (-x[i], perm[i]))
    //           hits += bool(best & set(order[:k])); tot += 1
    //       return Fraction(hits, tot)
    // ties_both -> 11/20, 1/3, 1; constant_x -> 1/2, 1/5, 3/5; perfect -> 1, 1, 1
    let cases: [(&[i32], &[i32], [f64; 3]); 3] = [
        (
            &[1, 2, 2, 3, 3, 3, 0],
            &[0, 5, 4, 5, 1, 2, 3],
            [11.0 / 20.0, 1.0 / 3.0, 1.0],
        ),
        (&[1, 1, 1, 1, 1], &[1, 2, 3, 4, 5], [0.5, 0.2, 0.6]),
        (&[1, 2, 3, 4, 5], &[10, 20, 30, 40, 50], [1.0, 1.0, 1.0]),
    ];
    for (x, y, want) in cases {
        let (x, y) = (f(x), f(y));
        assert!((pairwise_accuracy(&x, &y).unwrap() - want[0]).abs() < 1e-12);
        assert!((top_k_hit(&x, &y, 1).unwrap() - want[1]).abs() < 1e-12);
        assert!((top_k_hit(&x, &y, 3).unwrap() - want[2]).abs() < 1e-12);
    }
    // Reversed order: every pair wrong, the best item last.
    let x = f(&[5, 4, 3, 2, 1]);
    let y = f(&[1, 2, 3, 4, 5]);
    assert_eq!(pairwise_accuracy(&x, &y).unwrap(), 0.0);
    assert_eq!(top_k_hit(&x, &y, 3).unwrap(), 0.0);
    assert_eq!(top_k_hit(&x, &y, 5).unwrap(), 1.0);
    assert!(pairwise_accuracy(&x, &f(&[2, 2, 2, 2, 2]))
        .unwrap()
        .is_nan());
}

#[test]
fn all_metrics_serialise_nan_as_null() {
    let m = ranking_metrics(&f(&[3, 3, 3]), &f(&[1, 2, 3])).unwrap();
    let v = serde_json::to_value(m).unwrap();
    assert!(v["kendall_tau_b"].is_null());
    assert!(v["spearman_pvalue"].is_null());
    assert_eq!(v["pairwise_accuracy"], 0.5);
    assert!((v["top1"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-15);
    assert_eq!(v["top3"], 1.0);
}

#[test]
fn bad_input_is_an_error() {
    assert!(kendall_tau_b(&[1.0, 2.0], &[1.0]).is_err());
    assert!(spearman_rho(&[1.0, f64::NAN], &[1.0, 2.0]).is_err());
    assert!(kendall_tau_b(&[1.0], &[2.0]).unwrap().statistic.is_nan());
    // Two items: scipy.stats.spearmanr([0, 1], [1, 0]) -> (-0.9999999999999999, nan)
    // (0 degrees of freedom); kendalltau([0, 1], [0, 1]) -> (1.0, 1.0).
    let r = spearman_rho(&[0.0, 1.0], &[1.0, 0.0]).unwrap();
    assert!(close(r.statistic, -0.9999999999999999, 1e-15));
    assert!(r.pvalue.is_nan());
    let t = kendall_tau_b(&[0.0, 1.0], &[0.0, 1.0]).unwrap();
    assert_eq!((t.statistic, t.pvalue), (1.0, 1.0));
}

#[test]
fn exact_kendall_p_matches_enumeration() {
    // Two-sided exact p = min(1, 2·#{permutations with ≤ min(c, tot−c) concordant
    // pairs} / n!), enumerated in Python (and equal to scipy's _kendall_p_exact):
    //   def brute(n, c):
    //       tot = n*(n-1)//2; c = min(c, tot-c)
    //       cnt = sum(1 for p in itertools.permutations(range(n))
    //                 if sum(p[i] < p[j] for i in range(n) for j in range(i+1, n)) <= c)
    //       return min(1.0, 2*cnt/math.factorial(n))
    let n6 = [
        0.002777777777777778,
        0.016666666666666666,
        0.05555555555555555,
        0.1361111111111111,
        0.2722222222222222,
        0.46944444444444444,
        0.7194444444444444,
        1.0,
    ];
    for c in 0..16u64 {
        let want = n6[c.min(15 - c) as usize];
        assert!(close(kendall_p_exact(6, c), want, 1e-14), "n = 6, c = {c}");
    }
    assert!(close(kendall_p_exact(9, 11), 0.18018077601410934, 1e-14));
}

proptest! {
    /// τ-b and ρ are symmetric in (x, y), flip sign when y is negated and lie in [−1, 1];
    /// average ranks sum to n(n+1)/2.
    #[test]
    fn correlation_invariants(v in prop::collection::vec((0i32..6, 0i32..6), 2..25)) {
        let x: Vec<f64> = v.iter().map(|p| p.0 as f64).collect();
        let y: Vec<f64> = v.iter().map(|p| p.1 as f64).collect();
        let ny: Vec<f64> = y.iter().map(|a| -a).collect();
        let n = x.len() as f64;
        prop_assert!((average_ranks(&x).iter().sum::<f64>() - n * (n + 1.0) / 2.0).abs() < 1e-9);
        for corr in [kendall_tau_b, spearman_rho] {
            let a = corr(&x, &y).unwrap();
            let b = corr(&y, &x).unwrap();
            let c = corr(&x, &ny).unwrap();
            if a.statistic.is_nan() {
                prop_assert!(b.statistic.is_nan() && c.statistic.is_nan());
                continue;
            }
            prop_assert!((-1.0..=1.0).contains(&a.statistic));
            prop_assert!((a.statistic - b.statistic).abs() < 1e-12);
            prop_assert!((a.statistic + c.statistic).abs() < 1e-12);
            prop_assert!(close(a.pvalue, c.pvalue, 1e-12));
            prop_assert!(a.pvalue.is_nan() || (0.0..=1.0).contains(&a.pvalue));
        }
    }
}
