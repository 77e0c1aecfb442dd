//! Property tests of the Thurstonian objective and fit.

use pref_utility::thurstonian::objective_and_gradient;
use pref_utility::{PairData, SimulatedOracle, ThurstonianParams, Weighting};
use proptest::prelude::*;

/// A random data set: `n` items, every pair with probability ½, counts 0..8.
fn data_strategy() -> impl Strategy<Value = PairData> {
    (3usize..8, any::<u64>()).prop_map(|(n, seed)| {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut d = PairData::with_items((0..n).map(|i| format!("x{i}")).collect()).unwrap();
        for a in 0..n {
            for b in (a + 1)..n {
                if d.is_empty() || rng.random_bool(0.5) {
                    let (ca, cb) = (rng.random_range(0..8) as f64, rng.random_range(0..8) as f64);
                    if rng.random_bool(0.5) {
                        d.push(a, b, ca + 0.5, cb).unwrap();
                    } else {
                        d.push(b, a, cb, ca + 0.5).unwrap();
                    }
                }
            }
        }
        d
    })
}

fn params_strategy() -> impl Strategy<Value = ThurstonianParams> {
    (
        prop_oneof![Just(None), (0.5f64..10.0).prop_map(Some)],
        prop_oneof![Just(None), (0.5f64..10.0).prop_map(Some)],
        prop_oneof![Just(Weighting::Counts), Just(Weighting::PerPair)],
    )
        .prop_map(|(m, s, w)| {
            ThurstonianParams::default()
                .mu_prior_sd(m)
                .s_prior_sd(s)
                .weighting(w)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The analytic gradient matches central finite differences of the objective,
    /// including the tails of Φ (|z| up to ~25).
    #[test]
    fn gradient_matches_finite_differences(
        data in data_strategy(),
        params in params_strategy(),
        raw in proptest::collection::vec((-4.0f64..4.0, -3.0f64..2.0), 8),
    ) {
        let n = data.n_items();
        let theta: Vec<f64> = raw.iter().take(n).flat_map(|&(m, s)| [m, s]).collect();
        let (_, g) = objective_and_gradient(&data, &params, &theta).unwrap();
        for k in 0..theta.len() {
            let h = 1e-6 * (1.0 + theta[k].abs());
            let mut tp = theta.clone();
            tp[k] += h;
            let mut tm = theta.clone();
            tm[k] -= h;
            let fp = objective_and_gradient(&data, &params, &tp).unwrap().0;
            let fm = objective_and_gradient(&data, &params, &tm).unwrap().0;
            let fd = (fp - fm) / (2.0 * h);
            prop_assert!((fd - g[k]).abs() < 1e-6 * (1.0 + g[k].abs()), "k={k}: analytic {} vs fd {fd}", g[k]);
        }
    }

    /// Renaming, reordering and flipping pairs changes nothing but the labels.
    #[test]
    fn predictions_are_invariant_to_relabelling(data in data_strategy(), perm_seed in any::<u64>()) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(perm_seed);
        let n = data.n_items();
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut rng);
        // Item i is called "y{perm[i]}" and gets index perm[i]; pairs are reversed
        // in order and flipped in orientation.
        let mut names = vec![String::new(); n];
        for i in 0..n {
            names[perm[i]] = format!("y{}", perm[i]);
        }
        let mut other = PairData::with_items(names).unwrap();
        for k in (0..data.len()).rev() {
            let (a, b, ca, cb) = data.pair(k);
            other.push(perm[b], perm[a], cb, ca).unwrap();
        }
        let params = ThurstonianParams::default().tol_cost(0.0).tol_grad(1e-10).max_iters(3000);
        let m1 = params.fit(&data).unwrap();
        let m2 = params.fit(&other).unwrap();
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let p1 = m1.prob(i, j);
                    let p2 = m2.prob(perm[i], perm[j]);
                    prop_assert!((p1 - p2).abs() < 1e-5, "P({i},{j}) = {p1} vs {p2}");
                }
            }
            prop_assert!((m1.mu()[i] - m2.mu()[perm[i]]).abs() < 1e-4);
        }
    }
}

/// Pearson correlation, for the recovery test.
fn corr(x: &[f64], y: &[f64]) -> f64 {
    pref_utility::pearson(x, y).unwrap()
}

#[test]
fn recovers_known_utilities_on_simulated_data() {
    // 200 items, 3000 random pairs, 10 draws each.
    use rand::{Rng, SeedableRng};
    let n = 200;
    let mut oracle = SimulatedOracle::random(n, -1.0, 0.5, 10, 11).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut data = PairData::with_items((0..n).map(|i| format!("o{i}")).collect()).unwrap();
    let mut seen = std::collections::HashSet::new();
    while data.len() < 3000 {
        let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
        if a != b && seen.insert((a.min(b), a.max(b))) {
            let (ca, cb) = oracle.draw(a, b);
            data.push(a, b, ca, cb).unwrap();
        }
    }
    let m = ThurstonianParams::default().fit(&data).unwrap();
    let r = corr(m.mu(), oracle.mu());
    assert!(r > 0.97, "correlation with the true utilities: {r}");
    // σ² is harder to identify, but must correlate positively with the truth.
    let rs = corr(m.sigma2(), oracle.sigma2());
    assert!(rs > 0.3, "correlation of sigma2 with the truth: {rs}");
}

#[test]
fn fit_is_deterministic_and_independent_of_threads() {
    use rand::{Rng, SeedableRng};
    // Enough pairs for several parallel chunks.
    let n = 2000;
    let mut oracle = SimulatedOracle::random(n, -1.0, 0.5, 10, 3).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut data = PairData::with_items((0..n).map(|i| format!("o{i}")).collect()).unwrap();
    while data.len() < 70_000 {
        let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
        if a != b {
            let (ca, cb) = oracle.draw(a, b);
            data.push(a, b, ca, cb).unwrap();
        }
    }
    let p = ThurstonianParams::default().seed(42).max_iters(60);
    let m1 = p.fit(&data).unwrap();
    let m2 = p.fit(&data).unwrap();
    let m3 = p.clone().parallel(false).fit(&data).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let m4 = pool.install(|| p.fit(&data).unwrap());
    for m in [&m2, &m3, &m4] {
        assert_eq!(m1.mu(), m.mu());
        assert_eq!(m1.sigma2(), m.sigma2());
        assert_eq!(m1.stats.iterations, m.stats.iterations);
    }
    // A different seed starts elsewhere (and lands on the same optimum only approximately).
    let m5 = p.clone().seed(43).fit(&data).unwrap();
    assert_ne!(m1.mu(), m5.mu());
}
