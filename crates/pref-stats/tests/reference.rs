//! Reference values from numpy 2.4.6 / scipy 1.17.1 (and, for the seeding rule, a
//! plain-Python ChaCha8), with the generating snippets next to the numbers.

use pref_stats::{
    average_ranks, pearson, percentile, percentile_sorted, quantile_sorted, replicate_rng,
    spearman, Error, ParamError,
};
use proptest::prelude::*;
use rand::{Rng, RngCore, SeedableRng};

fn close(got: f64, want: f64, rel: f64, what: &str) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

/// `v = [((i * 7919) % 1009) / 64 - 7.25 for i in range(200)] + [3.0] * 5`: exact
/// binary fractions, so Rust and Python hold the same numbers.
fn v() -> Vec<f64> {
    let mut v: Vec<f64> = (0..200)
        .map(|i| ((i * 7919) % 1009) as f64 / 64.0 - 7.25)
        .collect();
    v.extend([3.0; 5]);
    v
}

#[test]
fn quantiles_equal_numpy_to_the_last_bit() {
    // import numpy as np
    // v = np.array([((i * 7919) % 1009) / 64.0 - 7.25 for i in range(200)] + [3.0] * 5)
    // qs = [0.0, 0.025, 0.1, 0.25, 0.5, 0.735, 0.9, 0.975, 0.999, 1.0]
    // np.quantile(v, qs)
    //   -> [-7.25, -6.853125, -5.6, -3.171875, 0.828125, 4.3196875, 6.88125, 8.1265625, 8.440375, 8.453125]
    // np.percentile(v, [0.0, 2.5, 10.0, 25.0, 50.0, 73.5, 90.0, 97.5, 99.9, 100.0])
    //   -> the same except 99.9 -> 8.440375000000001 (99.9 / 100 is not the double 0.999)
    let mut s = v();
    s.sort_by(f64::total_cmp);
    let qs = [0.0, 0.025, 0.1, 0.25, 0.5, 0.735, 0.9, 0.975, 0.999, 1.0];
    let want = [
        -7.25, -6.853125, -5.6, -3.171875, 0.828125, 4.3196875, 6.88125, 8.1265625, 8.440375,
        8.453125,
    ];
    for (q, w) in qs.iter().zip(want) {
        assert_eq!(quantile_sorted(&s, *q), w, "q = {q}");
    }
    let ps = [0.0, 2.5, 10.0, 25.0, 50.0, 73.5, 90.0, 97.5, 99.9, 100.0];
    let mut want_p = want;
    want_p[8] = 8.440375000000001;
    let mut scratch = Vec::new();
    for (p, w) in ps.iter().zip(want_p) {
        assert_eq!(percentile_sorted(&s, *p), w, "p = {p}");
        assert_eq!(percentile(&v(), *p, &mut scratch), w, "unsorted, p = {p}");
    }
}

#[test]
fn central_intervals_equal_numpy() {
    // np.percentile(v, [2.5, 97.5]) -> [-6.853125, 8.1265625]
    // np.percentile(v, [25, 75])    -> [-3.171875, 4.515625]
    let mut scratch = Vec::new();
    assert_eq!(
        pref_stats::percentile_interval(&v(), 0.95, &mut scratch),
        [-6.853125, 8.1265625]
    );
    assert_eq!(
        pref_stats::percentile_interval(&v(), 0.5, &mut scratch),
        [-3.171875, 4.515625]
    );
    assert_eq!(pref_stats::central_percentiles(0.95), (2.5, 97.5));
    assert!(pref_stats::percentile_interval(&[], 0.95, &mut scratch)[0].is_nan());
}

#[test]
fn interpolation_is_numpys_lerp() {
    // numpy evaluates a + t(b − a) for t < ½ and b − (1 − t)(b − a) for t ≥ ½; at 87.5
    // the naive formula gives 166668.11666666664.
    // w = np.array([1e6 / 3.0, 0.1, 2.9, 0.7, 1.3])
    // np.percentile(w, [12.5, 17.0, 62.5, 87.5, 99.0])
    //   -> [0.39999999999999997, 0.508, 2.1, 166668.11666666667, 320000.116]
    let w = [1e6 / 3.0, 0.1, 2.9, 0.7, 1.3];
    let mut s = w.to_vec();
    s.sort_by(f64::total_cmp);
    let want = [
        (12.5, 0.39999999999999997),
        (17.0, 0.508),
        (62.5, 2.1),
        (87.5, 166668.11666666667),
        (99.0, 320000.116),
    ];
    let mut scratch = Vec::new();
    for (p, x) in want {
        assert_eq!(percentile_sorted(&s, p), x, "p = {p}");
        assert_eq!(percentile(&w, p, &mut scratch), x, "unsorted, p = {p}");
    }
}

