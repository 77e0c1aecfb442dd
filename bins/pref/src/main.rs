//! `pref`: file in, JSON out. Every fitting routine of the pref crates is a
//! subcommand (`thurstonian`, `active`, `bt`, `elo`, `ridge`, `cje`, …, in the
//! modules below), beside the data subcommands (`inspect`, `convert`) and the
//! model subcommands (`models`, `generate`, `score`, `choice`).

mod bt_probe;
mod cje;
mod model_cmds;
mod rank;
mod ridge;
mod robustness;
mod thurstonian;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use pref_data::loaders::{load_tasks, Source};
use pref_data::{
    read_records, write_records, Battle, BattleTable, Choice, Comparison, LoggedSample, PairCounts,
    Task, Winner,
};
use serde_json::{json, Value};

const FORMATS: &str = "Formats are chosen by file name: .jsonl / .ndjson (optionally .gz), \
.json (a JSON array), .parquet. Field names are those of docs/data-formats.md.";

/// pref: LLM preference experiments. File in, JSON out.
#[derive(Debug, Parser)]
#[command(name = "pref", version, about, after_help = FORMATS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Record kinds understood by the data subcommands.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// Arena-style battles `{a, b, winner}` or FastChat `{model_a, model_b, winner}`.
    Battle,
    /// Aggregated pair counts `{a, b, count_a, count_b}` or `{a, b, p_a, n}`.
    PairCounts,
    /// Elicited pairwise choices (`Comparison`).
    Comparison,
    /// Logged responses for causal judge evaluation (`LoggedSample`).
    LoggedSample,
    /// Tasks; with `--source` any supported data set (Alpaca, MATH, …).
    Task,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Rank(rank::RankCommand),
    #[command(flatten)]
    Cje(cje::CjeCommand),
    /// List the embedded local models: role, path, size, sha256, installed or not.
    Models,
    /// Generate a completion; prints {text, tokens, finish_reason, logprobs?}.
    Generate(model_cmds::GenerateArgs),
    /// Teacher-force a continuation; prints {sum_logprob, token_logprobs, tokens}.
    ///
    /// Deterministic: identical output on every run (see crates/pref-llm/README.md).
    Score(model_cmds::ScoreArgs),
    /// Log-probabilities of option labels; prints {options: {label: logprob}, normalised: {label: p}}.
    Choice(model_cmds::ChoiceArgs),
    /// Fit Thurstonian utilities to pair counts; held-out log loss and accuracy.
    ///
    /// Prints {"utilities", "train", "test", "fit"} as JSON (details below).
    Thurstonian(thurstonian::ThurstonianArgs),
    /// Ridge probes of a target on activations: alpha sweep from one decomposition,
    /// LOO or k-fold CV, held-out R²/MSE, shuffled-label and random-activation baselines.
    ///
    /// Prints {"alphas", "best_alpha", "test_r2", "test_mse", "baselines", "seconds"} (details below).
    Ridge(ridge::RidgeArgs),
    /// Bradley–Terry probe: a linear score of activations fitted to pairwise
    /// choices by L-BFGS (λ chosen on a validation share, or given).
    ///
    /// Prints {"lambda", "objective", "test_accuracy", "test_log_loss", "weights", …} (details below).
    BtProbe(bt_probe::BtProbeArgs),
    /// Regress run-pair utility correlations on template-factor matches: which
    /// factors move a model's utilities (rank-deficient designs handled).
    ///
    /// Prints {"r2", "intercept", "coefficients", "aliased_groups", "constant", …} (details below).
    Robustness(robustness::RobustnessArgs),
    /// Hard- and soft-cycle rates of pairwise choices over every compared triad,
    /// with bootstrap intervals.
    ///
    /// Prints {"n_triads", "hard_cycles", "hard_cycle_rate", "ci95", "soft_cycle_mean", …}.
    Transitivity(robustness::TransitivityArgs),
    /// Read a record file, validate every record, and print a JSON summary.
    ///
    /// Bad input stops with `path:line: field: what is wrong`.
    #[command(after_help = FORMATS)]
    Inspect {
        /// The file to read.
        file: PathBuf,
        /// What the file holds.
        #[arg(long, value_enum)]
        kind: Kind,
        /// For `--kind task`: the data set the file comes from (tasks, alpaca, math,
        /// wildchat, cnn_dailymail, arena, outcomes).
        #[arg(long, default_value = "tasks")]
        source: Source,
    },
    /// Convert a record file between JSON Lines, gzip JSON Lines, JSON and Parquet.
    ///
    /// The output is written atomically (temporary file, then rename). Prints
    /// `{"input", "output", "records", "seconds"}`.
    #[command(after_help = FORMATS)]
    Convert {
        /// The file to read.
        input: PathBuf,
        /// The file to write; its name chooses the format.
        output: PathBuf,
        /// What the file holds.
        #[arg(long, value_enum)]
        kind: Kind,
        /// For `--kind task`: the data set the input comes from (see `inspect`).
        #[arg(long, default_value = "tasks")]
        source: Source,
    },
}

