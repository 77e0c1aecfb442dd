//! `personal-rank`: whose ranking of models is it?
//!
//! Personas write prompts; contestant models answer them; a judge compares
//! every pair of answers as the persona, in both orders. Three systems learn
//! each persona's ranking from growing numbers of its comparisons — global
//! ratings with Elo offsets (A), a reward head on MiniLM embeddings (B), and a
//! Bradley–Terry model with persona offsets and style covariates (C) — and are
//! scored against a round-robin ground truth on held-out prompts, over several
//! repetitions, with intervals; resumable at any point, on pref-study. See
//! `docs/personal-rank.md`.

mod analysis;
mod config;
mod report;
mod study;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use config::Config;
use pref_study::RunFlags;
use study::PersonalRank;

/// Personalised model rankings: Elo offsets, a reward head and a
/// style-controlled Bradley–Terry model, against each persona's ground truth.
#[derive(Debug, Parser)]
#[command(name = "personal-rank", version, about, long_about = None)]
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
    /// Override prompts.per_persona (prompts each persona writes).
    #[arg(long, value_name = "N")]
    prompts: Option<usize>,
    /// Override analysis.seeds (repetitions of the evaluation, ≥ 2).
    #[arg(long, value_name = "N")]
    seeds: Option<usize>,
    /// Override analysis.heldout (held-out prompts per persona).
    #[arg(long, value_name = "N")]
    heldout: Option<usize>,
    /// Override analysis.incremental: System B continues training from the
    /// previous learning-curve point instead of starting afresh.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    incremental: Option<bool>,
    /// Override generation.max_tokens (tokens per answer).
    #[arg(long, value_name = "N")]
    max_tokens: Option<u32>,
    /// Override global.leaderboard (an Arena leaderboard file, JSON or CSV).
    #[arg(long, value_name = "FILE")]
    leaderboard: Option<PathBuf>,
}

impl RunArgs {
    fn apply(&self, mut c: Config) -> Result<Config> {
        pref_study::set_flag!(
            self.prompts => c.prompts.per_persona,
            self.seeds => c.analysis.seeds,
            self.heldout => c.analysis.heldout,
            self.incremental => c.analysis.incremental,
            self.max_tokens => c.generation.max_tokens,
        );
        if let Some(l) = &self.leaderboard {
            c.global.leaderboard = Some(l.clone());
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
        Command::Status { run_dir } => {
            pref_study::to_json(&pref_study::run_status::<PersonalRank>(&run_dir)?)?
        }
        Command::Batch(cmd) => pref_study::batch_command::<PersonalRank>(&cmd)?,
        Command::Run(args) => pref_study::run_command::<PersonalRank>(&args.run, |c| {
            args.apply(c).map_err(Into::into)
        })?,
    })
}
