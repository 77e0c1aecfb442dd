//! `pref cje` and `pref ope`: off-policy estimates (pref-cje).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pref_cje::{
    bandit_estimates, read_bandit_rows, BanditParams, CjeData, CjeParams, EstimatorKind,
    WeightCalibration,
};
use serde_json::{json, Value};

const LOGGED: &str =
    "Logged file: one LoggedSample per line (.jsonl, .jsonl.gz, .json or .parquet) \
with the CJE library's fields {prompt_id, prompt, response, base_policy_logprob, \
target_policy_logprobs: {policy: logprob}, judge_score in [0,1], oracle_label?, metadata?}. \
Every row must carry every target policy. Fresh draws: DIR/<policy>_responses.jsonl with \
{prompt_id, judge_score, ...}, at least one per logged prompt. Bad input stops with \
`path:line: field: what is wrong`.

Estimators: ips, snips, clipped-ips, calibrated-ips, dr, tmle, stacked-dr, direct (the last \
four need fresh draws; direct uses no importance weights). Default: all that the data allow. With oracle labels on some rows the \
judge is calibrated to the oracle scale (isotonic, cross-fitted by prompt) and the intervals \
include the calibration's uncertainty; without, the judge score is the reward. The gate \
(ok / warn / refuse) flags unreliable importance weights; refused estimates are still printed. \
See crates/pref-cje/README.md for which estimator to choose.";

/// The off-policy evaluation subcommands.
#[derive(Debug, Subcommand)]
pub enum CjeCommand {
    /// Causal judge evaluation: estimate each target policy's mean (oracle-scale)
    /// reward from responses logged under a base policy.
    ///
    /// Prints {"policies": {"<policy>": {"estimates": {"<estimator>": {"estimate", "se",
    /// "ci_lower", "ci_upper", ...}}, "diagnostics": {"ess_fraction", "hill_tail_index",
    /// "max_weight", "zero_logprob_rate", ...}, "gate": {"status", "reasons"}}},
    /// "calibration": {"oracle_rows", "folds", "mode", ...}}.
    #[command(after_help = LOGGED)]
    Cje(CjeArgs),
    /// Generic bandit off-policy estimators from per-row numbers (no contexts).
    ///
    /// Input rows {"reward", "pscore", "target_prob", "q_hat", "q_hat_target"}
    /// (.jsonl, .json or .parquet): reward, logging propensity of the logged action,
    /// target probability of the logged action, outcome-model prediction for it and
    /// its expectation under the target. Prints {"<estimator>": {"estimate", "se",
    /// "ci_lower", "ci_upper"}} for ipw, snipw, dr, sndr and switch-dr.
    Ope(OpeArgs),
}

/// Arguments of `pref cje`.
#[derive(Debug, Args)]
pub struct CjeArgs {
    /// Logged samples.
    #[arg(long)]
    logged: PathBuf,
    /// Directory with `<policy>_responses.jsonl` fresh draws (needed by dr, tmle, stacked-dr).
    #[arg(long)]
    fresh_draws: Option<PathBuf>,
    /// Estimator to compute (repeatable; default: all that the data allow).
    #[arg(long = "estimator", value_name = "NAME")]
    estimators: Vec<EstimatorKind>,
    /// Cross-fitting folds (prompts are dealt to folds).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Seed of the fold assignment and the bootstrap.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Clipping threshold of clipped-ips (raw weight scale).
    #[arg(long, default_value_t = 100.0)]
    clip: f64,
    /// Confidence level.
    #[arg(long, default_value_t = 0.95)]
    level: f64,
    /// Percentile intervals from this many cluster-bootstrap replicates (0 = influence-function intervals).
    #[arg(long, default_value_t = 0)]
    bootstrap: usize,
    /// Weight projection of calibrated-ips: stack, choose, increasing, decreasing.
    #[arg(long, default_value = "stack", value_parser = parse_weight_calibration)]
    weight_calibration: WeightCalibration,
    /// Also write a human-readable Markdown report here (says "not reliable" for refused policies).
    #[arg(long)]
    report: Option<PathBuf>,
}

/// Arguments of `pref ope`.
#[derive(Debug, Args)]
pub struct OpeArgs {
    /// Bandit rows.
    #[arg(long)]
    input: PathBuf,
    /// Switch-DR threshold on w = target_prob / pscore (default ∞: Switch-DR = DR).
    #[arg(long, default_value_t = f64::INFINITY)]
    switch_lambda: f64,
    /// Confidence level.
    #[arg(long, default_value_t = 0.95)]
    level: f64,
}

fn parse_weight_calibration(s: &str) -> std::result::Result<WeightCalibration, String> {
    match s {
        "stack" => Ok(WeightCalibration::Stack),
        "choose" => Ok(WeightCalibration::Choose),
        "increasing" => Ok(WeightCalibration::Increasing),
        "decreasing" => Ok(WeightCalibration::Decreasing),
        _ => Err(format!(
            "expected stack, choose, increasing or decreasing, got `{}`",
            pref_data::quote(s)
        )),
    }
}

/// Runs one subcommand and returns its JSON output.
pub fn run(cmd: CjeCommand) -> Result<Value> {
    match cmd {
        CjeCommand::Cje(a) => cje(a),
        CjeCommand::Ope(a) => ope(a),
    }
}

fn cje(a: CjeArgs) -> Result<Value> {
    let params = CjeParams {
        estimators: a.estimators,
        folds: a.folds,
        seed: a.seed,
        clip: a.clip,
        level: a.level,
        bootstrap: a.bootstrap,
        weight_calibration: a.weight_calibration,
        ..CjeParams::default()
    }
    .check()?;
    let mut data = CjeData::read(&a.logged)?;
    if let Some(dir) = &a.fresh_draws {
        data.read_fresh_draws_dir(dir)?;
    }
    let result = params
        .fit(&data)
        .with_context(|| format!("estimating from {}", a.logged.display()))?;
    if let Some(path) = &a.report {
        pref_data::write_atomic(path, result.to_markdown().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(serde_json::to_value(&result)?)
}

fn ope(a: OpeArgs) -> Result<Value> {
    let rows = read_bandit_rows(&a.input)?;
    let e = bandit_estimates(
        &rows,
        &BanditParams {
            switch_lambda: a.switch_lambda,
            level: a.level,
        },
    )
    .with_context(|| format!("estimating from {}", a.input.display()))?;
    Ok(json!(e))
}
