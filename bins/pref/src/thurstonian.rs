//! `pref thurstonian`: fit Thurstonian utilities to pair counts (pref-utility).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use pref_data::PairCounts;
use pref_utility::{read_located, PairData, SeMethod, ThurstonianParams, Weighting};
use serde_json::{json, Map, Value};

const AFTER_HELP: &str =
    "Input: PairCounts records `{a, b, count_a, count_b}` or `{a, b, p_a, n}` \
as .jsonl / .jsonl.gz / .json / .parquet (chosen by file name).

Model: P(a ≻ b) = Φ((μ_a − μ_b)/√(σ_a² + σ_b² + 1e-5)), fitted by L-BFGS; reported in the \
gauge mean(μ) = 0, sd(μ) = 1 (σ² rescaled with it).

Output (stdout, and FILE with --out):
  {\"utilities\": {\"<id>\": {\"mu\", \"sigma2\", \"mu_se\"}},
   \"train\": {\"log_loss\", \"accuracy\", \"n_pairs\"},
   \"test\": {\"log_loss\", \"accuracy\", \"accuracy_majority\", \"n_pairs\", \"n_ties\"} or null,
   \"fit\": {\"iterations\", \"seconds\", \"converged\"},
   \"warnings\": [\"<text>\"]}
A disconnected comparison graph (items never compared, directly or through others) is \
refused: utilities are comparable only within a component. --allow-disconnected fits it \
anyway and says so in `warnings`.
log_loss: mean soft-label cross-entropy per pair, probabilities clipped to [1e-5, 1 − 1e-5]; \
accuracy: P ≥ 0.5 agrees with p_a ≥ 0.5 (a 50/50 pair counts as `a`); accuracy_majority: \
against the majority label, exact ties skipped.";

/// How the standard errors of μ are computed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SeArg {
    /// Exact up to 600 items, diagonal above.
    Auto,
    /// Dense inverse Hessian (O(N³)).
    Exact,
    /// Per-item block inverse with a neighbour correction (O(pairs)).
    Diagonal,
}

/// How pairs are weighted in the likelihood.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WeightingArg {
    /// Every comparison counts once (the maximum-likelihood fit of the counts).
    Counts,
    /// Every pair counts once with soft label p_a (the reference implementation's loss).
    PerPair,
}

/// Arguments of `pref thurstonian`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ThurstonianArgs {
    /// Training pair counts (PairCounts records).
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,
    /// Held-out pair counts to evaluate on; every id must occur in the training file
    /// (an unseen id is an error naming the id and its line).
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// Seed of the random initialisation (the fit is deterministic for a given seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the JSON result to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Standard deviation of the Gaussian prior on μ in fit units; 0 for a flat prior.
    #[arg(long, default_value_t = 5.0, value_name = "SD")]
    pub mu_prior_sd: f64,
    /// Standard deviation of the Gaussian prior on s = log σ²; 0 for a flat prior.
    #[arg(long, default_value_t = 1.0, value_name = "SD")]
    pub s_prior_sd: f64,
    /// Likelihood weighting of the pairs.
    #[arg(long, value_enum, default_value = "counts")]
    pub weighting: WeightingArg,
    /// Maximum number of L-BFGS iterations (`converged` is false when it is reached).
    #[arg(long, default_value_t = 1000)]
    pub max_iters: u64,
    /// Method for the standard errors of μ (`mu_se`).
    #[arg(long, value_enum, default_value = "auto")]
    pub se: SeArg,
    /// Fit a disconnected comparison graph instead of refusing it; the output's
    /// `warnings` then says that utilities are not comparable across its components.
    #[arg(long)]
    pub allow_disconnected: bool,
}

fn prior(sd: f64) -> Option<f64> {
    (sd != 0.0).then_some(sd)
}