fn main() -> std::process::ExitCode {
    pref_study::json_main(|| run(Cli::parse()))
}

fn run(cli: Cli) -> Result<Value> {
    Ok(match cli.command {
        Command::Rank(c) => rank::run(c)?,
        Command::Cje(c) => cje::run(c)?,
        Command::Models => model_cmds::models()?,
        Command::Generate(a) => model_cmds::generate(a)?,
        Command::Score(a) => model_cmds::score(a)?,
        Command::Choice(a) => model_cmds::choice(a)?,
        Command::Thurstonian(args) => thurstonian::run(&args)?,
        Command::Ridge(args) => ridge::run(&args)?,
        Command::BtProbe(args) => bt_probe::run(&args)?,
        Command::Robustness(args) => robustness::robustness(&args)?,
        Command::Transitivity(args) => robustness::transitivity_cmd(&args)?,
        Command::Inspect { file, kind, source } => inspect(&file, kind, source)?,
        Command::Convert {
            input,
            output,
            kind,
            source,
        } => convert(&input, &output, kind, source)?,
    })
}

fn inspect(file: &Path, kind: Kind, source: Source) -> Result<Value> {
    let mut v = match kind {
        Kind::Battle => summarise_battles(&BattleTable::read(file)?),
        Kind::PairCounts => summarise_pair_counts(&read_records::<PairCounts>(file)?),
        Kind::Comparison => summarise_comparisons(&read_records::<Comparison>(file)?),
        Kind::LoggedSample => summarise_logged(&read_records::<LoggedSample>(file)?),
        Kind::Task => summarise_tasks(&load_tasks(file, source)?),
    };
    v["file"] = json!(file);
    Ok(v)
}

fn convert(input: &Path, output: &Path, kind: Kind, source: Source) -> Result<Value> {
    let start = Instant::now();
    let n = match kind {
        Kind::Battle => copy::<Battle>(input, output)?,
        Kind::PairCounts => copy::<PairCounts>(input, output)?,
        Kind::Comparison => copy::<Comparison>(input, output)?,
        Kind::LoggedSample => copy::<LoggedSample>(input, output)?,
        Kind::Task => {
            let tasks = load_tasks(input, source)?;
            write_records(output, &tasks)?;
            tasks.len()
        }
    };
    Ok(json!({
        "input": input,
        "output": output,
        "records": n,
        "seconds": start.elapsed().as_secs_f64(),
    }))
}

fn copy<T: pref_data::TableRecord>(input: &Path, output: &Path) -> Result<usize> {
    let records: Vec<T> = read_records(input)?;
    write_records(output, &records).with_context(|| format!("writing {}", output.display()))?;
    Ok(records.len())
}

