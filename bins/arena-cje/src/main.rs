//! `arena-cje`: what would each policy score, estimated from one logging
//! policy's responses?
//!
//! π0 answers English Arena prompts, recording its log-probabilities; every
//! response is teacher-forced under each target policy (a system prompt or a
//! model with the same tokenizer); each target also answers afresh; a judge
//! scores every response from its label log-probabilities and an oracle labels
//! a share of them; pref-cje then estimates each target's value with IPS,
//! SNIPS, calibrated IPS, DR and the calibrated direct estimate, with weight
//! diagnostics and a verdict on which to trust — resumable at any point, on
//! pref-study. See `docs/arena-cje.md`.

mod analysis;
mod config;
mod prompts;
mod report;
mod study;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use config::Config;
use pref_study::RunFlags;
use study::ArenaCje;

/// Causal judge evaluation on Arena prompts: logged responses, teacher forcing,
/// fresh draws, judge and oracle scores, off-policy and direct estimates.
#[derive(Debug, Parser)]
#[command(name = "arena-cje", version, about, long_about = None)]
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
    /// The Batch API, for a judge or oracle with `batch = true`: export the
    /// queued requests, import the answers, then `run --resume`.
    #[command(subcommand)]
    Batch(pref_study::BatchCommand),
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    run: RunFlags,
    /// Override prompts.path (an arena-hard question.jsonl).
    #[arg(long, value_name = "FILE")]
    prompts: Option<PathBuf>,
    /// Override prompts.n (prompts drawn after the filters).
    #[arg(long)]
    n: Option<usize>,
    /// Override logging.max_tokens (tokens of every response, logged and fresh).
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Override fresh.draws (responses of each target per prompt).
    #[arg(long)]
    draws: Option<usize>,
    /// Override oracle.fraction (share of prompts the oracle labels).
    #[arg(long)]
    oracle_fraction: Option<f64>,
    /// Override oracle.enabled: false estimates on the judge's own scale.
    #[arg(long)]
    oracle: Option<bool>,
}

impl RunArgs {
    /// `base` with the flags applied, checked.
    fn apply(&self, mut c: Config) -> Result<Config> {
        pref_study::set_flag!(
            self.prompts => c.prompts.path,
            self.n => c.prompts.n,
            self.max_tokens => c.logging.max_tokens,
            self.draws => c.fresh.draws,
            self.oracle_fraction => c.oracle.fraction,
            self.oracle => c.oracle.enabled,
        );
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
            pref_study::to_json(&pref_study::run_status::<ArenaCje>(&run_dir)?)?
        }
        Command::Batch(cmd) => pref_study::batch_command::<ArenaCje>(&cmd)?,
        Command::Run(args) => {
            pref_study::run_command::<ArenaCje>(&args.run, |c| args.apply(c).map_err(Into::into))?
        }
    })
}
