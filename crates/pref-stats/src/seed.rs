//! Bootstrap seeding: one random stream per replicate.
//!
//! Replicate `r` of a computation seeded with `seed` draws from ChaCha8 keyed by
//! `seed_from_u64(seed)` on stream `r` ([`replicate_rng`]). Every replicate owns its
//! generator, so results are identical whatever the number of threads or the order
//! replicates run in, and replicate `r` draws the same numbers whether 10 or 1000
//! replicates are run. The same rule serves any parallel work split into indexed
//! pieces (blocks of rows, for example).
//!
//! Randomness that is not a replicate (a permutation, an initialisation) uses its own
//! generator from the seed, or a seed derived from it, rather than one of the
//! replicate streams.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator of replicate (or block) `replicate` of a computation seeded with
/// `seed`: ChaCha8 from `seed_from_u64(seed)`, on stream `replicate`.
pub fn replicate_rng(seed: u64, replicate: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(replicate);
    rng
}

/// Percentile bootstrap interval at `level` (0.95: the 2.5th and 97.5th
/// percentiles) of a statistic of `n` observations: replicate `r` resamples
/// `n` indices with replacement from [`replicate_rng`]`(seed, r)` and passes
/// them to `stat`; replicates where it is undefined (`None` or not finite)
/// are left out. `[NaN, NaN]` when none is defined.
pub fn bootstrap_interval(
    n: usize,
    replicates: usize,
    level: f64,
    seed: u64,
    stat: impl Fn(&[usize]) -> Option<f64>,
) -> [f64; 2] {
    let mut values = Vec::with_capacity(replicates);
    let mut idx = vec![0; n];
    if n > 0 {
        for r in 0..replicates {
            let mut rng = replicate_rng(seed, r as u64);
            for i in idx.iter_mut() {
                *i = rng.random_range(0..n);
            }
            if let Some(v) = stat(&idx).filter(|v| v.is_finite()) {
                values.push(v);
            }
        }
    }
    if values.is_empty() {
        return [f64::NAN, f64::NAN];
    }
    crate::quantile::percentile_interval(&values, level, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interval of the mean of 0..10 brackets 4.5 within the data's range
    /// and spans about ±1.96 standard errors: the standard error of that mean
    /// is sqrt(8.25 / 10) = 0.908, so the width is near 3.56. A constant
    /// statistic's interval is the constant.
    #[test]
    fn the_bootstrap_interval_brackets_the_statistic() {
        let v: Vec<f64> = (0..10).map(f64::from).collect();
        let mean = |idx: &[usize]| Some(idx.iter().map(|&i| v[i]).sum::<f64>() / 10.0);
        let ci = bootstrap_interval(v.len(), 1000, 0.95, 0, mean);
        assert!(
            ci[0] < 4.5 && ci[1] > 4.5 && ci[0] >= 0.0 && ci[1] <= 9.0,
            "{ci:?}"
        );
        assert!((ci[1] - ci[0] - 3.56).abs() < 0.5, "{ci:?}");
        assert_eq!(
            bootstrap_interval(5, 200, 0.95, 1, |_| Some(2.0)),
            [2.0, 2.0]
        );
        assert!(bootstrap_interval(0, 200, 0.95, 1, |_| Some(2.0))[0].is_nan());
    }
}
