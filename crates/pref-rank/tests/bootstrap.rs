//! Bootstrap: percentile arithmetic against numpy, the rank rule, determinism across
//! thread counts, interval widths against the asymptotic (Fisher) standard errors,
//! coverage of known strengths, and the multinomial sampler.

use pref_data::{paths::shared_data_dir, BattleTable, Winner};
use pref_rank::bootstrap::{multinomial, percentile_sorted, ranks_from_intervals};
use pref_rank::{BootstrapParams, BtParams, Error, PairData, ParamGuard};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn fixtures() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[test]
fn percentiles_match_numpy_linear_interpolation() {
    // import numpy as np
    // v = np.sin(np.arange(1000) * 1.7) * 100
    // np.percentile(v, [2.5, 50, 97.5])
    //   -> [-99.70347846452857, 0.09183007595788711, 99.69636994711962]
    // w = np.array([3.0, -1.0, 7.5, 2.0, 2.0, 10.0, -4.0])
    // np.percentile(w, [2.5, 50, 97.5, 90]) -> [-3.55, 2.0, 9.625, 8.5]
    let mut v: Vec<f64> = (0..1000).map(|i| (i as f64 * 1.7).sin() * 100.0).collect();
    v.sort_by(f64::total_cmp);
    let want = [-99.70347846452857, 0.09183007595788711, 99.69636994711962];
    for (q, w) in [2.5, 50.0, 97.5].iter().zip(want) {
        assert_eq!(percentile_sorted(&v, *q), w, "q = {q}");
    }
    let mut w = vec![3.0, -1.0, 7.5, 2.0, 2.0, 10.0, -4.0];
    w.sort_by(f64::total_cmp);
    for (q, want) in [(2.5, -3.55), (50.0, 2.0), (97.5, 9.625), (90.0, 8.5)] {
        assert!((percentile_sorted(&w, q) - want).abs() < 1e-12, "q = {q}");
    }
}

#[test]
fn rank_rule() {
    // rank = 1 + #models whose lower bound exceeds this model's upper bound.
    let lower = [10.0, 0.0, -5.0, 20.0];
    let upper = [15.0, 12.0, 3.0, 30.0];
    assert_eq!(ranks_from_intervals(&lower, &upper), vec![2, 2, 3, 1]);
}

#[test]
fn deterministic_for_a_seed_whatever_the_thread_count() {
    let t = BattleTable::read(fixtures().join("battles.jsonl")).unwrap();
    let data = PairData::from_table(&t);
    let bt = BtParams::default().check().unwrap();
    let fit = bt.fit(&data).unwrap();
    let boot = BootstrapParams::default()
        .replicates(64)
        .seed(42)
        .check()
        .unwrap();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| boot.run(&bt, &data, &fit).unwrap())
    };
    let one = run(1);
    let two = run(2);
    let three = run(3);
    assert_eq!(one, two);
    assert_eq!(one, three);
    // A prefix of replicates is the same whatever B: replicate r only depends on (seed, r).
    let short = BootstrapParams::default()
        .replicates(10)
        .seed(42)
        .check()
        .unwrap()
        .run(&bt, &data, &fit)
        .unwrap();
    assert_eq!(short.samples[..], one.samples[..10]);
    // Another seed gives other draws.
    let other = BootstrapParams::default()
        .replicates(64)
        .seed(43)
        .check()
        .unwrap()
        .run(&bt, &data, &fit)
        .unwrap();
    assert_ne!(other.samples, one.samples);
}

/// Interval widths of 1,000 replicates against ±1.96 Fisher standard errors computed by
/// the scipy snippet of tests/bt.rs (`cov = (inv(h(t)) - 11'/k) / n`).
#[test]
fn interval_widths_match_fisher_standard_errors() {
    let Some(dir) = shared_data_dir() else { return };
    let t =
        BattleTable::read(dir.join("arena_battles/cnn_selfpref_llm_judge_battles.jsonl")).unwrap();
    let data = PairData::from_table(&t);
    let bt = BtParams::default().check().unwrap();
    let fit = bt.fit(&data).unwrap();
    let b = BootstrapParams::default()
        .seed(7)
        .check()
        .unwrap()
        .run(&bt, &data, &fit)
        .unwrap();
    assert_eq!(b.samples.len(), 1000);
    let se = [
        ("claude", 5.651445225799727),
        ("gpt35", 4.010925823847979),
        ("gpt4", 4.888636908921346),
        ("human", 6.084855111424353),
        ("llama", 3.9395875829647307),
    ];
    for (m, s) in se {
        let i = b.models.iter().position(|x| x == m).unwrap();
        let width = b.upper[i] - b.lower[i];
        let ratio = width / (2.0 * 1.959963984540054 * s);
        assert!(
            (0.88..1.12).contains(&ratio),
            "{m}: width {width}, ratio {ratio}"
        );
        let r = fit.ratings.values[i];
        assert!(b.lower[i] < r && r < b.upper[i]);
        assert!(
            (b.median[i] - r).abs() < 0.5 * s,
            "{m}: median {} vs {r}",
            b.median[i]
        );
    }
    // gpt4 is clearly first; human clearly last.
    let rank = |m: &str| b.rank[b.models.iter().position(|x| x == m).unwrap()];
    assert_eq!(rank("gpt4"), 1);
    assert_eq!(rank("human"), 5);
}

