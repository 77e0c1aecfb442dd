//! The `main` every pref binary shares: log events on stderr (filtered by
//! `RUST_LOG`, warnings and errors by default), the result as one pretty JSON
//! object on stdout (a reader that closes the pipe early is not an error), and on
//! failure the error with its causes on stderr and exit code 1.

use std::fmt::Display;
use std::path::Path;
#[cfg(feature = "clap")]
use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(feature = "clap")]
use crate::error::BoxError;
use crate::error::{Error, Result};
#[cfg(feature = "clap")]
use crate::study::Study;

/// A command's output as a JSON value (for [`json_main`]).
pub fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Study(e.into()))
}

/// Sets up logging, runs `run` and reports its outcome (module docs). The error
/// is printed with `{:#}`, which for an `anyhow::Error` lists every cause.
pub fn json_main<E: Display>(run: impl FnOnce() -> Result<serde_json::Value, E>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run() {
        Ok(v) => {
            use std::io::Write;
            let text = serde_json::to_string_pretty(&v).unwrap_or_default();
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{text}").and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                // A reader that stopped early (`… | head`): nothing is wrong.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write the result: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads a TOML configuration; a bad or unknown key is an error naming the
/// file, the line and the key.
///
/// Keys the file leaves out take the study's defaults (`C::default()`), also
/// inside a section the file gives: `[pairs]` with only `strategy` keeps the
/// study's own `heldout_fraction`, not the section type's.
pub fn read_config<C: serde::de::DeserializeOwned + serde::Serialize + Default>(
    path: &Path,
) -> Result<C> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let bad = |e: toml::de::Error| {
        let line = e
            .span()
            .map_or(0, |s| 1 + text[..s.start].matches('\n').count());
        Error::Config(format!("{}:{line}: {}", path.display(), e.message().trim_end()).into())
    };
    // Checked as written first, for errors that point at the file's lines.
    toml::from_str::<C>(&text).map_err(bad)?;
    let given: toml::Table = toml::from_str(&text).map_err(bad)?;
    let mut merged = toml::Table::try_from(C::default())
        .map_err(|e| Error::Config(format!("the study's defaults are not TOML: {e}").into()))?;
    merge_into(&mut merged, given);
    toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| {
            Error::Config(format!("{}: {}", path.display(), e.message().trim_end()).into())
        })
}

/// `given` over `base`: tables merge key by key, anything else replaces.
fn merge_into(base: &mut toml::Table, given: toml::Table) {
    for (k, v) in given {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(g)) => merge_into(b, g),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// The options of every study's `run` command (flatten them into the study's
/// clap arguments; the study adds its own overriding flags).
#[cfg(feature = "clap")]
#[derive(Debug, Clone, clap::Args)]
pub struct RunFlags {
    /// TOML configuration (every option has a default; see the study's page in docs/).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// New run directory (default runs/STUDY/UNIX-TIME).
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Continue a killed or finished run from its own config.toml: nothing done is
    /// redone and no model call is repeated. Options that would change a setting
    /// of the run are refused, naming the setting.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Print the plan (stages; planned, recorded and cached jobs; model calls
    /// needed) and stop; nothing is asked or written.
    #[arg(long)]
    pub dry_run: bool,
}

/// The flags of a study whose one model answers (`[model]`): which backend and
/// model, and an endpoint (flatten them into the study's `run` arguments).
#[cfg(feature = "clap")]
#[derive(Debug, Clone, clap::Args)]
pub struct ModelFlags {
    /// Override model.backend (`llama` or `openai`).
    #[arg(long)]
    pub backend: Option<pref_llm::Backend>,
    /// Override model.name (embedded name or GGUF path; the served name with --base-url).
    #[arg(long)]
    pub model: Option<String>,
    /// Override model.base_url (implies --backend openai).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

#[cfg(feature = "clap")]
impl ModelFlags {
    /// `spec` with the flags applied.
    pub fn apply(&self, spec: &mut pref_llm::ModelSpec) {
        if let Some(b) = self.backend {
            spec.backend = b;
        }
        if let Some(m) = &self.model {
            spec.name = m.clone();
        }
        if let Some(url) = &self.base_url {
            spec.base_url = Some(url.clone());
            spec.backend = pref_llm::Backend::Openai;
        }
    }
}

/// The `run` command of every study: a new run (`--config` or the defaults,
/// then `apply` for the study's flags), a resumed one (`--resume`: the run's own
/// configuration, and what the command line makes of it — `--config`, or the
/// flags applied to the run's configuration — must equal it), or the plan of
/// either (`--dry-run`). Prints the results (or the plan) as JSON.
#[cfg(feature = "clap")]
pub fn run_command<S: Study>(
    flags: &RunFlags,
    apply: impl Fn(S::Config) -> std::result::Result<S::Config, BoxError>,
) -> Result<serde_json::Value>
where
    S::Config: Default,
{
    let named = || -> Result<S::Config> {
        let base = match &flags.config {
            Some(p) => read_config(p)?,
            None => S::Config::default(),
        };
        apply(base).map_err(Error::Config)
    };
    match &flags.resume {
        Some(dir) => {
            let stored: S::Config = pref_data::RunDir::open_existing(dir)?.config()?;
            let given = match &flags.config {
                Some(_) => named()?,
                None => apply(stored.clone()).map_err(Error::Config)?,
            };
            if flags.dry_run {
                to_json(&crate::dry_run::<S>(&stored, Some(dir))?)
            } else {
                to_json(&crate::resume::<S>(dir, Some(&given))?)
            }
        }
        None => {
            let cfg = named()?;
            if flags.dry_run {
                to_json(&crate::dry_run::<S>(&cfg, None)?)
            } else {
                to_json(&crate::start::<S>(cfg, flags.out.clone())?)
            }
        }
    }
}

/// The `batch` subcommands of every study binary (the Batch API for models
/// with `batch = true`; see docs/runs.md, "The Batch API").
#[cfg(all(feature = "clap", feature = "openai"))]
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BatchCommand {
    /// Write the requests a run queued, one Batch API input file per batch
    /// model (`DIR/<role>.jsonl`); prints the files and their request counts.
    Export {
        /// The run directory.
        run_dir: PathBuf,
        /// Directory for the input files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Store the answers of Batch API output files in the model cache; then
    /// `run --resume RUN_DIR` reads them with no live call. Failed lines stay
    /// queued and are listed.
    Import {
        /// The run directory.
        run_dir: PathBuf,
        /// Batch API output files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs a [`BatchCommand`] for the study `S`.
#[cfg(all(feature = "clap", feature = "openai"))]
pub fn batch_command<S: Study>(cmd: &BatchCommand) -> Result<serde_json::Value> {
    match cmd {
        BatchCommand::Export { run_dir, out } => {
            to_json(&crate::batch::batch_export::<S>(run_dir, out)?)
        }
        BatchCommand::Import { run_dir, files } => {
            to_json(&crate::batch::batch_import::<S>(run_dir, files)?)
        }
    }
}

/// `set_flag!(flag => field, …)`: for each command-line override that was
/// given (`Option<T>` is `Some`), sets the configuration field to it. Every
/// study's `RunArgs::apply` starts with it.
#[macro_export]
macro_rules! set_flag {
    ($($flag:expr => $field:expr),* $(,)?) => {
        $(
            if let Some(v) = $flag.clone() {
                $field = v;
            }
        )*
    };
}
