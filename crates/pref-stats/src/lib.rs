#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod correlation;
pub mod error;
pub mod graph;
pub mod mean;
pub mod params;
pub mod quantile;
pub mod seed;

pub use correlation::{average_ranks, pearson, spearman};
pub use error::{Error, ParamError, Result};
pub use graph::{components, named_components};
pub use mean::{t_interval, MeanInterval};
pub use params::{
    at_least, finite, non_negative, open_unit_interval, positive, unit_interval, ParamResult,
};
pub use quantile::{
    central_percentiles, percentile, percentile_interval, percentile_sorted, quantile_sorted,
};
pub use seed::{bootstrap_interval, replicate_rng};
