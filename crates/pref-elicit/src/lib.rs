#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod error;
pub mod judging;
pub mod pairwise;
pub mod positivity;
pub mod rate;
pub mod results;
pub mod settings;

pub use error::{Error, Result};
pub use pairwise::{run_pairs, stage_plans, Elicited, Elicitor, Job, Plan};
pub use rate::{run_rate, Rated, Rating};
pub use results::Results;
pub use settings::{
    ActiveConfig, Answer, ChoicePrompt, ElicitationConfig, FitConfig, ItemKind, ItemsConfig, Mode,
    Orders, PairsConfig, Settings, Strategy,
};
