//! The error type of pref-probe.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of pref-probe.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file failed (the message names the file, and the row where known).
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
    /// Shapes that do not fit together; the message gives the shapes.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A row index or permutation that is out of range, repeated or overlapping.
    #[error("bad index: {0}")]
    Index(String),
    /// The input data cannot be used (empty, non-finite, too few rows).
    #[error("{0}")]
    InvalidInput(String),
    /// A decomposition failed to converge.
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
