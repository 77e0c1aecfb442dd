//! The error type of pref-stats.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of pref-stats: inputs a statistic is not defined for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Two paired inputs have different lengths.
    #[error("x has {x} values but y has {y}")]
    LengthMismatch {
        /// Length of `x`.
        x: usize,
        /// Length of `y`.
        y: usize,
    },
    /// Fewer points than the statistic needs.
    #[error("{what} needs at least {needed} points, got {got}")]
    TooFew {
        /// The statistic.
        what: &'static str,
        /// Points needed.
        needed: usize,
        /// Points given.
        got: usize,
    },
    /// A value is NaN or infinite.
    #[error("{name}[{index}] is not a finite number")]
    NonFinite {
        /// Which input (`x` or `y`).
        name: &'static str,
        /// Index of the first offending value.
        index: usize,
    },
}

/// An invalid hyperparameter: which field, and what is wrong with it.
///
/// The validators of [`crate::params`] return it; each crate converts it into its own
/// error type (`impl From<ParamError> for Error`, usually its `InvalidParam` variant), so
/// `?` works inside any crate's validation code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter `{name}`: {message}")]
pub struct ParamError {
    /// The field.
    pub name: &'static str,
    /// What is wrong with it (`must be finite and > 0, got -1`).
    pub message: String,
}

impl ParamError {
    /// An error for field `name`.
    pub fn new(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
        }
    }
}
