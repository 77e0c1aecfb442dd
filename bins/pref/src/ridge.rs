//! `pref ridge`: ridge probes of a target on activations (pref-probe).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use pref_probe::{
    probe_study, read_activations, read_indices, read_targets, Baselines, Cv, RidgeParams, Shuffle,
    Solver, Split, TargetReport,
};
use serde_json::{json, Value};

const AFTER_HELP: &str = "Input: X as .npy [n, d] (float32, float64 or integers; C or \
Fortran order) or .parquet (one list<float> column, or one float column per feature); y as \
.npy [n] or [n, targets]. Index files are 1-D integer .npy.

Model: ridge with an unpenalised intercept; all alphas from one decomposition of the \
centred training activations; alpha chosen per target by leave-one-out MSE (default) or \
k-fold mean R². Baselines go through the same alpha selection: shuffled training labels, \
and random N(0, σ²) activations of the same shape (σ = pooled sd of the training X).

Output (stdout, and FILE with --out), for one target:
  {\"alphas\": [{\"alpha\", \"test_r2\", \"test_mse\", \"cv_mse\", \"cv_r2\"?}],
   \"best_alpha\", \"test_r2\", \"test_mse\",
   \"baselines\": {\"shuffled\": {\"test_r2\", \"test_mse\", \"best_alpha\"},
                 \"random\": {\"test_r2\", \"test_mse\", \"best_alpha\"}},
   \"n_train\", \"n_test\", \"n_features\", \"seconds\"}
With several targets: {\"targets\": [the object above without n_* and seconds, …], \
\"n_train\", \"n_test\", \"n_features\", \"seconds\"}. test_r2 is sklearn's r2_score (about the \
test mean); cv_r2 appears with --cv kfold:K.";

/// Arguments of `pref ridge`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct RidgeArgs {
    /// Activations [n, d] (.npy or .parquet).
    #[arg(long, value_name = "FILE")]
    pub x: PathBuf,
    /// Targets [n] or [n, targets] (.npy).
    #[arg(long, value_name = "FILE")]
    pub y: PathBuf,
    /// Training row indices (.npy, integers); needs --test-idx.
    #[arg(
        long,
        value_name = "FILE",
        requires = "test_idx",
        conflicts_with = "test_fraction"
    )]
    pub train_idx: Option<PathBuf>,
    /// Test row indices (.npy, integers); needs --train-idx.
    #[arg(long, value_name = "FILE", requires = "train_idx")]
    pub test_idx: Option<PathBuf>,
    /// Without index files: a seeded random split with ceil(fraction · n) test rows.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Seed of the random split, and (unless set separately) of the shuffled labels
    /// and the random activations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Comma-separated alpha grid.
    #[arg(long, value_delimiter = ',', default_value = "0.1,1,10,100,1000,10000")]
    pub alphas: Vec<f64>,
    /// Cross-validation: `loo` (closed form) or `kfold:K` (contiguous folds of the
    /// training rows, in their given or shuffled order).
    #[arg(long, default_value = "loo", value_parser = parse_cv)]
    pub cv: Cv,
    /// Permutation of 0..n_train for the shuffled-labels baseline (.npy):
    /// y_shuffled[i] = y_train[perm[i]].
    #[arg(long, value_name = "FILE", conflicts_with = "shuffle_seed")]
    pub shuffle_perm: Option<PathBuf>,
    /// Seed of the shuffled-labels permutation (default: --seed + 1).
    #[arg(long)]
    pub shuffle_seed: Option<u64>,
    /// Seed of the random activations (default: --seed + 2).
    #[arg(long)]
    pub random_seed: Option<u64>,
    /// Skip both baselines.
    #[arg(long)]
    pub no_baselines: bool,
    /// Scale every feature to unit variance on the training rows first.
    #[arg(long)]
    pub standardize: bool,
    /// Decomposition: tridiag (tridiagonalisation of the smaller Gram matrix,
    /// fastest), gram (its eigendecomposition) or svd (thin SVD of X).
    #[arg(long, default_value = "tridiag", value_parser = parse_solver)]
    pub solver: Solver,
    /// Also write the JSON result to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn parse_cv(s: &str) -> std::result::Result<Cv, String> {
    if s == "loo" {
        return Ok(Cv::Loo);
    }
    match s.strip_prefix("kfold:").map(str::parse::<usize>) {
        Some(Ok(k)) if k >= 2 => Ok(Cv::KFold(k)),
        _ => Err(format!(
            "expected `loo` or `kfold:K` with K ≥ 2, got `{}`",
            pref_data::quote(s)
        )),
    }
}

fn parse_solver(s: &str) -> std::result::Result<Solver, String> {
    match s {
        "tridiag" | "auto" => Ok(Solver::Auto),
        "gram" => Ok(Solver::Gram),
        "svd" => Ok(Solver::Svd),
        _ => Err(format!(
            "expected `tridiag`, `gram` or `svd`, got `{}`",
            pref_data::quote(s)
        )),
    }
}

fn target_json(t: &TargetReport) -> Value {
    serde_json::to_value(t).expect("serialisable")
}

/// Runs `pref ridge`.
pub fn run(a: &RidgeArgs) -> Result<Value> {
    let start = Instant::now();
    let params = RidgeParams {
        alphas: a.alphas.clone(),
        cv: a.cv,
        standardize: a.standardize,
        solver: a.solver,
        ..RidgeParams::default()
    }
    .check()?;
    let x = read_activations(&a.x)?;
    let y = read_targets(&a.y)?;
    if x.rows != y.rows {
        bail!(
            "shape mismatch: X {} is [{} × {}] but y {} has {} rows ([{} × {}])",
            a.x.display(),
            x.rows,
            x.cols,
            a.y.display(),
            y.rows,
            y.rows,
            y.cols
        );
    }
    let split = match (&a.train_idx, &a.test_idx) {
        (Some(tr), Some(te)) => Split::from_indices(x.rows, &read_indices(tr)?, &read_indices(te)?)
            .with_context(|| {
                format!(
                    "index files {} and {} for X [{} × {}]",
                    tr.display(),
                    te.display(),
                    x.rows,
                    x.cols
                )
            })?,
        _ => Split::random(x.rows, a.test_fraction, a.seed)?,
    };
    let baselines = if a.no_baselines {
        Baselines {
            shuffle: None,
            random_seed: None,
        }
    } else {
        let shuffle = match &a.shuffle_perm {
            Some(p) => {
                let perm = read_indices(p)?;
                let perm = pref_probe::data::check_permutation(&perm, split.train.len())
                    .with_context(|| format!("shuffle permutation {}", p.display()))?;
                Shuffle::Permutation(perm)
            }
            None => Shuffle::Seed(a.shuffle_seed.unwrap_or(a.seed.wrapping_add(1))),
        };
        Baselines {
            shuffle: Some(shuffle),
            random_seed: Some(a.random_seed.unwrap_or(a.seed.wrapping_add(2))),
        }
    };
    let study = probe_study(&params, &x, &y, &split, &baselines)?;
    let mut out = if study.targets.len() == 1 {
        target_json(&study.targets[0])
    } else {
        json!({"targets": study.targets.iter().map(target_json).collect::<Vec<_>>()})
    };
    out["n_train"] = json!(split.train.len());
    out["n_test"] = json!(split.test.len());
    out["n_features"] = json!(x.cols);
    out["seconds"] = json!(start.elapsed().as_secs_f64());
    if let Some(path) = &a.out {
        pref_data::write_json_atomic(path, &out)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(out)
}