#[test]
fn intervals_cover_known_strengths() {
    // 8 models with known θ, 20,000 simulated battles; 95 % intervals should cover
    // (nearly) all true centred ratings.
    let theta: Vec<f64> = (0..8).map(|i| -1.0 + 2.0 * i as f64 / 7.0).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut t = BattleTable::new();
    for m in 0..8 {
        t.intern(&format!("m{m}"));
    }
    for _ in 0..20_000 {
        let a = rng.random_range(0..8usize);
        let b = (a + 1 + rng.random_range(0..7usize)) % 8;
        let p = 1.0 / (1.0 + (theta[b] - theta[a]).exp());
        let w = if rng.random::<f64>() < p {
            Winner::A
        } else {
            Winner::B
        };
        t.push_ids(a as u32, b as u32, w);
    }
    let data = PairData::from_table(&t);
    let bt = BtParams::default().check().unwrap();
    let fit = bt.fit(&data).unwrap();
    let b = BootstrapParams::default()
        .replicates(400)
        .seed(1)
        .check()
        .unwrap()
        .run(&bt, &data, &fit)
        .unwrap();
    let c = 400.0 / 10f64.ln();
    let covered = (0..8)
        .filter(|&m| {
            let r = c * theta[m] + 1000.0;
            b.lower[m] <= r && r <= b.upper[m]
        })
        .count();
    assert!(covered >= 7, "covered {covered} of 8");
    // Strengths 0.29 apart (≈ 50 Elo) with ~5,000 battles each are all separated
    // from the extremes.
    assert_eq!(b.rank[7], 1);
    assert!(b.rank[0] >= 7);
}

#[test]
fn anchored_bootstrap_pins_the_anchor() {
    let t = BattleTable::read(fixtures().join("battles.jsonl")).unwrap();
    let data = PairData::from_table(&t);
    let bt = BtParams::default()
        .anchor("dune-1b", 800.0)
        .check()
        .unwrap();
    let fit = bt.fit(&data).unwrap();
    let b = BootstrapParams::default()
        .replicates(50)
        .check()
        .unwrap()
        .run(&bt, &data, &fit)
        .unwrap();
    let i = b.models.iter().position(|m| m == "dune-1b").unwrap();
    assert!(b.samples.iter().all(|s| (s[i] - 800.0).abs() < 1e-9));
}

#[test]
fn a_degenerate_replicate_is_reported() {
    // One battle links the two halves: many replicates drop it.
    let mut t = BattleTable::new();
    for _ in 0..5 {
        t.push("a", "b", Winner::A);
        t.push("a", "b", Winner::B);
        t.push("c", "d", Winner::A);
        t.push("c", "d", Winner::B);
    }
    t.push("b", "c", Winner::Tie);
    let data = PairData::from_table(&t);
    let bt = BtParams::default().check().unwrap();
    let fit = bt.fit(&data).unwrap();
    let err = BootstrapParams::default()
        .replicates(100)
        .check()
        .unwrap()
        .run(&bt, &data, &fit)
        .unwrap_err();
    match err {
        Error::Bootstrap { source, .. } => {
            assert!(matches!(
                *source,
                Error::Disconnected { .. } | Error::NoFiniteMle { .. }
            ))
        }
        other => panic!("{other:?}"),
    }
    // With a weak prior every replicate fits.
    let bt = BtParams::default().prior_precision(0.01).check().unwrap();
    let fit = bt.fit(&data).unwrap();
    assert!(BootstrapParams::default()
        .replicates(100)
        .check()
        .unwrap()
        .run(&bt, &data, &fit)
        .is_ok());
}

#[test]
fn invalid_params_are_named() {
    for (p, name) in [
        (BootstrapParams::default().replicates(0), "replicates"),
        (BootstrapParams::default().level(1.0), "level"),
    ] {
        match p.check() {
            Err(Error::InvalidParam { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn multinomial_moments() {
    // Mean n·p and variance n·p(1−p) of each cell over 4,000 draws.
    let counts = [50u64, 30, 15, 5];
    let n = 100u64;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let reps = 4000;
    let mut sum = [0f64; 4];
    let mut sq = [0f64; 4];
    for _ in 0..reps {
        let x = multinomial(&mut rng, n, &counts);
        for c in 0..4 {
            sum[c] += x[c] as f64;
            sq[c] += (x[c] * x[c]) as f64;
        }
    }
    for c in 0..4 {
        let p = counts[c] as f64 / 100.0;
        let mean = sum[c] / reps as f64;
        let var = sq[c] / reps as f64 - mean * mean;
        let sd_mean = (n as f64 * p * (1.0 - p) / reps as f64).sqrt();
        assert!(
            (mean - n as f64 * p).abs() < 4.0 * sd_mean,
            "cell {c}: mean {mean}"
        );
        let v = n as f64 * p * (1.0 - p);
        assert!((var / v - 1.0).abs() < 0.1, "cell {c}: var {var} vs {v}");
    }
}

proptest! {
    #[test]
    fn multinomial_preserves_the_total(counts in prop::collection::vec(0u64..50, 1..30), n in 0u64..500, seed in any::<u64>()) {
        prop_assume!(counts.iter().sum::<u64>() > 0);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = multinomial(&mut rng, n, &counts);
        prop_assert_eq!(x.iter().sum::<u64>(), n);
        for (xi, ci) in x.iter().zip(&counts) {
            if *ci == 0 { prop_assert_eq!(*xi, 0); }
        }
    }
}
