//! The study runner's errors. Every variant keeps its cause (`#[source]`), so a
//! binary printing `{error:#}` shows the whole chain.

use std::path::PathBuf;

/// Any error a study's own code returns into the runner (a job, a config check,
/// the analysis). `anyhow::Error` converts into it with `?` or `.into()`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the study runner.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing run files.
    #[error(transparent)]
    Data(#[from] pref_data::Error),
    /// Loading or calling a model, or the model cache.
    #[error(transparent)]
    Model(#[from] pref_llm::Error),
    /// Another process holds the run's lock.
    #[error(
        "{}: another process is writing this run (lock {} held{}); wait for it to finish, \
         or stop it, then resume",
        dir.display(),
        lock.display(),
        holder.as_deref().map(|h| format!(" by {h}")).unwrap_or_default()
    )]
    Locked {
        /// The run directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// What the lock file says about its holder (`pid 123`), when readable.
        holder: Option<String>,
    },
    /// A resumed run was given settings that differ from its frozen `config.toml`.
    #[error(
        "{}: `{field}` is {stored} in the run's config.toml but {given} was given; a run \
         resumes with its own settings (drop the option, or start a new run with --out)",
        dir.display()
    )]
    ConfigChanged {
        /// The run directory.
        dir: PathBuf,
        /// Dotted path of the first differing setting.
        field: String,
        /// Its value in the run.
        stored: String,
        /// Its value now.
        given: String,
    },
    /// A model's content id changed since the run started (another file, another
    /// endpoint, other settings).
    #[error(
        "{}: model `{role}` was {stored} when the run started but is {now} now; resuming \
         would mix models' answers in one run",
        dir.display()
    )]
    ModelChanged {
        /// The run directory.
        dir: PathBuf,
        /// Which model of the study (e.g. `model`, an author's name).
        role: String,
        /// The id recorded in `config.toml`.
        stored: String,
        /// The id of the model loaded now.
        now: String,
    },
    /// A setting is invalid (checked before any model call).
    #[error("invalid configuration")]
    Config(#[source] BoxError),
    /// A job of a stage failed (nothing is recorded for it; a resume asks it again).
    #[error("stage `{stage}`: job {id} failed")]
    Job {
        /// The stage.
        stage: String,
        /// The job's record id.
        id: String,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// Jobs of a stage were queued for the Batch API (their models have
    /// `batch = true`): the run stops until their answers are imported.
    #[error(
        "stage `{stage}`: {count} jobs wait on requests queued for the Batch API and the run stops \
         here: export them with `{study} batch export {dir} --out DIR`, run each file through \
         the Batch API, import the output files with `{study} batch import {dir} FILE…`, then \
         `{study} run --resume {dir}` (see docs/runs.md, \"The Batch API\")",
        dir = dir.display()
    )]
    Deferred {
        /// The study.
        study: String,
        /// The run directory.
        dir: PathBuf,
        /// The stage.
        stage: String,
        /// Jobs of this stage whose requests are queued (jobs asking the
        /// same request share one queued request).
        count: usize,
    },
    /// A file or directory could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The study's own code failed (analysis, report).
    #[error(transparent)]
    Study(BoxError),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result of the study runner.
pub type Result<T, E = Error> = std::result::Result<T, E>;
