//! `pref elo`, `pref bt`, `pref rank-metrics`: ratings and ranking metrics (pref-rank).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use pref_data::{quote, BattleTable};
use pref_rank::{
    ranking_metrics, BootstrapParams, BtParams, EloParams, PairData, ParamGuard, Ratings,
};
use serde::Deserialize;
use serde_json::{json, Value};

const BATTLES: &str = "Battles: the project's {a, b, winner} (winner a | b | tie) or FastChat's \
{model_a, model_b, winner} (winner model_a | model_b | tie | tie (bothbad)), as .jsonl, \
.jsonl.gz, .json or .parquet. Bad input stops with `path:line: field: what is wrong`.";

/// The rating and ranking subcommands.
#[derive(Debug, Subcommand)]
pub enum RankCommand {
    /// Online Elo over the battles in file order, exactly as FastChat's `compute_elo`.
    ///
    /// Prints `{"ratings": {model: rating}, "n_battles": n}`.
    #[command(after_help = BATTLES)]
    Elo {
        /// Battle file.
        #[arg(long)]
        battles: PathBuf,
        /// Step size K.
        #[arg(long, default_value_t = 4.0)]
        k: f64,
        /// Initial rating of every model.
        #[arg(long, default_value_t = 1000.0)]
        init: f64,
    },
    /// Bradley–Terry maximum likelihood (ties = half a win each way) with bootstrap
    /// percentile intervals and ranks, on the Elo scale (400/ln 10 · θ + 1000).
    ///
    /// Prints `{"ratings", "ci": {model: {"lower", "median", "upper"}}, "rank",
    /// "n_battles", "seconds": {"load", "fit", "bootstrap"}}`. Unanchored ratings have
    /// mean 1000; rank = 1 + number of models whose lower bound exceeds this model's
    /// upper bound.
    #[command(after_help = BATTLES)]
    Bt {
        /// Battle file.
        #[arg(long)]
        battles: PathBuf,
        /// Bootstrap replicates (multinomial over pair cells).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
        bootstrap: u64,
        /// Seed of the bootstrap (results do not depend on the thread count).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Pin one model's rating, e.g. `mixtral-8x7b-instruct-v0.1=1114`.
        #[arg(long, value_name = "MODEL=RATING", value_parser = parse_anchor)]
        anchor: Option<(String, f64)>,
        /// Precision τ of a N(0, 1/τ) prior on each strength (0 = plain MLE). A small
        /// value such as 0.01 fits disconnected or unbeaten-group data.
        #[arg(long, default_value_t = 0.0)]
        prior: f64,
        /// Confidence level of the intervals.
        #[arg(long, default_value_t = 0.95)]
        level: f64,
    },
    /// Kendall τ-b, Spearman ρ (with scipy's p-values), pairwise accuracy, top-1 and
    /// top-3 hit of predicted scores x against reference scores y.
    ///
    /// Input: a JSON object `{"x": [...], "y": [...]}`. Prints `{"kendall_tau_b",
    /// "kendall_tau_b_pvalue", "spearman_rho", "spearman_pvalue", "pairwise_accuracy",
    /// "top1", "top3"}`; undefined values (constant input) are null.
    RankMetrics {
        /// JSON file with `x` (predicted) and `y` (reference) scores of the same items.
        #[arg(long)]
        input: PathBuf,
    },
}

fn parse_anchor(s: &str) -> std::result::Result<(String, f64), String> {
    let (m, r) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected MODEL=RATING, got `{}`", quote(s)))?;
    let r: f64 = r
        .trim()
        .parse()
        .map_err(|_| format!("rating `{}` is not a number", quote(r)))?;
    if m.is_empty() || !r.is_finite() {
        return Err(format!(
            "expected MODEL=RATING with a finite rating, got `{}`",
            quote(s)
        ));
    }
    Ok((m.to_string(), r))
}

/// Runs one rating subcommand and returns its JSON output.
pub fn run(cmd: RankCommand) -> Result<Value> {
    match cmd {
        RankCommand::Elo { battles, k, init } => elo(&battles, k, init),
        RankCommand::Bt {
            battles,
            bootstrap,
            seed,
            anchor,
            prior,
            level,
        } => bt(&battles, bootstrap as usize, seed, anchor, prior, level),
        RankCommand::RankMetrics { input } => rank_metrics(&input),
    }
}

fn ratings_json(r: &Ratings) -> BTreeMap<String, f64> {
    r.to_map()
}

fn elo(path: &Path, k: f64, init: f64) -> Result<Value> {
    let params = EloParams::default().k(k).init(init).check()?;
    let table = BattleTable::read(path)?;
    let ratings = params.fit(&table);
    Ok(json!({"ratings": ratings_json(&ratings), "n_battles": table.len()}))
}

fn bt(
    path: &Path,
    replicates: usize,
    seed: u64,
    anchor: Option<(String, f64)>,
    prior: f64,
    level: f64,
) -> Result<Value> {
    let params = BtParams {
        anchor,
        prior_precision: prior,
        ..BtParams::default()
    }
    .check()?;
    let boot = BootstrapParams::default()
        .replicates(replicates)
        .seed(seed)
        .level(level)
        .check()?;
    let t0 = Instant::now();
    let table = BattleTable::read(path)?;
    let t_load = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let data = PairData::from_table(&table);
    let fit = params
        .fit(&data)
        .with_context(|| format!("fitting {}", path.display()))?;
    let t_fit = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let b = boot.run(&params, &data, &fit)?;
    let t_boot = t2.elapsed().as_secs_f64();
    let mut ci = BTreeMap::new();
    let mut rank = BTreeMap::new();
    for (m, name) in b.models.iter().enumerate() {
        ci.insert(
            name.clone(),
            json!({"lower": b.lower[m], "median": b.median[m], "upper": b.upper[m]}),
        );
        rank.insert(name.clone(), b.rank[m]);
    }
    Ok(json!({
        "ratings": ratings_json(&fit.ratings),
        "ci": ci,
        "rank": rank,
        "n_battles": table.len(),
        "seconds": {"load": t_load, "fit": t_fit, "bootstrap": t_boot},
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsInput {
    x: Vec<f64>,
    y: Vec<f64>,
}

fn rank_metrics(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if text.trim().is_empty() {
        bail!(
            "{}:1: empty file: expected {{\"x\": [...], \"y\": [...]}}",
            path.display()
        );
    }
    let input: MetricsInput = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), e.line()))?;
    if input.x.len() != input.y.len() {
        bail!(
            "{}: y: has {} values but x has {}",
            path.display(),
            input.y.len(),
            input.x.len()
        );
    }
    if input.x.is_empty() {
        bail!("{}: x: must not be empty", path.display());
    }
    let m = ranking_metrics(&input.x, &input.y).with_context(|| format!("{}", path.display()))?;
    Ok(serde_json::to_value(m)?)
}