fn summarise_battles(t: &BattleTable) -> Value {
    let mut per_model: Vec<[u64; 4]> = vec![[0; 4]; t.models.len()];
    let mut winners = [0u64; 3];
    for i in 0..t.len() {
        let (a, b) = (t.a[i] as usize, t.b[i] as usize);
        per_model[a][0] += 1;
        per_model[b][0] += 1;
        match t.winner[i] {
            Winner::A => {
                winners[0] += 1;
                per_model[a][1] += 1;
                per_model[b][2] += 1;
            }
            Winner::B => {
                winners[1] += 1;
                per_model[b][1] += 1;
                per_model[a][2] += 1;
            }
            Winner::Tie => {
                winners[2] += 1;
                per_model[a][3] += 1;
                per_model[b][3] += 1;
            }
        }
    }
    let models: BTreeMap<&str, Value> = t
        .models
        .iter()
        .zip(&per_model)
        .map(|(m, c)| {
            (
                m.as_str(),
                json!({"battles": c[0], "wins": c[1], "losses": c[2], "ties": c[3]}),
            )
        })
        .collect();
    json!({
        "kind": "battle",
        "n_battles": t.len(),
        "n_models": t.models.len(),
        "n_pairs": t.pair_cells().len(),
        "winner": {"a": winners[0], "b": winners[1], "tie": winners[2]},
        "models": models,
    })
}

fn summarise_pair_counts(p: &[PairCounts]) -> Value {
    let items: BTreeSet<&str> = p
        .iter()
        .flat_map(|x| [x.a.as_str(), x.b.as_str()])
        .collect();
    let total: f64 = p.iter().map(PairCounts::n).sum();
    json!({
        "kind": "pair-counts",
        "n_pairs": p.len(),
        "n_items": items.len(),
        "n_comparisons": total,
        "mean_comparisons_per_pair": total / p.len() as f64,
    })
}

fn summarise_comparisons(c: &[Comparison]) -> Value {
    let count = |ch: Option<Choice>| c.iter().filter(|x| x.choice == ch).count();
    // Position bias: the first-shown option's mean score over the parseable
    // answers, ties counting ½ (`Comparison::first_shown_score`, the one definition).
    let scores: Vec<f64> = c.iter().filter_map(Comparison::first_shown_score).collect();
    let first = scores.iter().filter(|&&s| s == 1.0).count();
    let models: BTreeSet<&str> = c.iter().map(|x| x.model.as_str()).collect();
    let templates: BTreeSet<&str> = c.iter().map(|x| x.template.as_str()).collect();
    json!({
        "kind": "comparison",
        "n_comparisons": c.len(),
        "choice": {"a": count(Some(Choice::A)), "b": count(Some(Choice::B)),
                   "tie": count(Some(Choice::Tie)), "unparseable": count(None)},
        "first_position_wins": first,
        "parseable": scores.len(),
        "first_position_share": if scores.is_empty() { Value::Null } else { json!(scores.iter().sum::<f64>() / scores.len() as f64) },
        "models": models,
        "templates": templates,
    })
}

fn summarise_logged(s: &[LoggedSample]) -> Value {
    let prompts: BTreeSet<&str> = s.iter().map(|x| x.prompt_id.as_str()).collect();
    let policies: BTreeSet<&str> = s
        .iter()
        .flat_map(|x| x.target_policy_logprobs.keys().map(String::as_str))
        .collect();
    let oracle = s.iter().filter(|x| x.oracle_label.is_some()).count();
    let mean_judge = s.iter().map(|x| x.judge_score).sum::<f64>() / s.len() as f64;
    json!({
        "kind": "logged-sample",
        "n_samples": s.len(),
        "n_prompts": prompts.len(),
        "policies": policies,
        "oracle_rows": oracle,
        "mean_judge_score": mean_judge,
    })
}

fn summarise_tasks(t: &[Task]) -> Value {
    let mut sources: BTreeMap<&str, usize> = BTreeMap::new();
    for x in t {
        *sources.entry(x.source.as_str()).or_default() += 1;
    }
    let lens: Vec<usize> = t.iter().map(|x| x.prompt.chars().count()).collect();
    json!({
        "kind": "task",
        "n_tasks": t.len(),
        "sources": sources,
        "with_reference": t.iter().filter(|x| x.reference.is_some()).count(),
        "prompt_chars": {"mean": lens.iter().sum::<usize>() as f64 / lens.len() as f64,
                         "max": lens.iter().max()},
    })
}
