//! `pref bt-probe`: a Bradley–Terry probe of activations fitted to pairwise
//! choices (pref-probe). See docs/probe.md.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use pref_data::{FieldError, Record};
use pref_probe::{fit_bt_probe, pair_metrics, read_activations, BtProbeParams, PairCounts};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::robustness::read_lines;

const AFTER_HELP: &str = "\
Input: X as .npy [n, d] (float32, float64 or integers) or .parquet; pair files as JSON \
Lines, one pair a line: {\"a\": i, \"b\": j, \"count_a\": n, \"count_b\": m}, a and b row \
indices of X, the counts the times each was chosen.
Model: score s = Xw (no intercept); objective (1/N) Σ [c_a·log(1 + e^-(s_a − s_b)) + \
c_b·log(1 + e^(s_a − s_b))] + (λ/2)‖w‖², N = Σ (c_a + c_b), minimised by L-BFGS. \
--standardize centres and scales X's columns on the rows of the items in training pairs \
(a constant column keeps scale 1). With one --lambda nothing is tuned: the result is the \
exact minimiser. With --lambdas, each is fitted on the training pairs minus a seeded \
--validation-fraction, the one with the lowest validation log loss is refitted on all of them.
Accuracy: share of pairs with unequal counts and unequal scores whose higher-scored side \
was chosen more often. Log loss: per comparison.
Output:
  {\"lambda\", \"objective\", \"converged\", \"iterations\", \"grad_norm\",
   \"train_accuracy\", \"train_log_loss\", \"test_accuracy\", \"test_log_loss\",
   \"n_train_pairs\", \"n_test_pairs\", \"n_test_decisive\", \"validation\": [{\"lambda\",
   \"validation_log_loss\", \"validation_accuracy\"}], \"weights\" (as fitted), \"raw_weights\"
   (per raw feature), \"standardized\", \"seconds\"}";

/// Arguments of `pref bt-probe`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct BtProbeArgs {
    /// Activations [n, d] (.npy or .parquet), one row per item.
    #[arg(long, value_name = "FILE")]
    pub x: PathBuf,
    /// Training pairs (JSON Lines, format below).
    #[arg(long, value_name = "FILE")]
    pub pairs: PathBuf,
    /// Held-out pairs to evaluate on (JSON Lines).
    #[arg(long, value_name = "FILE")]
    pub test_pairs: Option<PathBuf>,
    /// One L2 penalty (> 0): no tuning.
    #[arg(long, conflicts_with = "lambdas")]
    pub lambda: Option<f64>,
    /// Comma-separated penalties to choose from on a validation share of the pairs.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.0001,0.001,0.01,0.1,1,10,100"
    )]
    pub lambdas: Vec<f64>,
    /// Share of the training pairs held out to choose λ.
    #[arg(long, default_value_t = 0.2)]
    pub validation_fraction: f64,
    /// Standardise X's columns on the training items' rows.
    #[arg(long)]
    pub standardize: bool,
    /// Seed of the validation split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// One line of a pair file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexPair {
    a: usize,
    b: usize,
    count_a: f64,
    count_b: f64,
}

impl Record for IndexPair {
    const KIND: &'static str = "pair";
    fn validate(&self) -> std::result::Result<(), FieldError> {
        if self.a == self.b {
            return Err(FieldError::new("b", "the same row as `a`"));
        }
        for (f, c) in [("count_a", self.count_a), ("count_b", self.count_b)] {
            if !(c.is_finite() && c >= 0.0) {
                return Err(FieldError::new(f, format!("must be ≥ 0, got {c}")));
            }
        }
        Ok(())
    }
}

/// The pairs of `path`, their rows checked against `n`.
fn read_pairs(path: &Path, n: usize) -> Result<Vec<PairCounts>> {
    read_lines::<IndexPair>(path)?
        .into_iter()
        .map(|(line, p)| {
            for (f, i) in [("a", p.a), ("b", p.b)] {
                if i >= n {
                    bail!(
                        "{}:{line}: {f}: row {i} is out of range for X's {n} rows",
                        path.display()
                    );
                }
            }
            Ok(PairCounts {
                a: p.a,
                b: p.b,
                count_a: p.count_a,
                count_b: p.count_b,
            })
        })
        .collect()
}

/// Runs `pref bt-probe`.
pub fn run(a: &BtProbeArgs) -> Result<Value> {
    let start = Instant::now();
    let x = read_activations(&a.x)?;
    let train = read_pairs(&a.pairs, x.rows)?;
    let test = match &a.test_pairs {
        Some(p) => read_pairs(p, x.rows)?,
        None => Vec::new(),
    };
    let params = BtProbeParams {
        lambdas: a.lambda.map_or_else(|| a.lambdas.clone(), |l| vec![l]),
        standardize: a.standardize,
        validation_fraction: a.validation_fraction,
        seed: a.seed,
        ..BtProbeParams::default()
    };
    let probe = fit_bt_probe(&x, &train, &params)?;
    let scores = probe.scores(&x)?;
    let tr = pair_metrics(&scores, &train);
    let te = (!test.is_empty()).then(|| pair_metrics(&scores, &test));
    Ok(json!({
        "lambda": probe.lambda,
        "objective": probe.objective,
        "converged": probe.converged,
        "iterations": probe.iterations,
        "grad_norm": probe.grad_norm,
        "train_accuracy": tr.accuracy,
        "train_log_loss": tr.log_loss,
        "test_accuracy": te.and_then(|m| m.accuracy),
        "test_log_loss": te.map(|m| m.log_loss),
        "n_train_pairs": train.len(),
        "n_test_pairs": test.len(),
        "n_test_decisive": te.map(|m| m.n_decisive),
        "validation": probe.validation,
        "weights": probe.weights,
        "raw_weights": probe.raw_weights,
        "standardized": a.standardize,
        "seconds": start.elapsed().as_secs_f64(),
    }))
}
