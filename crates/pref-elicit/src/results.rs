//! What an elicitation's `results.json` holds, typed: the report and plots are
//! written from these structs, never from JSON keys.

use std::collections::BTreeMap;

use pref_study::Calls;
pub use pref_study::Unparseable;
/// A rated item (mode `rate`).
pub use pref_utility::RatingSummary;
use pref_utility::{CurvePoint, Evaluation, Readout, UtilityEstimate, UtilityFit};
use serde::{Deserialize, Serialize};

/// Training-set metrics of the fit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainMetrics {
    /// Log loss on the training pairs.
    pub log_loss: f64,
    /// Accuracy on them.
    pub accuracy: f64,
    /// Pairs.
    pub n_pairs: usize,
    /// Unparseable training answers (pairwise modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparseable: Option<u64>,
}

/// Held-out metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldOut {
    /// Log loss.
    pub log_loss: f64,
    /// Accuracy against the majority label.
    pub accuracy: f64,
    /// Accuracy of always predicting the majority label's side.
    pub accuracy_majority: f64,
    /// Pairs scored.
    pub n_pairs: usize,
    /// Pairs whose majority is a tie.
    pub n_ties: usize,
}

/// One round of active learning.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Round {
    /// Round number.
    pub round: usize,
    /// Training pairs after the round.
    pub pairs: usize,
    /// Comparisons in them.
    pub comparisons: f64,
    /// Pairs added this round.
    pub added: usize,
    /// The |Δμ| percentile used.
    pub p_used: f64,
    /// The degree percentile used.
    pub q_used: f64,
}

/// The first-shown option's share of the wins, with its interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bias {
    /// Share of decisions won by the option shown first.
    pub share_first: f64,
    /// 95% interval.
    pub ci95: [f64; 2],
    /// Decisions.
    pub n: u64,
}

/// Convergence of the fit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitInfo {
    /// Optimiser iterations.
    pub iterations: u64,
    /// Whether it converged.
    pub converged: bool,
}

/// Pairs of the design.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairCountsOfDesign {
    /// Training pairs asked.
    pub train: usize,
    /// Held-out pairs.
    pub heldout: usize,
    /// Random pairs asked to compare active learning with.
    pub random_baseline: usize,
}

/// Wall-clock seconds by phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seconds {
    /// Asking the model.
    pub elicitation: f64,
    /// Fitting.
    pub fit: f64,
    /// The whole run (this process).
    pub total: f64,
}

/// What `results.json` holds. Fields of one mode only are absent in the other.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// `rate` in mode `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Mode `rate`: the rating labels, worst first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Vec<String>>,
    /// Mode `rate`: each item's ratings (`null` when every answer was unparseable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratings: Option<BTreeMap<String, Option<RatingSummary>>>,
    /// Mode `rate`: the mean distribution over the scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_distribution: Option<Vec<f64>>,
    /// Fitted utilities by item id (empty when nothing could be fitted).
    pub utilities: BTreeMap<String, UtilityEstimate>,
    /// Training metrics.
    pub train: Option<TrainMetrics>,
    /// Held-out metrics.
    pub heldout: Option<HeldOut>,
    /// Pairwise modes: held-out metrics against training pairs (`active`, `random`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_curve: Option<BTreeMap<String, Vec<CurvePoint>>>,
    /// Strategy `active`: the rounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_learning: Option<Vec<Round>>,
    /// Model calls this process made and had answered by the cache.
    pub model_calls: Calls,
    /// Unparseable answers.
    pub unparseable: Unparseable,
    /// The first-shown option's share of the wins (pairwise modes).
    pub position_bias: Option<Bias>,
    /// Convergence of the fit.
    pub fit: Option<FitInfo>,
    /// Items.
    pub n_items: usize,
    /// Pairwise modes: pairs of the design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_pairs: Option<PairCountsOfDesign>,
    /// Pairwise modes: comparisons recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_comparisons: Option<usize>,
    /// Mode `rate`: ratings asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_ratings: Option<usize>,
    /// Pairwise modes: how answers count in the fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readout: Option<Readout>,
    /// The model's content id.
    pub model: String,
    /// What the run left out or could not do as configured (also in the report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Seconds by phase.
    pub seconds: Seconds,
}

impl Results {
    /// The utilities and convergence of a fit (empty when there is none).
    pub fn fit_parts(
        fit: Option<&UtilityFit>,
    ) -> (BTreeMap<String, UtilityEstimate>, Option<FitInfo>) {
        match fit {
            Some(f) => (
                f.estimates(),
                Some(FitInfo {
                    iterations: f.model.stats.iterations,
                    converged: f.model.stats.converged,
                }),
            ),
            None => (BTreeMap::new(), None),
        }
    }
}

impl TrainMetrics {
    /// The training metrics of a fit.
    pub fn of(fit: &UtilityFit, unparseable: Option<u64>) -> Self {
        Self {
            log_loss: fit.train.log_loss,
            accuracy: fit.train.accuracy,
            n_pairs: fit.train.n_pairs,
            unparseable,
        }
    }
}

impl From<Evaluation> for HeldOut {
    fn from(e: Evaluation) -> Self {
        Self {
            log_loss: e.log_loss,
            accuracy: e.accuracy,
            accuracy_majority: e.accuracy_majority,
            n_pairs: e.n_pairs,
            n_ties: e.n_ties,
        }
    }
}