#[test]
fn undefined_quantiles_are_nan_and_q_is_clamped() {
    let mut scratch = Vec::new();
    assert!(quantile_sorted(&[], 0.5).is_nan());
    assert!(percentile(&[], 50.0, &mut scratch).is_nan());
    assert!(quantile_sorted(&[1.0, 2.0], f64::NAN).is_nan());
    // np.percentile([1.0, np.nan, 2.0], 50) -> nan
    let mut s = vec![1.0, f64::NAN, 2.0];
    s.sort_by(f64::total_cmp);
    assert!(percentile_sorted(&s, 50.0).is_nan());
    assert!(percentile(&[1.0, f64::NAN, 2.0], 50.0, &mut scratch).is_nan());
    assert_eq!(quantile_sorted(&[4.0], 0.3), 4.0);
    assert_eq!(quantile_sorted(&[1.0, 2.0], -0.5), 1.0);
    assert_eq!(percentile(&[2.0, 1.0], 150.0, &mut scratch), 2.0);
}

#[test]
fn ranks_and_correlations_match_scipy() {
    // import numpy as np
    // from scipy.stats import pearsonr, spearmanr, rankdata
    // x = [((i * 37) % 11) / 4.0 for i in range(30)]            # many ties
    // y = [((i * 53) % 17) / 8.0 + i / 32.0 for i in range(30)]  # a few ties
    // rankdata(x)  -> [2.0, 13.0, 24.0, 5.0, 16.0, 27.0, 8.0, 19.0, 29.5, 10.5, 21.5, ...]
    // pearsonr(x, y).statistic  -> 0.18218852537272373
    // spearmanr(x, y).statistic -> 0.17554572941847885
    // a = [0.5, -1.25, 3.0, 2.0, 7.75]; b = [1.0, 0.0, 2.5, 2.5, 9.0]
    // pearsonr(a, b).statistic -> 0.9789180666317437; spearmanr(a, b).statistic -> 0.9746794344808964
    // pearsonr([0, 1], [1, 0]).statistic -> -1.0; spearmanr([0, 1], [1, 0]).statistic -> -0.9999999999999999
    let x: Vec<f64> = (0..30).map(|i| ((i * 37) % 11) as f64 / 4.0).collect();
    let y: Vec<f64> = (0..30)
        .map(|i| ((i * 53) % 17) as f64 / 8.0 + i as f64 / 32.0)
        .collect();
    let r = average_ranks(&x);
    assert_eq!(
        r[..11],
        [2.0, 13.0, 24.0, 5.0, 16.0, 27.0, 8.0, 19.0, 29.5, 10.5, 21.5]
    );
    assert_eq!(r[11..22], r[..11]);
    close(
        pearson(&x, &y).unwrap(),
        0.18218852537272373,
        1e-14,
        "pearson",
    );
    close(
        spearman(&x, &y).unwrap(),
        0.17554572941847885,
        1e-14,
        "spearman",
    );
    let a = [0.5, -1.25, 3.0, 2.0, 7.75];
    let b = [1.0, 0.0, 2.5, 2.5, 9.0];
    close(
        pearson(&a, &b).unwrap(),
        0.9789180666317437,
        1e-14,
        "pearson",
    );
    close(
        spearman(&a, &b).unwrap(),
        0.9746794344808964,
        1e-14,
        "spearman",
    );
    close(
        pearson(&[0.0, 1.0], &[1.0, 0.0]).unwrap(),
        -1.0,
        1e-15,
        "n = 2",
    );
    close(
        spearman(&[0.0, 1.0], &[1.0, 0.0]).unwrap(),
        -0.9999999999999999,
        1e-15,
        "n = 2",
    );
}

