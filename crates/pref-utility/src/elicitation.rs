//! Statistics of an elicitation run (the `utility` study, `docs/utility.md`):
//! a fit of every item with standard errors and training metrics, learning
//! curves of held-out metrics against the training pairs used, and the pairwise
//! probabilities that independent ratings imply.

use std::collections::BTreeMap;

use pref_data::PairCounts;
use serde::{Deserialize, Serialize};

use crate::data::PairData;
use crate::error::Result;
use crate::hessian::SeMethod;
use crate::thurstonian::{Evaluation, FittedThurstonian, ThurstonianParams};

/// Pair counts over item indices: `(x, y, count of x, count of y)`.
pub type IndexedCounts = (usize, usize, f64, f64);

/// Pair data over `items` from indexed counts; pairs without a usable count
/// (every answer unparseable) are left out, their items stay (held by the prior).
pub fn pair_data(items: Vec<String>, counts: &[IndexedCounts]) -> Result<PairData> {
    let mut data = PairData::with_items(items)?;
    for &(x, y, cx, cy) in counts {
        if cx + cy > 0.0 {
            data.push(x, y, cx, cy)?;
        }
    }
    Ok(data)
}

/// One item's fitted utility.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UtilityEstimate {
    /// Mean utility μ (gauge: mean 0, sd 1 over the items).
    pub mu: f64,
    /// Variance σ².
    pub sigma2: f64,
    /// Standard error of μ.
    pub mu_se: f64,
}

/// A fit of every item with standard errors of μ and metrics on its own pairs.
#[derive(Debug, Clone)]
pub struct UtilityFit {
    /// The fitted model.
    pub model: FittedThurstonian,
    /// Standard errors of μ (`SeMethod::Auto`).
    pub mu_se: Vec<f64>,
    /// Log loss and accuracy on the training pairs.
    pub train: Evaluation,
    /// Set when the comparison graph of the pairs is disconnected
    /// ([`PairData::disconnected_warning`]): studies put it in their warnings.
    pub disconnected: Option<String>,
}

impl UtilityFit {
    /// Fits `counts` over `items`; `None` when no pair holds a usable count.
    pub fn of(
        params: &ThurstonianParams,
        items: Vec<String>,
        counts: &[IndexedCounts],
    ) -> Result<Option<Self>> {
        if counts.iter().all(|c| c.2 + c.3 == 0.0) {
            return Ok(None);
        }
        let data = pair_data(items, counts)?;
        let model = params.fit(&data)?;
        let se = model.mu_standard_errors(&data, SeMethod::Auto)?;
        let train = model.evaluate_data(&data)?;
        Ok(Some(Self {
            model,
            mu_se: se.mu_se,
            train,
            disconnected: data.disconnected_warning(),
        }))
    }

    /// Every item's estimate, by id.
    pub fn estimates(&self) -> BTreeMap<String, UtilityEstimate> {
        let m = &self.model;
        m.items()
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let e = UtilityEstimate {
                    mu: m.mu()[i],
                    sigma2: m.sigma2()[i],
                    mu_se: self.mu_se[i],
                };
                (id.clone(), e)
            })
            .collect()
    }
}

/// Held-out metrics of a fit on some training pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Training pairs used.
    pub pairs: usize,
    /// Comparisons in them (sum of counts).
    pub comparisons: f64,
    /// Held-out accuracy.
    pub accuracy: f64,
    /// Held-out log loss.
    pub log_loss: f64,
}

/// Training-set sizes of a learning curve over `n` pairs: a fifth, then
/// 35, 50, 65, 80 and 100% (at least one pair each).
pub fn prefix_sizes(n: usize) -> Vec<usize> {
    [0.2, 0.35, 0.5, 0.65, 0.8, 1.0]
        .iter()
        .map(|f| ((n as f64 * f).round() as usize).max(1))
        .collect()
}

/// Learning curve: for each size `k`, a fit on the first `k` training pairs of
/// `counts` scored on `held`. Sizes whose prefix holds no usable count give no
/// point, and so does an empty `held`.
pub fn learning_curve(
    params: &ThurstonianParams,
    items: &[String],
    counts: &[IndexedCounts],
    sizes: &[usize],
    held: &[PairCounts],
) -> Result<Vec<CurvePoint>> {
    let mut out = Vec::new();
    if held.is_empty() {
        return Ok(out);
    }
    for &k in sizes {
        let prefix = &counts[..k.min(counts.len())];
        if prefix.iter().all(|c| c.2 + c.3 == 0.0) {
            continue;
        }
        let data = pair_data(items.to_vec(), prefix)?;
        let e = params.fit(&data)?.evaluate(held)?;
        out.push(CurvePoint {
            pairs: prefix.len(),
            comparisons: data.total_count(),
            accuracy: e.accuracy,
            log_loss: e.log_loss,
        });
    }
    Ok(out)
}

