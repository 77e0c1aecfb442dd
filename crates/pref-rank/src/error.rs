//! The error type of pref-rank.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn location(path: &std::path::Path, line: u64) -> String {
    if line > 0 {
        format!("{}:{line}", path.display())
    } else {
        path.display().to_string()
    }
}

fn join(names: &[String]) -> String {
    names.join(", ")
}

fn join_groups(groups: &[Vec<String>]) -> String {
    groups
        .iter()
        .map(|g| format!("{{{}}}", join(g)))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Errors of pref-rank.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading an input file failed (bad record, empty file, …): the message names
    /// file, line and field.
    #[error(transparent)]
    Data(#[from] pref_data::Error),

    /// A hyperparameter is out of its valid range.
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// Input data are malformed (lengths differ, non-finite values, index out of range, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A shared statistic (pref-stats) refused its input.
    #[error("invalid input: {0}")]
    Stats(#[from] pref_stats::Error),

    /// A model name is not known where it must be (an anchor, a global rating).
    #[error("unknown model `{model}`: {context}")]
    UnknownModel {
        /// The name.
        model: String,
        /// Where it was looked up.
        context: String,
    },

    /// The comparison graph falls apart: ratings are not comparable across components.
    #[error(
        "the comparison graph is disconnected ({} components: {}); ratings are not comparable \
         across components: fit each component separately, or set a prior (prior_precision > 0, \
         `--prior`) to tie them together",
        components.len(),
        join_groups(components)
    )]
    Disconnected {
        /// Model names of each component (largest first).
        components: Vec<Vec<String>>,
    },

    /// The maximum-likelihood estimate does not exist (ratings diverge): a group of models
    /// never lost a battle (not even a tie) against the others.
    #[error(
        "no finite maximum-likelihood ratings: {{{}}} never lost (nor tied) a battle against \
         {{{}}}, so their rating gap diverges; set a prior (prior_precision > 0, `--prior`)",
        join(group),
        join(rest)
    )]
    NoFiniteMle {
        /// The unbeaten group.
        group: Vec<String>,
        /// Everybody else.
        rest: Vec<String>,
    },

    /// The optimiser stopped before reaching the gradient tolerance.
    #[error("Bradley–Terry fit did not converge: gradient norm {grad_norm:e} > {tol:e} after {iters} iterations")]
    NotConverged {
        /// Iterations run.
        iters: u64,
        /// Final gradient norm.
        grad_norm: f64,
        /// Requested tolerance.
        tol: f64,
    },

    /// One bootstrap replicate failed.
    #[error("bootstrap replicate {replicate}: {source}")]
    Bootstrap {
        /// Replicate index.
        replicate: usize,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },

    /// An error inside a named computation (which fit of which judge, …).
    #[error("{context}: {source}")]
    Context {
        /// What was being computed.
        context: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },

    /// A ratings file is malformed.
    #[error("{}: {message}", location(path, *line))]
    RatingsFile {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// What is wrong.
        message: String,
    },

    /// The numerical optimiser failed (argmin).
    #[error("optimiser: {0}")]
    Optimizer(String),

    /// The reward head (candle) failed.
    #[cfg(feature = "candle")]
    #[error("reward head: {0}")]
    Candle(#[from] candle_core::Error),
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
