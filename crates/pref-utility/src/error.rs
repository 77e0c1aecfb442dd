//! The error type of pref-utility.

use pref_data::Location;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of pref-utility.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or parsing a record file failed (the message names file, line and field).
    #[error(transparent)]
    Data(#[from] pref_data::Error),
    /// A hyperparameter is out of its valid range.
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParam {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The input data cannot be used (empty, inconsistent, degenerate).
    #[error("{0}")]
    InvalidInput(String),
    /// A shared statistic (pref-stats: correlations) refused its input.
    #[error(transparent)]
    Stats(#[from] pref_stats::Error),
    /// An id that the fitted model does not know (for example a test pair whose
    /// outcome never appeared in training).
    #[error("{}unknown id `{}` in field `{field}`: it does not occur in the training data", at.as_ref().map(|l| format!("{l}: ")).unwrap_or_default(), pref_data::quote(id))]
    UnknownId {
        /// Where the id was read, when it came from a file.
        at: Option<Location>,
        /// `a` or `b`.
        field: &'static str,
        /// The id.
        id: String,
    },
    /// The optimiser failed (for example the objective became non-finite).
    #[error("optimiser: {0}")]
    Optimizer(String),
    /// A comparison oracle (model queries, simulation) gave unusable answers.
    #[error("oracle: {0}")]
    Oracle(String),
    /// A comparison oracle's own work failed (a model call, a record log); the
    /// cause is kept.
    #[error("the comparison oracle failed")]
    OracleFailed(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A linear-algebra step failed (singular design matrix, indefinite Hessian).
    #[error("linear algebra: {0}")]
    LinearAlgebra(String),
}

impl From<pref_stats::ParamError> for Error {
    fn from(e: pref_stats::ParamError) -> Self {
        Error::InvalidParam {
            name: e.name,
            message: e.message,
        }
    }
}

impl Error {
    pub(crate) fn param(name: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidParam {
            name,
            message: message.into(),
        }
    }
}

impl From<argmin::core::Error> for Error {
    fn from(e: argmin::core::Error) -> Self {
        Error::Optimizer(e.to_string())
    }
}
