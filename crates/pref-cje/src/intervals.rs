//! Standard errors from influence functions (cluster-robust), the oracle
//! jackknife term, and normal / percentile intervals.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Cluster-robust variance of a mean estimator from its per-row influence values:
/// `G/(G−1) · Σ_g (Σ_{i∈g} φ_i)² / n²`, with G the number of clusters that have rows.
/// With one row per cluster and `Σφ = 0` this is the sample variance of φ over n.
pub fn cluster_variance(phi: &[f64], cluster: &[u32], n_clusters: usize) -> f64 {
    let n = phi.len() as f64;
    let mut sums = vec![0.0; n_clusters];
    let mut has = vec![false; n_clusters];
    for (&p, &c) in phi.iter().zip(cluster) {
        sums[c as usize] += p;
        has[c as usize] = true;
    }
    let g = has.iter().filter(|&&h| h).count() as f64;
    if g < 2.0 {
        return f64::NAN;
    }
    let ss: f64 = sums.iter().map(|s| s * s).sum();
    g / (g - 1.0) * ss / (n * n)
}

/// Delete-a-group jackknife variance `(K−1)/K Σ_k (ψ_k − ψ̄)²`.
pub fn jackknife_variance(values: &[f64]) -> f64 {
    let k = values.len() as f64;
    if k < 2.0 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / k;
    (k - 1.0) / k * values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
}

/// The two-sided normal quantile `z` for a confidence level (1.959964… at 0.95).
pub fn normal_quantile(level: f64) -> f64 {
    Normal::standard().inverse_cdf(0.5 + level / 2.0)
}

/// One estimate with its standard error and interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Point estimate of the target policy's mean reward.
    pub estimate: f64,
    /// Standard error.
    pub se: f64,
    /// Lower end of the interval.
    pub ci_lower: f64,
    /// Upper end of the interval.
    pub ci_upper: f64,
    /// Standard error from the influence function alone (sampling of logged rows
    /// and fresh draws, cluster-robust by prompt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub se_influence: Option<f64>,
    /// Standard error from the calibration's own uncertainty (jackknife over the
    /// oracle folds); absent when rewards are not calibrated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub se_oracle: Option<f64>,
}

impl Estimate {
    /// Interval from the influence variance (G clusters) plus, when rewards are
    /// calibrated, the jackknife oracle variance over J groups. Without the oracle
    /// term the interval is normal; with it, Student-t with Welch–Satterthwaite
    /// degrees of freedom `(v₁+v₂)² / (v₁²/(G−1) + v₂²/(J−1))`, because a
    /// jackknife over J groups estimates its variance with only J − 1 degrees of freedom.
    pub fn with_oracle(
        estimate: f64,
        var_if: f64,
        clusters: usize,
        oracle: Option<(f64, usize)>,
        level: f64,
    ) -> Self {
        let Some((v2, j)) = oracle else {
            return Self::normal(estimate, var_if, None, normal_quantile(level));
        };
        let v1 = var_if;
        let den = v1 * v1 / (clusters as f64 - 1.0).max(1.0) + v2 * v2 / (j as f64 - 1.0).max(1.0);
        let df = if den > 0.0 {
            (v1 + v2).powi(2) / den
        } else {
            f64::INFINITY
        };
        let q = if df.is_finite() && df < 1e6 {
            StudentsT::new(0.0, 1.0, df.max(1.0))
                .map(|t| t.inverse_cdf(0.5 + level / 2.0))
                .unwrap_or_else(|_| normal_quantile(level))
        } else {
            normal_quantile(level)
        };
        Self::normal(estimate, var_if, Some(v2), q)
    }

    /// Normal interval from the influence variance plus the oracle variance.
    pub fn normal(estimate: f64, var_if: f64, var_oracle: Option<f64>, z: f64) -> Self {
        let se = (var_if + var_oracle.unwrap_or(0.0)).sqrt();
        Self {
            estimate,
            se,
            ci_lower: estimate - z * se,
            ci_upper: estimate + z * se,
            se_influence: Some(var_if.sqrt()),
            se_oracle: var_oracle.map(f64::sqrt),
        }
    }
}
