#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod active;
pub mod data;
pub mod elicitation;
pub mod error;
pub mod hessian;
pub mod normal;
pub mod robustness;
pub mod simulate;
pub mod thurstonian;
pub mod transitivity;

pub use active::{
    ActiveLearningParams, ActiveLearningResult, Oracle, RoundReport, SimulatedOracle, Strategy,
};
pub use data::{
    aggregate_comparisons, aggregate_comparisons_with, position_bias, read_located,
    AggregatedComparisons, PairData, PositionBias, Readout,
};
pub use elicitation::{
    implied_pair_counts, learning_curve, prefix_sizes, prob_greater, CurvePoint, RatingSummary,
    UtilityEstimate, UtilityFit,
};
pub use error::{Error, Result};
pub use hessian::{SeMethod, StandardErrors};
pub use robustness::{
    bootstrap_regression, correlation_matrix, factor_regression, ols, pearson, spearman,
    AliasedGroup, CorrelationMatrix, CorrelationMethod, Estimate, FactorRegression, OlsFit,
    RegressionBootstrap, UtilityRun,
};
pub use thurstonian::{
    Evaluation, FitStats, FittedThurstonian, Init, Progress, ThurstonianParams,
    ValidThurstonianParams, Weighting,
};
pub use transitivity::{
    transitivity, transitivity_intervals, TransitivityIntervals, TransitivityReport, TriadSampling,
};
