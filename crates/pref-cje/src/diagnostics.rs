//! Weight diagnostics and the reliability gate.

use serde::Serialize;

/// Stable importance weights from log ratios `target − base`.
///
/// `normalised` are the weights divided by their mean (mean one), computed as
/// `exp(l − max l) / mean(exp(l − max l))`, which never overflows;
/// `raw` are `exp(l)` themselves (they overflow to `inf` when a log ratio exceeds
/// about 709, which the gate reports).
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// `exp(target − base)`.
    pub raw: Vec<f64>,
    /// Mean-one weights.
    pub normalised: Vec<f64>,
    /// `log mean(raw)`, finite even when `raw` overflows.
    pub log_mean_raw: f64,
}

impl Weights {
    /// Computes the weights of log ratios (all finite).
    pub fn from_log_ratios(log_ratio: &[f64]) -> Self {
        let n = log_ratio.len() as f64;
        let m = log_ratio.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let shifted: Vec<f64> = log_ratio.iter().map(|&l| (l - m).exp()).collect();
        let mean_shifted = shifted.iter().sum::<f64>() / n;
        Self {
            raw: log_ratio.iter().map(|&l| l.exp()).collect(),
            normalised: shifted.iter().map(|&v| v / mean_shifted).collect(),
            log_mean_raw: m + mean_shifted.ln(),
        }
    }
}

/// Effective sample size as a fraction of n: `(Σw)² / (n Σw²)`.
pub fn ess_fraction(w: &[f64]) -> f64 {
    let s: f64 = w.iter().sum();
    let s2: f64 = w.iter().map(|v| v * v).sum();
    s * s / (w.len() as f64 * s2)
}

/// Number of order statistics the Hill estimator uses: the top 5%, at least 2.
pub fn hill_k(n: usize) -> usize {
    ((0.05 * n as f64).ceil() as usize).max(2)
}

/// Hill estimate of the tail index α of the weights, from their logarithms:
/// `α = 1 / mean_{i<k}(ln w_(i) − ln w_(k))` over the k = [`hill_k`] largest weights,
/// with `w_(k)` the (k+1)-th largest as threshold. `None` when n ≤ k or when the
/// top weights are all equal (a light, in fact bounded, tail).
pub fn hill_tail_index(log_w: &[f64]) -> Option<f64> {
    let n = log_w.len();
    let k = hill_k(n);
    if n <= k {
        return None;
    }
    let mut v = log_w.to_vec();
    // Partial sort: the k+1 largest first.
    v.select_nth_unstable_by(k, |a, b| b.total_cmp(a));
    let threshold = v[k];
    let h = v[..k].iter().map(|&l| l - threshold).sum::<f64>() / k as f64;
    (h > 0.0).then(|| 1.0 / h)
}

/// Weight diagnostics of one target policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostics {
    /// Number of logged rows.
    pub n: usize,
    /// `(Σw)² / (n Σw²)`: ≥ 0.30 fine, < 0.10 critical.
    pub ess_fraction: f64,
    /// Hill tail index of the top 5% of weights (< 2: infinite variance); `null`
    /// when undefined (too few rows, or constant top weights).
    pub hill_tail_index: Option<f64>,
    /// Largest mean-one weight.
    pub max_weight: f64,
    /// Share of the total weight carried by the largest weight.
    pub max_weight_share: f64,
    /// Mean of the raw weights `exp(target − base)` (≈ 1 when both log-probs are
    /// complete sequence log-probs and n is large); `null` when it overflows.
    pub mean_raw_weight: Option<f64>,
    /// Share of rows whose base or target log-prob is exactly 0 (a failed or
    /// empty scoring, usually).
    pub zero_logprob_rate: f64,
    /// Share of rows with mean-one weight below 0.01 (responses the target
    /// policy would almost never give: poor overlap).
    pub near_zero_weight_rate: f64,
    /// All log ratios are 0 within 1e-9: a clone of the logging policy (weights 1).
    pub clone: bool,
}

