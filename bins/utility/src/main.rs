//! `utility`: which tasks (or states of the world) does a model prefer?
//!
//! Pairwise forced choice in both orders, a Thurstonian fit, held-out checks,
//! position bias, a report with plots — resumable at any point, on pref-study
//! (`docs/architecture.md`). See `docs/utility.md`.

mod config;
mod report;
mod study;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use config::{Answer, Config, ItemKind, Mode, Strategy};
use pref_study::{ModelFlags, RunFlags};
use study::UtilityStudy;

/// Elicit pairwise preferences from a model, fit Thurstonian utilities, report.
#[derive(Debug, Parser)]
#[command(name = "utility", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a study (or resume one with --resume); prints results.json.
    Run(RunArgs),
    /// Progress of a run directory, stage by stage: planned, recorded,
    /// unparseable, answered by the cache, model calls still needed (read-only).
    Status {
        /// The run directory.
        run_dir: PathBuf,
    },
    /// The Batch API, for a model with `batch = true`: export the queued
    /// requests, import the answers, then `run --resume` (docs/runs.md).
    #[command(subcommand)]
    Batch(pref_study::BatchCommand),
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    run: RunFlags,
    /// Override items.n_items.
    #[arg(long)]
    n_items: Option<usize>,
    /// Override items.kind.
    #[arg(long, value_enum)]
    kind: Option<ItemKind>,
    /// Override items.seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override elicitation.mode.
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// Override elicitation.answer.
    #[arg(long, value_enum)]
    answer: Option<Answer>,
    /// Override elicitation.samples (per pair and order).
    #[arg(long)]
    samples: Option<u32>,
    /// Override pairs.strategy.
    #[arg(long, value_enum)]
    strategy: Option<Strategy>,
    /// Override pairs.budget (training pairs for --strategy random).
    #[arg(long)]
    budget: Option<usize>,
    #[command(flatten)]
    model: ModelFlags,
}

impl RunArgs {
    /// `base` with the flags applied, checked.
    fn apply(&self, mut c: Config) -> Result<Config> {
        pref_study::set_flag!(
            self.n_items => c.items.n_items,
            self.kind => c.items.kind,
            self.seed => c.items.seed,
            self.mode => c.elicitation.mode,
            self.answer => c.elicitation.answer,
            self.samples => c.elicitation.samples,
            self.strategy => c.pairs.strategy,
        );
        if self.budget.is_some() {
            c.pairs.budget = self.budget;
        }
        self.model.apply(&mut c.model);
        if c.elicitation.answer == Answer::Text {
            c.elicitation.readout = pref_utility::Readout::Choice;
        }
        c.check()?;
        Ok(c)
    }
}

fn main() -> ExitCode {
    pref_study::json_main(|| real_main(Cli::parse()))
}

fn real_main(cli: Cli) -> Result<serde_json::Value> {
    Ok(match cli.command {
        Command::Batch(cmd) => pref_study::batch_command::<UtilityStudy>(&cmd)?,
        Command::Status { run_dir } => {
            pref_study::to_json(&pref_study::run_status::<UtilityStudy>(&run_dir)?)?
        }
        Command::Run(args) => pref_study::run_command::<UtilityStudy>(&args.run, |c| {
            args.apply(c).map_err(Into::into)
        })?,
    })
}