#[test]
fn constant_input_is_nan_and_bad_input_an_error() {
    // pearsonr([0.1, 0.1, 0.1], [1, 2, 3]).statistic -> nan (ConstantInputWarning), the
    // same for spearmanr; np.corrcoef gives 0.0 here, because 0.1·3/3 ≠ 0.1 leaves a
    // tiny variance. rankdata([1.0, np.nan, 2.0]) -> [nan, nan, nan]
    assert!(pearson(&[0.1, 0.1, 0.1], &[1.0, 2.0, 3.0])
        .unwrap()
        .is_nan());
    assert!(spearman(&[1.0, 2.0, 3.0], &[0.1, 0.1, 0.1])
        .unwrap()
        .is_nan());
    assert!(average_ranks(&[1.0, f64::NAN, 2.0])
        .iter()
        .all(|r| r.is_nan()));
    assert_eq!(
        pearson(&[1.0, 2.0, 3.0], &[1.0, 2.0]),
        Err(Error::LengthMismatch { x: 3, y: 2 })
    );
    assert_eq!(
        spearman(&[1.0], &[1.0]),
        Err(Error::TooFew {
            what: "spearman",
            needed: 2,
            got: 1
        })
    );
    assert_eq!(
        pearson(&[1.0, 2.0], &[1.0, f64::INFINITY]),
        Err(Error::NonFinite {
            name: "y",
            index: 1
        })
    );
    assert_eq!(
        spearman(&[1.0, 2.0, 3.0], &[1.0]).unwrap_err().to_string(),
        "x has 3 values but y has 1"
    );
}

#[test]
fn replicate_streams_follow_the_documented_rule() {
    // Plain Python, independent of rand_chacha: rand_core's seed_from_u64 (PCG32 fill
    // of the 32-byte key), ChaCha with 8 rounds, block counter in words 12-13, stream
    // in words 14-15, next_u64 = word 2k | word 2k+1 << 32:
    //   M32, M64 = 2**32 - 1, 2**64 - 1
    //   def seed_from_u64(state):
    //       out = b""
    //       for _ in range(8):
    //           state = (state * 6364136223846793005 + 11634580027462260723) & M64
    //           xs = (((state >> 18) ^ state) >> 27) & M32
    //           rot = state >> 59
    //           out += (((xs >> rot) | (xs << (32 - rot))) & M32).to_bytes(4, "little")
    //       return out
    //   def block(key, counter, stream):
    //       s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    //       s += [int.from_bytes(key[4 * i:4 * i + 4], "little") for i in range(8)]
    //       s += [counter & M32, counter >> 32, stream & M32, stream >> 32]
    //       x = list(s)
    //       rotl = lambda v, n: ((v << n) | (v >> (32 - n))) & M32
    //       def qr(a, b, c, d):
    //           x[a] = (x[a] + x[b]) & M32; x[d] = rotl(x[d] ^ x[a], 16)
    //           x[c] = (x[c] + x[d]) & M32; x[b] = rotl(x[b] ^ x[c], 12)
    //           x[a] = (x[a] + x[b]) & M32; x[d] = rotl(x[d] ^ x[a], 8)
    //           x[c] = (x[c] + x[d]) & M32; x[b] = rotl(x[b] ^ x[c], 7)
    //       for _ in range(4):
    //           qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
    //           qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
    //       return [(a + b) & M32 for a, b in zip(x, s)]
    //   def first_u64s(seed, stream, k):
    //       w = block(seed_from_u64(seed), 0, stream)
    //       return [w[2 * i] | (w[2 * i + 1] << 32) for i in range(k)]
    //   for seed, stream in [(0, 0), (42, 0), (42, 7), (42, 2**63 + 5)]:
    //       print(seed, stream, first_u64s(seed, stream, 3))
    let want: [(u64, u64, [u64; 3]); 4] = [
        (
            0,
            0,
            [
                13080132717333068652,
                8594738769458413623,
                12896916468484187878,
            ],
        ),
        (
            42,
            0,
            [
                12578764544318200737,
                17529487244874322312,
                7886285670807131020,
            ],
        ),
        (
            42,
            7,
            [
                2370525664269707216,
                6019739031913071421,
                11352947354031309824,
            ],
        ),
        (
            42,
            (1 << 63) + 5,
            [
                648501991944994406,
                15687772685509079517,
                15525570442637664692,
            ],
        ),
    ];
    for (seed, stream, w) in want {
        let mut rng = replicate_rng(seed, stream);
        let got = [rng.next_u64(), rng.next_u64(), rng.next_u64()];
        assert_eq!(got, w, "seed {seed}, stream {stream}");
    }
    // Stream 0 is the plain seeded generator.
    let a: u64 = replicate_rng(9, 0).random();
    let b: u64 = rand_chacha::ChaCha8Rng::seed_from_u64(9).random();
    assert_eq!(a, b);
}

