//! The mean of a sample with its Student-t interval: how the studies summarise a
//! metric over seeds or a label over prompts (`docs/personal-rank.md`,
//! `docs/arena-cje.md`).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A mean with its t interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanInterval {
    /// The mean.
    pub mean: f64,
    /// Its standard error: the sample sd (n − 1 in the denominator) over √n.
    pub se: f64,
    /// mean ± t_{(1+level)/2, n−1} · se.
    pub ci: [f64; 2],
    /// Values averaged.
    pub n: usize,
}

impl MeanInterval {
    /// Whether the interval lies strictly above `x` or strictly below it.
    pub fn excludes(&self, x: f64) -> bool {
        self.ci[0] > x || self.ci[1] < x
    }
}

/// The mean of `values` with its two-sided t interval at `level` (in (0, 1));
/// `None` with fewer than two values, a non-finite value or a level outside (0, 1).
/// Equal values give a zero-width interval.
pub fn t_interval(values: &[f64], level: f64) -> Option<MeanInterval> {
    let n = values.len();
    if n < 2 || !(level > 0.0 && level < 1.0) || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let m = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    let se = (var / n as f64).sqrt();
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .ok()?
        .inverse_cdf(0.5 + level / 2.0);
    Some(MeanInterval {
        mean: m,
        se,
        ci: [m - t * se, m + t * se],
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_scipy() {
        // import numpy as np; from scipy import stats
        // v = np.array([0.2, 0.5, 0.35, 0.9, 0.1]); m = v.mean(); se = stats.sem(v)
        // print(m, se, stats.t.interval(0.95, 4, loc=m, scale=se))
        // 0.41 0.13999999999999999 (0.021297685272308964, 0.798702314727691)
        let r = t_interval(&[0.2, 0.5, 0.35, 0.9, 0.1], 0.95).unwrap();
        assert!((r.mean - 0.41).abs() < 1e-15);
        assert!((r.se - 0.13999999999999999).abs() < 1e-15);
        assert!((r.ci[0] - 0.021297685272308964).abs() < 1e-9);
        assert!((r.ci[1] - 0.798702314727691).abs() < 1e-9);
        assert_eq!(r.n, 5);
        assert!(r.excludes(0.0) && !r.excludes(0.5));
    }

    #[test]
    fn refuses_what_has_no_interval() {
        assert!(t_interval(&[1.0], 0.95).is_none());
        assert!(t_interval(&[1.0, f64::NAN], 0.95).is_none());
        assert!(t_interval(&[1.0, 2.0], 1.0).is_none());
        let flat = t_interval(&[0.5, 0.5, 0.5], 0.95).unwrap();
        assert_eq!(flat.ci, [0.5, 0.5]);
    }
}
