#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod bandit;
pub mod data;
pub mod diagnostics;
pub mod error;
pub mod estimate;
pub mod intervals;
pub mod isotonic;
pub mod simulate;

pub use bandit::{bandit_estimates, read_bandit_rows, BanditParams, BanditRow};
pub use data::{CjeData, FreshDraw};
pub use diagnostics::{
    ess_fraction, hill_tail_index, Diagnostics, Gate, GateStatus, GateThresholds, Weights,
};
pub use error::{Error, Result};
pub use estimate::{
    CalibrationMode, CalibrationSummary, CjeParams, CjeResult, EstimatorKind, IntervalMethod,
    PolicyResult, ValidCjeParams, WeightCalibration, WeightCalibrationSummary,
};
pub use intervals::{cluster_variance, Estimate};
pub use isotonic::{Direction, IsotonicFit};
pub use simulate::{simulate, true_value, SimData, SimParams, SimPolicy};