mod params {
    #[derive(Debug, PartialEq)]
    pub enum Error {
        InvalidParam { name: &'static str, message: String },
    }
    impl From<pref_stats::ParamError> for Error {
        fn from(e: pref_stats::ParamError) -> Self {
            Error::InvalidParam {
                name: e.name,
                message: e.message,
            }
        }
    }
    pref_stats::param_guard!(Error);
}

#[derive(Debug, Clone, PartialEq)]
struct Toy {
    lr: f64,
    decay: f64,
    level: f64,
}

impl params::ParamGuard for Toy {
    fn validate(&self) -> Result<(), params::Error> {
        pref_stats::positive("lr", self.lr)?;
        pref_stats::non_negative("decay", self.decay)?;
        pref_stats::open_unit_interval("level", self.level)?;
        Ok(())
    }
}

impl params::Checked<Toy> {
    fn step(&self) -> f64 {
        self.lr * (1.0 - self.decay)
    }
}

#[test]
fn param_guard_checks_once_and_validators_name_the_field() {
    use params::ParamGuard;
    let ok = Toy {
        lr: 0.5,
        decay: 0.0,
        level: 0.95,
    };
    let checked = ok.clone().check().unwrap();
    assert_eq!(checked.step(), 0.5);
    assert_eq!(checked.params(), &ok);
    assert_eq!(checked.into_inner(), ok);
    let bad = Toy { decay: -1.0, ..ok };
    assert_eq!(
        bad.check().unwrap_err(),
        params::Error::InvalidParam {
            name: "decay",
            message: "must be finite and ≥ 0, got -1".into()
        }
    );
    let cases = [
        (pref_stats::finite("x", f64::NAN), "must be finite, got NaN"),
        (
            pref_stats::positive("x", 0.0),
            "must be finite and > 0, got 0",
        ),
        (
            pref_stats::positive("x", f64::INFINITY),
            "must be finite and > 0, got inf",
        ),
        (
            pref_stats::non_negative("x", -0.5),
            "must be finite and ≥ 0, got -0.5",
        ),
        (
            pref_stats::at_least("x", 0.9, 1.0),
            "must be finite and ≥ 1, got 0.9",
        ),
        (
            pref_stats::open_unit_interval("x", 1.0),
            "must lie in (0, 1), got 1",
        ),
        (
            pref_stats::unit_interval("x", 1.5),
            "must lie in [0, 1], got 1.5",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, Err(ParamError::new("x", want)));
    }
    assert_eq!(
        ParamError::new("lr", "must be finite and > 0, got 0").to_string(),
        "invalid parameter `lr`: must be finite and > 0, got 0"
    );
    assert!(pref_stats::unit_interval("x", 0.0).is_ok());
    assert!(pref_stats::at_least("x", 1.0, 1.0).is_ok());
    assert!(pref_stats::open_unit_interval("x", f64::NAN).is_err());
}

proptest! {
    /// The unsorted percentile is bit-identical to the sorted one, and quantiles are
    /// monotone in q and lie within [min, max].
    #[test]
    fn unsorted_equals_sorted(
        v in prop::collection::vec(-1e3f64..1e3, 1..60),
        p in 0.0f64..=100.0,
        p2 in 0.0f64..=100.0,
    ) {
        let mut s = v.clone();
        s.sort_by(f64::total_cmp);
        let mut scratch = Vec::new();
        let a = percentile_sorted(&s, p);
        prop_assert_eq!(a.to_bits(), percentile(&v, p, &mut scratch).to_bits());
        prop_assert!(s[0] <= a && a <= s[s.len() - 1]);
        let (lo, hi) = (p.min(p2), p.max(p2));
        prop_assert!(percentile_sorted(&s, lo) <= percentile_sorted(&s, hi));
    }

    /// Ranks sum to n(n+1)/2; Spearman is symmetric, flips sign with y, lies in [−1, 1].
    #[test]
    fn correlation_invariants(v in prop::collection::vec((0i32..6, 0i32..6), 2..25)) {
        let x: Vec<f64> = v.iter().map(|p| p.0 as f64).collect();
        let y: Vec<f64> = v.iter().map(|p| p.1 as f64).collect();
        let ny: Vec<f64> = y.iter().map(|a| -a).collect();
        let n = x.len() as f64;
        prop_assert!((average_ranks(&x).iter().sum::<f64>() - n * (n + 1.0) / 2.0).abs() < 1e-9);
        for corr in [pearson, spearman] {
            let a = corr(&x, &y).unwrap();
            let b = corr(&y, &x).unwrap();
            let c = corr(&x, &ny).unwrap();
            if a.is_nan() {
                prop_assert!(b.is_nan() && c.is_nan());
                continue;
            }
            prop_assert!((-1.0..=1.0).contains(&a));
            prop_assert!((a - b).abs() < 1e-12);
            prop_assert!((a + c).abs() < 1e-12);
        }
    }
}
