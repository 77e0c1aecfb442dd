//! `probe`: do a model's residual-stream activations encode its own
//! preferences?
//!
//! Every task is completed, then rated by the model (the self-report), and
//! the model's pairwise choices between tasks are elicited (pref-elicit); the
//! activations of each completed conversation are read at chosen layers and
//! token positions and written to Parquet as they come; ridge and
//! Bradley–Terry probes (pref-probe) are then fitted on training items and
//! scored on held-out ones, beside noise baselines and a text-only baseline —
//! resumable at any point, on pref-study. See `docs/probe.md`.

mod analysis;
mod config;
mod report;
mod study;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use config::Config;
use pref_study::{ModelFlags, RunFlags};
use study::ProbeStudy;

/// Probe a model's activations for its own preferences: self-reports, pairwise
/// choices and their utilities, against what the task text alone predicts.
#[derive(Debug, Parser)]
#[command(name = "probe", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a study (or resume one with --resume); prints results.json.
    Run(RunArgs),
    /// Progress of a run directory, stage by stage (read-only).
    Status {
        /// The run directory.
        run_dir: PathBuf,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    run: RunFlags,
    /// Override items.n_items (tasks completed, rated and probed).
    #[arg(long)]
    n_items: Option<usize>,
    /// Override completion.max_tokens.
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Override targets.choices: elicit the pairwise choices (true) or not.
    #[arg(long)]
    choices: Option<bool>,
    /// Override probe.test_fraction (share of items held out).
    #[arg(long)]
    test_fraction: Option<f64>,
    /// Override probe.seed (item split, baselines, bootstraps).
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    model: ModelFlags,
}

impl RunArgs {
    /// `base` with the flags applied, checked.
    fn apply(&self, mut c: Config) -> Result<Config> {
        pref_study::set_flag!(
            self.n_items => c.items.n_items,
            self.max_tokens => c.completion.max_tokens,
            self.choices => c.targets.choices,
            self.test_fraction => c.probe.test_fraction,
            self.seed => c.probe.seed,
        );
        self.model.apply(&mut c.model);
        c.check()?;
        Ok(c)
    }
}

fn main() -> ExitCode {
    pref_study::json_main(|| real_main(Cli::parse()))
}

fn real_main(cli: Cli) -> Result<serde_json::Value> {
    Ok(match cli.command {
        Command::Status { run_dir } => {
            pref_study::to_json(&pref_study::run_status::<ProbeStudy>(&run_dir)?)?
        }
        Command::Run(args) => {
            pref_study::run_command::<ProbeStudy>(&args.run, |c| args.apply(c).map_err(Into::into))?
        }
    })
}