/// `P(X > Y) + ½ P(X = Y)` for independent ratings with distributions `x`, `y`
/// over the same ordered scale.
pub fn prob_greater(x: &[f64], y: &[f64]) -> f64 {
    let mut below = 0.0; // P(Y < i)
    let mut p = 0.0;
    for (xi, yi) in x.iter().zip(y) {
        p += xi * (below + 0.5 * yi);
        below += yi;
    }
    p
}

/// The pairwise counts independent ratings imply: for every two rated items,
/// `P(x ≻ y)` from [`prob_greater`], weighted like the two orders of one
/// comparison (counts `2p`, `2(1 − p)`). Unrated items (`None`) get no pairs.
pub fn implied_pair_counts(distributions: &[Option<Vec<f64>>]) -> Vec<IndexedCounts> {
    let mut counts = Vec::new();
    for (x, dx) in distributions.iter().enumerate() {
        for (y, dy) in distributions.iter().enumerate().skip(x + 1) {
            if let (Some(dx), Some(dy)) = (dx, dy) {
                let p = prob_greater(dx, dy);
                counts.push((x, y, 2.0 * p, 2.0 * (1.0 - p)));
            }
        }
    }
    counts
}

/// Mean and standard deviation of a rating distribution over the labels
/// 1, 2, …, m (worst first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingSummary {
    /// Mean rating (1-based).
    pub mean: f64,
    /// Standard deviation.
    pub sd: f64,
    /// The distribution over the scale.
    pub distribution: Vec<f64>,
}

impl RatingSummary {
    /// The summary of `distribution`.
    pub fn of(distribution: Vec<f64>) -> Self {
        let level = |j: usize| (j + 1) as f64;
        let mean: f64 = distribution
            .iter()
            .enumerate()
            .map(|(j, p)| level(j) * p)
            .sum();
        let var: f64 = distribution
            .iter()
            .enumerate()
            .map(|(j, p)| (level(j) - mean).powi(2) * p)
            .sum();
        Self {
            mean,
            sd: var.sqrt(),
            distribution,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implied_pairwise_probability_matches_enumeration() {
        // numpy: x=[.1,.2,.3,.4]; y=[.4,.3,.2,.1]
        //   sum(x[i]*y[j] for i>j) + .5*sum(x[i]*y[i]) = 0.65 + 0.5*0.2 = 0.75
        let x = [0.1, 0.2, 0.3, 0.4];
        let y = [0.4, 0.3, 0.2, 0.1];
        assert!((prob_greater(&x, &y) - 0.75).abs() < 1e-12);
        assert!((prob_greater(&y, &x) - 0.25).abs() < 1e-12);
        // Identical distributions are a coin flip; point masses order strictly.
        assert!((prob_greater(&x, &x) - 0.5).abs() < 1e-12);
        assert_eq!(prob_greater(&[0.0, 1.0], &[1.0, 0.0]), 1.0);
        let c = implied_pair_counts(&[Some(x.to_vec()), None, Some(y.to_vec())]);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].0, c[0].1), (0, 2));
        assert!((c[0].2 - 1.5).abs() < 1e-12 && (c[0].3 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn rating_summary_and_prefix_sizes() {
        // numpy: p=np.array([.1,.2,.3,.4]); l=np.arange(1,5)
        //   m=(l*p).sum() -> 3.0; np.sqrt(((l-m)**2*p).sum()) -> 1.0
        let s = RatingSummary::of(vec![0.1, 0.2, 0.3, 0.4]);
        assert!((s.mean - 3.0).abs() < 1e-12 && (s.sd - 1.0).abs() < 1e-12);
        // round(n·f) for f in .2 .35 .5 .65 .8 1 with n = 10, halves away from
        // zero (Python: [math.floor(10*f + 0.5) for f in fs]): 2 4 5 7 8 10.
        assert_eq!(prefix_sizes(10), vec![2, 4, 5, 7, 8, 10]);
        assert_eq!(prefix_sizes(1), vec![1; 6]);
    }
}
