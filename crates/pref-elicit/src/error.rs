//! Errors of the elicitation pieces. Every variant keeps its cause, so a binary
//! printing `{error:#}` shows the whole chain.

/// Errors of pref-elicit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range or inconsistent; the message names it
    /// (`elicitation.samples must be in 1..=10000 (got 0)`).
    #[error("{0}")]
    Setting(String),
    /// The input files cannot give what the settings ask for.
    #[error("{0}")]
    Input(String),
    /// The study runner (stages, records, the run directory).
    #[error(transparent)]
    Study(#[from] pref_study::Error),
    /// Reading input files.
    #[error(transparent)]
    Data(#[from] pref_data::Error),
    /// A model call.
    #[error(transparent)]
    Model(#[from] pref_llm::Error),
    /// A Thurstonian fit or active learning.
    #[error(transparent)]
    Utility(#[from] pref_utility::Error),
}

/// Result of pref-elicit.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns early with an [`Error::Setting`] built like `format!`.
macro_rules! setting {
    ($($t:tt)*) => {
        return Err($crate::Error::Setting(format!($($t)*)))
    };
}
pub(crate) use setting;