impl Diagnostics {
    /// Diagnostics from the log ratios, their weights and the zero-log-prob count.
    pub fn compute(log_ratio: &[f64], w: &Weights, zero_logprob: usize) -> Self {
        let n = log_ratio.len();
        let max_weight = w.normalised.iter().copied().fold(0.0, f64::max);
        let mean_raw = w.log_mean_raw.exp();
        Self {
            n,
            ess_fraction: ess_fraction(&w.normalised),
            hill_tail_index: hill_tail_index(log_ratio),
            max_weight,
            max_weight_share: max_weight / n as f64,
            mean_raw_weight: mean_raw.is_finite().then_some(mean_raw),
            zero_logprob_rate: zero_logprob as f64 / n as f64,
            near_zero_weight_rate: w.normalised.iter().filter(|&&v| v < 0.01).count() as f64
                / n as f64,
            clone: log_ratio.iter().all(|l| l.abs() <= 1e-9),
        }
    }
}

/// Thresholds of the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateThresholds {
    /// ESS fraction below which the gate warns.
    pub ess_warn: f64,
    /// ESS fraction below which the gate refuses.
    pub ess_refuse: f64,
    /// Hill tail index below which the gate warns (infinite weight variance).
    pub hill_warn: f64,
    /// Hill tail index below which the gate refuses (infinite weight mean).
    pub hill_refuse: f64,
    /// Largest weight share above which the gate warns.
    pub max_share_warn: f64,
    /// Zero-log-prob rate above which the gate warns.
    pub zero_logprob_warn: f64,
    /// Near-zero-weight rate above which the gate warns (poor overlap).
    pub near_zero_warn: f64,
}

impl Default for GateThresholds {
    fn default() -> Self {
        Self {
            ess_warn: 0.30,
            ess_refuse: 0.10,
            hill_warn: 2.0,
            hill_refuse: 1.0,
            max_share_warn: 0.10,
            zero_logprob_warn: 0.05,
            near_zero_warn: 0.50,
        }
    }
}

/// Verdict of the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GateStatus {
    /// The diagnostics raise no concern.
    Ok,
    /// Estimates are usable with care; read the reasons.
    Warn,
    /// The importance-weighted estimates are not reliable (they are still reported, flagged).
    Refuse,
}

/// Gate status with its reasons.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// `ok`, `warn` or `refuse`.
    pub status: GateStatus,
    /// Why, in words (empty when `ok`).
    pub reasons: Vec<String>,
}

impl Gate {
    /// Applies the thresholds to the diagnostics.
    pub fn evaluate(d: &Diagnostics, t: &GateThresholds) -> Self {
        let mut g = Gate {
            status: GateStatus::Ok,
            reasons: Vec::new(),
        };
        if d.ess_fraction < t.ess_refuse {
            g.push(
                GateStatus::Refuse,
                format!(
                    "ESS fraction {:.3} is below {} (critical): a few rows carry the estimate",
                    d.ess_fraction, t.ess_refuse
                ),
            );
        } else if d.ess_fraction < t.ess_warn {
            g.push(
                GateStatus::Warn,
                format!("ESS fraction {:.3} is below {}", d.ess_fraction, t.ess_warn),
            );
        }
        if let Some(h) = d.hill_tail_index {
            if h < t.hill_refuse {
                g.push(
                    GateStatus::Refuse,
                    format!(
                        "Hill tail index {h:.2} < {}: the weights may have no finite mean",
                        t.hill_refuse
                    ),
                );
            } else if h < t.hill_warn {
                g.push(
                    GateStatus::Warn,
                    format!(
                        "Hill tail index {h:.2} < {}: the weights may have infinite variance",
                        t.hill_warn
                    ),
                );
            }
        }
        if d.max_weight_share > t.max_share_warn {
            g.push(
                GateStatus::Warn,
                format!(
                    "the largest weight carries {:.1}% of the total weight",
                    100.0 * d.max_weight_share
                ),
            );
        }
        if d.zero_logprob_rate > t.zero_logprob_warn {
            g.push(
                GateStatus::Warn,
                format!(
                    "{:.1}% of rows have a log-prob of exactly 0 (failed scoring?)",
                    100.0 * d.zero_logprob_rate
                ),
            );
        }
        if d.near_zero_weight_rate > t.near_zero_warn {
            g.push(
                GateStatus::Warn,
                format!(
                    "poor overlap: {:.1}% of rows have a mean-one weight below 0.01",
                    100.0 * d.near_zero_weight_rate
                ),
            );
        }
        g
    }

    pub(crate) fn push(&mut self, status: GateStatus, reason: String) {
        self.status = self.status.max(status);
        self.reasons.push(reason);
    }
}
