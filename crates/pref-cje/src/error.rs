//! The error type of pref-cje.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of pref-cje.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or parsing a record file failed, or a record is invalid (the
    /// message names file, line and field: `path:line: field: what is wrong`).
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
    /// The input cannot be used (empty, inconsistent, missing fresh draws, …).
    #[error("{0}")]
    InvalidInput(String),
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
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Error::InvalidInput(message.into())
    }
}
