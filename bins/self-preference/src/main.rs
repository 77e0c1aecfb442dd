//! `self-preference`: do judge models prefer their own outputs?
//!
//! Authors (models, model variants, recorded outputs) write summaries or
//! answers; every judge compares its own output with every other author's in
//! both orders (and, optionally, says which one it wrote). The study reports
//! self-preference, recognition, position bias, order flips and self-bias
//! against a ground truth, with bootstrap intervals — resumable at any point, on
//! pref-study (`docs/architecture.md`). See `docs/self-preference.md`.

mod analysis;
mod config;
mod report;
mod study;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use config::{Answer, Config, Pairs, TaskKind};
use pref_study::{to_json, RunFlags};
use study::SelfPreference;

/// Judge models comparing their own outputs with others': self-preference,
/// recognition, position bias, ratings against Chatbot Arena.
#[derive(Debug, Parser)]
#[command(name = "self-preference", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a study (or resume one with --resume); prints results.json.
    Run(Box<RunArgs>),
    /// Progress of a run directory, stage by stage: planned, recorded,
    /// unparseable, answered by the cache, model calls still needed (read-only).
    Status {
        /// The run directory.
        run_dir: PathBuf,
    },
    /// Every measure from recorded pairwise judgments (JSONL with question_id,
    /// model_a, model_b, winner, judge, order, optional choice_prob); prints JSON.
    Analyze(AnalyzeArgs),
    /// One analysis over the judgments of several run directories.
    Merge(MergeArgs),
    /// The Batch API, for a model with `batch = true`: export the queued
    /// requests, import the answers, then `run --resume` (docs/runs.md).
    #[command(subcommand)]
    Batch(pref_study::BatchCommand),
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    run: RunFlags,
    /// Override tasks.file.
    #[arg(long, value_name = "FILE")]
    tasks: Option<PathBuf>,
    /// Override tasks.source (format of --tasks).
    #[arg(long)]
    source: Option<String>,
    /// Override tasks.kind.
    #[arg(long, value_enum)]
    kind: Option<TaskKind>,
    /// Override tasks.n (tasks drawn).
    #[arg(long)]
    n: Option<usize>,
    /// Override judging.pairs.
    #[arg(long, value_enum)]
    pairs: Option<Pairs>,
    /// Override judging.answer.
    #[arg(long, value_enum)]
    answer: Option<Answer>,
    /// Override judging.recognition.
    #[arg(long)]
    recognition: Option<bool>,
    /// Point every model author at this OpenAI-compatible endpoint
    /// (`http://host:port/v1`); each author's model name becomes the served name.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
}

impl RunArgs {
    /// `c` with the flags applied, checked.
    fn apply(&self, mut c: Config) -> Result<Config> {
        if let Some(v) = &self.tasks {
            c.tasks.file = v.clone();
        }
        if let Some(v) = &self.source {
            c.tasks.source = v.clone();
        }
        if let Some(v) = self.kind {
            c.tasks.kind = v;
        }
        if let Some(v) = self.n {
            c.tasks.n = v;
        }
        if let Some(v) = self.pairs {
            c.judging.pairs = v;
        }
        if let Some(v) = self.answer {
            c.judging.answer = v;
        }
        if let Some(v) = self.recognition {
            c.judging.recognition = v;
        }
        if let Some(url) = &self.base_url {
            for a in &mut c.authors {
                if let Some(m) = &mut a.model {
                    m.backend = pref_llm::Backend::Openai;
                    m.base_url = Some(url.clone());
                }
            }
        }
        c.check()?;
        Ok(c)
    }
}

#[derive(Debug, Args)]
struct AnalyzeArgs {
    /// Recorded judgments (JSON Lines).
    file: PathBuf,
    /// Also write results.json, report.md and heatmaps into this directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Bootstrap replicates (resampling question ids).
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Optional ground truth: a leaderboard file (LMArena JSON, Arena Elo CSV or
    /// bootstrap JSONL) to compare the judge-derived ratings with.
    #[arg(long, value_name = "FILE")]
    ground_truth: Option<PathBuf>,
    /// Leaderboard category (LMArena JSON).
    #[arg(long)]
    category: Option<String>,
    /// Name mapping `author=leaderboard-name`, repeatable.
    #[arg(long = "name", value_name = "AUTHOR=MODEL", value_parser = parse_mapping)]
    names: Vec<(String, String)>,
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// Run directories of the same study design (their judgments are pooled).
    #[arg(required = true, num_args = 1..)]
    runs: Vec<PathBuf>,
    /// Where to write the merged results.json, report.md and heatmaps.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn parse_mapping(s: &str) -> std::result::Result<(String, String), String> {
    let (a, b) = s
        .split_once('=')
        .ok_or_else(|| format!("expected AUTHOR=MODEL, got `{s}`"))?;
    if a.trim().is_empty() || b.trim().is_empty() {
        return Err(format!("expected AUTHOR=MODEL, got `{s}`"));
    }
    Ok((a.trim().to_string(), b.trim().to_string()))
}

fn main() -> ExitCode {
    pref_study::json_main(|| real_main(Cli::parse()))
}

fn real_main(cli: Cli) -> Result<serde_json::Value> {
    match cli.command {
        Command::Batch(cmd) => Ok(pref_study::batch_command::<SelfPreference>(&cmd)?),
        Command::Status { run_dir } => Ok(to_json(&pref_study::run_status::<SelfPreference>(
            &run_dir,
        )?)?),
        Command::Analyze(a) => Ok(to_json(&analysis::analyze_file(
            &a.file,
            a.out.as_deref(),
            a.bootstrap,
            a.seed,
            a.ground_truth.map(|file| config::GroundTruth {
                file,
                category: a.category.clone(),
                names: a.names.iter().cloned().collect(),
            }),
        )?)?),
        Command::Merge(m) => Ok(to_json(&analysis::merge(&m.runs, &m.out)?)?),
        Command::Run(args) => Ok(pref_study::run_command::<SelfPreference>(&args.run, |c| {
            args.apply(c).map_err(Into::into)
        })?),
    }
}
