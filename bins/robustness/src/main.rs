//! `robustness`: are a model's utilities robust to the prompt template?
//!
//! The utility elicitation (pref-elicit) run once per template configuration
//! drawn from a grid of factors (phrasing, language, context, instruction
//! position and tags, labels, typos, punctuation, response format, order,
//! seed), then the regression of the configurations' agreement on the factors
//! they share, and transitivity per configuration — resumable at any point, on
//! pref-study. See `docs/robustness.md`.

mod config;
mod design;
mod report;
mod study;
mod template;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use config::Config;
use pref_elicit::Answer;
use pref_study::{ModelFlags, RunFlags};
use study::RobustnessStudy;

/// Elicit utilities over a grid of prompt templates and measure which template
/// factors move them.
#[derive(Debug, Parser)]
#[command(name = "robustness", version, about, long_about = None)]
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
    /// The Batch API, for a model with `batch = true`: export the queued
    /// requests, import the answers, then `run --resume` (docs/runs.md).
    #[command(subcommand)]
    Batch(pref_study::BatchCommand),
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    run: RunFlags,
    /// Override items.n_items (the same items in every configuration).
    #[arg(long)]
    n_items: Option<usize>,
    /// Override design.n_configs (template configurations drawn).
    #[arg(long)]
    n_configs: Option<usize>,
    /// Override design.seed (the draw of configurations).
    #[arg(long)]
    design_seed: Option<u64>,
    /// Override elicitation.answer (`logprobs` or `text`).
    #[arg(long, value_enum)]
    answer: Option<Answer>,
    #[command(flatten)]
    model: ModelFlags,
}

impl RunArgs {
    /// `base` with the flags applied, checked.
    fn apply(&self, mut c: Config) -> Result<Config> {
        pref_study::set_flag!(
            self.n_items => c.items.n_items,
            self.n_configs => c.design.n_configs,
            self.design_seed => c.design.seed,
            self.answer => c.elicitation.answer,
        );
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
        Command::Batch(cmd) => pref_study::batch_command::<RobustnessStudy>(&cmd)?,
        Command::Status { run_dir } => {
            pref_study::to_json(&pref_study::run_status::<RobustnessStudy>(&run_dir)?)?
        }
        Command::Run(args) => pref_study::run_command::<RobustnessStudy>(&args.run, |c| {
            args.apply(c).map_err(Into::into)
        })?,
    })
}
