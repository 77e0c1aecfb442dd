//! Errors of pref-llm.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of pref-llm. Messages never contain API keys.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model file or directory is missing.
    #[error("model `{name}` not found at {path}: run `cargo xtask setup` (or give a path to a GGUF file)")]
    ModelMissing {
        /// Model name or path as given.
        name: String,
        /// Where it was looked for.
        path: std::path::PathBuf,
    },
    /// Loading or running a model failed.
    #[error("{0}")]
    Backend(String),
    /// The backend cannot do this (e.g. hidden states over HTTP).
    #[error("not supported by this backend ({backend}): {what}")]
    Unsupported {
        /// Backend kind.
        backend: String,
        /// What was asked.
        what: String,
    },
    /// A request is invalid (empty options, prompt longer than the context, …).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The model-call cache failed.
    #[error("cache {path}: {message}")]
    Cache {
        /// The cache file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Reading a file failed.
    #[error(transparent)]
    Data(#[from] pref_data::Error),
}