/// Runs the subcommand and returns the JSON result.
pub fn run(args: &ThurstonianArgs) -> Result<Value> {
    let train = read_located::<PairCounts>(&args.train)?;
    let data = PairData::from_located(&train)?;
    let mut warnings = Vec::new();
    if let Some(w) = data.disconnected_warning() {
        if !args.allow_disconnected {
            bail!(
                "{}: {w}: fit each component separately, or pass --allow-disconnected",
                args.train.display()
            );
        }
        eprintln!("warning: {}: {w}", args.train.display());
        warnings.push(w);
    }
    let params = ThurstonianParams::default()
        .seed(args.seed)
        .mu_prior_sd(prior(args.mu_prior_sd))
        .s_prior_sd(prior(args.s_prior_sd))
        .max_iters(args.max_iters)
        .weighting(match args.weighting {
            WeightingArg::Counts => Weighting::Counts,
            WeightingArg::PerPair => Weighting::PerPair,
        });
    let model = params
        .fit(&data)
        .with_context(|| format!("fitting {}", args.train.display()))?;
    let se = model.mu_standard_errors(
        &data,
        match args.se {
            SeArg::Auto => SeMethod::Auto,
            SeArg::Exact => SeMethod::Exact,
            SeArg::Diagonal => SeMethod::Diagonal,
        },
    )?;
    let mut utilities = Map::new();
    for (i, id) in model.items().iter().enumerate() {
        utilities.insert(
            id.clone(),
            json!({"mu": model.mu()[i], "sigma2": model.sigma2()[i], "mu_se": se.mu_se[i]}),
        );
    }
    let tr = model.evaluate_data(&data)?;
    let test = match &args.test {
        None => Value::Null,
        Some(path) => {
            let recs = read_located::<PairCounts>(path)?;
            let ev = model.evaluate_located(&recs)?;
            if ev.n_empty > 0 {
                eprintln!(
                    "warning: {}: {} pairs with no comparisons were skipped",
                    path.display(),
                    ev.n_empty
                );
            }
            json!({
                "log_loss": ev.log_loss,
                "accuracy": ev.accuracy,
                "accuracy_majority": ev.accuracy_majority,
                "n_pairs": ev.n_pairs,
                "n_ties": ev.n_ties,
            })
        }
    };
    let out = json!({
        "utilities": utilities,
        "train": {"log_loss": tr.log_loss, "accuracy": tr.accuracy, "n_pairs": tr.n_pairs},
        "test": test,
        "fit": {
            "iterations": model.stats.iterations,
            "seconds": model.stats.seconds,
            "converged": model.stats.converged,
        },
        "warnings": warnings,
    });
    if let Some(path) = &args.out {
        pref_data::write_json_atomic(path, &out)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ThurstonianArgs,
    }

    fn data(name: &str) -> String {
        format!(
            "{}/../../crates/pref-utility/tests/data/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn parse(args: &[&str]) -> ThurstonianArgs {
        Cli::parse_from(std::iter::once("thurstonian").chain(args.iter().copied())).args
    }

    #[test]
    fn prints_the_documented_shape_and_the_reference_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.json");
        let (train, test) = (data("sim_train.jsonl"), data("sim_test.jsonl"));
        let args = parse(&[
            "--train",
            &train,
            "--test",
            &test,
            "--out",
            out.to_str().unwrap(),
        ]);
        let v = run(&args).unwrap();
        let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
        assert_eq!(keys(&v), ["fit", "test", "train", "utilities", "warnings"]);
        assert_eq!(keys(&v["train"]), ["accuracy", "log_loss", "n_pairs"]);
        assert_eq!(
            keys(&v["test"]),
            [
                "accuracy",
                "accuracy_majority",
                "log_loss",
                "n_pairs",
                "n_ties"
            ]
        );
        assert_eq!(keys(&v["fit"]), ["converged", "iterations", "seconds"]);
        assert_eq!(v["utilities"].as_object().unwrap().len(), 30);
        assert_eq!(keys(&v["utilities"]["o07"]), ["mu", "mu_se", "sigma2"]);
        // SciPy reference (crates/pref-utility/tests/thurstonian_reference.rs, script
        // tests/data/ref_thurstonian.py): test log loss 0.48985610465066015, accuracy
        // 50/60, majority accuracy 48/55, 5 ties; μ(o07) = 0.3223789452164467 with
        // standard error 0.17658781547556396 (default tolerances stop within 1e-3).
        assert!((v["test"]["log_loss"].as_f64().unwrap() - 0.48985610465066015).abs() < 1e-4);
        assert_eq!(v["test"]["accuracy"].as_f64().unwrap(), 50.0 / 60.0);
        assert_eq!(
            v["test"]["accuracy_majority"].as_f64().unwrap(),
            48.0 / 55.0
        );
        assert_eq!(v["test"]["n_ties"], 5);
        assert_eq!(v["train"]["n_pairs"], 160);
        assert!((v["utilities"]["o07"]["mu"].as_f64().unwrap() - 0.3223789452164467).abs() < 1e-3);
        assert!(
            (v["utilities"]["o07"]["mu_se"].as_f64().unwrap() - 0.17658781547556396).abs() < 1e-3
        );
        assert_eq!(v["fit"]["converged"], true);
        // The file holds the same JSON (compared as text: serde_json's default float
        // parser does not round-trip every last digit).
        let written = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            written.trim_end(),
            serde_json::to_string_pretty(&v).unwrap()
        );
        // Deterministic for a seed (apart from the timing).
        let mut again = run(&args).unwrap();
        again["fit"]["seconds"] = v["fit"]["seconds"].clone();
        assert_eq!(again, v);
    }

    #[test]
    fn unseen_test_id_names_the_id_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let test = dir.path().join("test.jsonl");
        std::fs::write(
            &test,
            "{\"a\": \"o01\", \"b\": \"o02\", \"count_a\": 3, \"count_b\": 1}\n\n{\"a\": \"o03\", \"b\": \"zz\", \"count_a\": 1, \"count_b\": 1}\n",
        )
        .unwrap();
        let train = data("sim_train.jsonl");
        let args = parse(&["--train", &train, "--test", test.to_str().unwrap()]);
        let err = format!("{:#}", run(&args).unwrap_err());
        assert_eq!(
            err,
            format!(
                "{}:3: unknown id `zz` in field `b`: it does not occur in the training data",
                test.display()
            )
        );
    }

    #[test]
    fn bad_training_record_is_reported_with_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let train = dir.path().join("train.jsonl");
        std::fs::write(
            &train,
            "{\"a\": \"x\", \"b\": \"y\", \"count_a\": 3, \"count_b\": 1}\n{\"a\": \"x\", \"b\": \"y\", \"count_a\": -1, \"count_b\": 1}\n",
        )
        .unwrap();
        let args = parse(&["--train", train.to_str().unwrap()]);
        let err = format!("{:#}", run(&args).unwrap_err());
        assert!(
            err.ends_with("train.jsonl:2: count_a: must be ≥ 0, got -1"),
            "{err}"
        );
    }

    #[test]
    fn a_disconnected_graph_is_refused_or_fitted_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let train = dir.path().join("train.jsonl");
        // Two components {a, b, c} and {x, y}; the pair (c, z) has no comparison,
        // so z is a third component of its own.
        std::fs::write(
            &train,
            "{\"a\": \"a\", \"b\": \"b\", \"count_a\": 3, \"count_b\": 1}\n\
             {\"a\": \"b\", \"b\": \"c\", \"count_a\": 2, \"count_b\": 2}\n\
             {\"a\": \"x\", \"b\": \"y\", \"count_a\": 1, \"count_b\": 3}\n\
             {\"a\": \"c\", \"b\": \"z\", \"count_a\": 0, \"count_b\": 0}\n",
        )
        .unwrap();
        let what = "the comparison graph is disconnected (3 components: {a, b, c}, {x, y}, {z}); \
                    utilities are not comparable across components (only the prior places \
                    them) and the standard errors of cross-component differences are meaningless";
        let args = parse(&["--train", train.to_str().unwrap()]);
        let err = format!("{:#}", run(&args).unwrap_err());
        assert_eq!(
            err,
            format!(
                "{}: {what}: fit each component separately, or pass --allow-disconnected",
                train.display()
            )
        );
        let args = parse(&["--train", train.to_str().unwrap(), "--allow-disconnected"]);
        let v = run(&args).unwrap();
        assert_eq!(v["warnings"], json!([what]));
        assert_eq!(v["utilities"].as_object().unwrap().len(), 6);
        // A connected file has no warning.
        let v = run(&parse(&["--train", &data("sim_train.jsonl")])).unwrap();
        assert_eq!(v["warnings"], json!([]));
    }
}
