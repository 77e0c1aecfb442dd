#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod bootstrap;
pub mod bt;
pub mod elo;
pub mod error;
pub mod judge_measures;
pub mod judges;
pub mod metrics;
pub mod offsets;
pub mod params;
#[cfg(feature = "candle")]
pub mod personal;
pub mod ratings;
#[cfg(feature = "candle")]
pub mod reward;
pub mod style;

pub use bootstrap::{BootstrapParams, BootstrapResult};
pub use bt::{BtFit, BtParams, PairCell, PairData};
pub use elo::EloParams;
pub use error::{Error, Result};
pub use judges::{
    against_reference, analyze, judge_point_ratings, judge_ratings, read_judge_decisions,
    self_bias, JudgeAnalysis, JudgeAnalysisParams, JudgeDecision, JudgeRatings, JudgeSelfBias,
    JudgeStats, ReferenceComparison, SelfBias,
};
pub use metrics::{kendall_tau_b, ranking_metrics, spearman_rho, Correlation, RankingMetrics};
pub use offsets::EloOffsets;
pub use params::{Checked, ParamGuard};
pub use ratings::Ratings;
#[cfg(feature = "candle")]
pub use reward::{PreferencePair, RewardHead, RewardHeadParams};
pub use style::{
    relative_difference, Standardizer, StyleBtFit, StyleBtParams, StyleData, StyleObservation,
};
