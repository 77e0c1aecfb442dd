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
    /// An HTTP endpoint failed for good (after retries, or at once for 400/401/403/404).
    /// The message never contains the API key (server bodies are redacted).
    #[error("{url}: {message} (HTTP {status_text}, {attempts} attempt(s))", status_text = status.map_or("no response".to_string(), |s| s.to_string()))]
    Http {
        /// The endpoint URL (no credentials).
        url: String,
        /// HTTP status of the last attempt, if any response arrived.
        status: Option<u16>,
        /// Attempts made.
        attempts: u32,
        /// What went wrong, with the (redacted, truncated) server message.
        message: String,
    },
    /// The request was queued for the OpenAI Batch API instead of being sent
    /// (deferred mode); import the batch results to complete it.
    #[error("deferred to the batch file (custom_id {custom_id})")]
    Deferred {
        /// The request's cache key, used as the batch `custom_id`.
        custom_id: String,
    },
    /// Reading a file failed.
    #[error(transparent)]
    Data(#[from] pref_data::Error),
}

impl Error {
    /// The same error with `f` applied to every message text it carries: the
    /// HTTP backend passes each error through its key redaction, so a key that a
    /// server echoes anywhere in an answer (even in a field that fails to parse)
    /// never reaches a message.
    pub(crate) fn map_text(self, f: impl Fn(&str) -> String) -> Self {
        match self {
            Error::Backend(m) => Error::Backend(f(&m)),
            Error::Invalid(m) => Error::Invalid(f(&m)),
            Error::Unsupported { backend, what } => Error::Unsupported {
                backend,
                what: f(&what),
            },
            Error::Http {
                url,
                status,
                attempts,
                message,
            } => Error::Http {
                url,
                status,
                attempts,
                message: f(&message),
            },
            other => other,
        }
    }
}
