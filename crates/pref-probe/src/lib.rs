#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod bt;
pub mod compare;
pub mod data;
pub mod error;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod ridge;
#[cfg(feature = "parquet")]
pub mod store;
pub mod study;
mod tridiag;

pub use bt::{
    bt_objective, check_pairs, fit_bt_probe, pair_metrics, BtProbe, BtProbeParams, LambdaScore,
    PairCounts, PairMetrics, DEFAULT_LAMBDAS,
};
pub use compare::{cosine_matrix, cosine_similarity, cross_generalisation, Probe, TestSet};
pub use data::{read_activations, read_indices, read_targets, Element, Split};
pub use error::{Error, Result};
pub use ridge::{
    metrics, Cv, LinearModel, Metrics, RidgeCv, RidgeParams, Solver, ValidRidgeParams,
    DEFAULT_ALPHAS,
};
#[cfg(feature = "parquet")]
pub use store::ActivationStore;
pub use study::{
    gaussian_like, probe_study, AlphaRow, BaselineScore, BaselineScores, Baselines, ProbeStudy,
    Shuffle, TargetReport,
};
