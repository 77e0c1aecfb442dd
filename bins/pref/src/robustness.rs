//! `pref robustness` (how much each template factor moves fitted utilities)
//! and `pref transitivity` (cycles among pairwise choices), from pref-utility.
//! See docs/robustness.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use pref_data::jsonl::{parse_record, LineReader};
use pref_data::{Chosen, PairChoice, PairCounts, Record, UtilityRunRecord};
use pref_utility::{
    bootstrap_regression, factor_regression, transitivity, transitivity_intervals,
    CorrelationMethod, PairData, TriadSampling, UtilityRun,
};
use serde_json::{json, Map, Value};

const ROBUSTNESS_HELP: &str = "\
Input (JSON Lines, one run a line):
  {\"run\": id, \"factors\": {name: level}, \"utilities\": {item: {\"mu\": f, \"sigma\": f}}}

For every two runs sharing at least --min-shared items: the correlation of their μ over the \
shared items. It is regressed on an intercept and one indicator per factor, 1[the two runs \
have the same level] (a factor missing from a run never matches). Indicators constant over \
the run pairs are left out (`constant`). Factors with identical indicators (real designs \
change several together) are `aliased_groups`: only their sum is estimable, reported in \
`aliased_sums`; the fit is the minimum-norm least-squares solution (SVD, singular values at \
most max(n, p)·ε·s_max are zero), so the members of a group share its sum equally. Standard \
errors: pinv(XᵀX)·σ̂², σ̂² = RSS/(n − p). Run pairs share runs, so these are optimistic: \
`bootstrap` gives run-level percentile intervals (runs redrawn with replacement).

Output:
  {\"n_runs\", \"n_run_pairs\", \"n_skipped\", \"n_undefined\", \"rank\", \"p\", \"r2\", \"df_resid\",
   \"intercept\": {\"estimate\", \"se\", \"p\"},
   \"coefficients\": {factor: {\"estimate\", \"se\", \"p\", \"ci95_bootstrap\"}},
   \"aliased_groups\": [[factor, …]], \"aliased_sums\": [{\"factors\", \"estimate\", \"se\", \"p\", \"ci95_bootstrap\"}],
   \"constant\": [factor, …], \"bootstrap\": {\"replicates\", \"failed\", \"r2\"}}";

const TRANSITIVITY_HELP: &str = "\
Input (JSON Lines): {\"a\": item, \"b\": item, \"choice\": \"a\" | \"b\" | null}; null (a refusal \
or an unparseable answer) is excluded and counted in `n_excluded`.

Per unordered pair, p = wins / comparisons pooled over both presentation orders. A triad is \
three items whose three pairs were all compared; every triad is enumerated (--sample N \
draws N triads uniformly instead, for very dense data). A hard cycle: the three majorities go round (a p of exactly ½ is never a cycle); \
`hard_cycle_rate` counts them among all triads, `hard_cycle_rate_decisive` among triads \
with no p = ½. Soft cycle: p_ij·p_jk·p_ki + (1−p_ij)(1−p_jk)(1−p_ki), averaged. A random \
tournament gives 0.25 for both. Intervals: percentile bootstrap redrawing each pair's \
comparisons (binomial).

Output:
  {\"n_records\", \"n_excluded\", \"n_items\", \"n_pairs\", \"n_triads\", \"n_decisive_triads\",
   \"hard_cycles\", \"hard_cycle_rate\", \"ci95\", \"hard_cycle_rate_decisive\",
   \"soft_cycle_mean\", \"soft_ci95\", \"random_baseline\", \"sampled\"}";

/// The correlation of two runs' utilities.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CorrelationArg {
    /// Pearson on μ.
    Pearson,
    /// Spearman on μ's ranks (ties get average ranks).
    Spearman,
}

/// Arguments of `pref robustness`.
#[derive(Debug, Args)]
#[command(after_help = ROBUSTNESS_HELP)]
pub struct RobustnessArgs {
    /// The runs (JSON Lines, format below).
    #[arg(long, value_name = "FILE")]
    pub runs: PathBuf,
    /// Correlation of two runs over their shared items.
    #[arg(long, value_enum, default_value = "pearson")]
    pub correlation: CorrelationArg,
    /// Run pairs sharing fewer items are skipped (and counted in `n_skipped`); at least 2.
    #[arg(long, default_value_t = 10)]
    pub min_shared: usize,
    /// Run-level bootstrap replicates (0: none).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Arguments of `pref transitivity`.
#[derive(Debug, Args)]
#[command(after_help = TRANSITIVITY_HELP)]
pub struct TransitivityArgs {
    /// The choices (JSON Lines, format below).
    #[arg(long, value_name = "FILE")]
    pub comparisons: PathBuf,
    /// Examine N uniformly drawn triads instead of all of them (for very dense data).
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Bootstrap replicates of the intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Seed of the sampling and the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Every record of a JSON Lines file with its line.
pub(crate) fn read_lines<T: Record>(path: &Path) -> Result<Vec<(u64, T)>> {
    let mut lines = LineReader::open(path)?;
    let mut out = Vec::new();
    while let Some(l) = lines.next_line()? {
        out.push((l.line, parse_record(path, l.line, l.bytes, l.unterminated)?));
    }
    if out.is_empty() {
        bail!("{}: no {} records", path.display(), T::KIND);
    }
    Ok(out)
}

fn interval(ci: Option<[f64; 2]>) -> Value {
    ci.map_or(Value::Null, |c| json!(c))
}

/// `pref robustness`.
pub fn robustness(args: &RobustnessArgs) -> Result<Value> {
    if args.min_shared < 2 {
        bail!(
            "--min-shared must be at least 2 (a correlation needs two items), got {}",
            args.min_shared
        );
    }
    let records = read_lines::<UtilityRunRecord>(&args.runs)?;
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    for (line, r) in &records {
        if let Some(first) = seen.insert(&r.run, *line) {
            bail!(
                "{}:{line}: run: `{}` was already given on line {first}",
                args.runs.display(),
                pref_data::quote(&r.run)
            );
        }
    }
    let runs: Vec<UtilityRun> = records
        .into_iter()
        .map(|(_, r)| UtilityRun {
            name: r.run,
            utilities: r.utilities.into_iter().map(|(k, u)| (k, u.mu)).collect(),
            factors: r.factors,
        })
        .collect();
    let method = match args.correlation {
        CorrelationArg::Pearson => CorrelationMethod::Pearson,
        CorrelationArg::Spearman => CorrelationMethod::Spearman,
    };
    let fr = factor_regression(&runs, method, args.min_shared).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (run pairs kept after --min-shared {})",
            args.runs.display(),
            args.min_shared
        )
    })?;
    let boot =
        (args.bootstrap > 0).then(|| bootstrap_regression(&runs, &fr, args.bootstrap, args.seed));
    let f = &fr.fit;
    let ci = |name: &str| {
        interval(
            boot.as_ref()
                .and_then(|b| b.coefficients.get(name).copied()),
        )
    };
    let mut coefficients = Map::new();
    for (j, name) in f.names.iter().enumerate().skip(1) {
        coefficients.insert(
            name.clone(),
            json!({"estimate": f.coef[j], "se": f.se[j], "p": f.p[j], "ci95_bootstrap": ci(name)}),
        );
    }
    let aliased_sums: Vec<Value> = fr
        .aliased
        .iter()
        .enumerate()
        .map(|(g, a)| {
            json!({"factors": a.factors, "estimate": a.sum.estimate, "se": a.sum.se, "p": a.sum.p,
                   "ci95_bootstrap": interval(boot.as_ref().map(|b| b.aliased_sums[g]))})
        })
        .collect();
    Ok(json!({
        "n_runs": runs.len(),
        "n_run_pairs": f.n,
        "n_skipped": fr.n_skipped,
        "n_undefined": fr.n_undefined,
        "correlation": method,
        "rank": f.rank,
        "p": f.names.len(),
        "df_resid": f.df_resid,
        "r2": f.r2,
        "intercept": {"estimate": f.coef[0], "se": f.se[0], "p": f.p[0], "ci95_bootstrap": ci("const")},
        "coefficients": coefficients,
        "aliased_groups": fr.aliased.iter().map(|a| &a.factors).collect::<Vec<_>>(),
        "aliased_sums": aliased_sums,
        "constant": fr.constant.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "bootstrap": boot.as_ref().map(|b| json!({"replicates": b.replicates, "failed": b.failed, "r2": b.r2})),
    }))
}

/// `pref transitivity`.
pub fn transitivity_cmd(args: &TransitivityArgs) -> Result<Value> {
    let records = read_lines::<PairChoice>(&args.comparisons)?;
    let n_records = records.len();
    // Pooled over presentation order later; here one count record per choice.
    let mut counts = Vec::new();
    let mut excluded = 0usize;
    for (_, r) in records {
        let (ca, cb) = match r.choice {
            Some(Chosen::A) => (1.0, 0.0),
            Some(Chosen::B) => (0.0, 1.0),
            None => {
                excluded += 1;
                continue;
            }
        };
        counts.push(PairCounts {
            a: r.a,
            b: r.b,
            count_a: ca,
            count_b: cb,
        });
    }
    if counts.is_empty() {
        bail!(
            "{}: every choice is null: nothing to count",
            args.comparisons.display()
        );
    }
    let data = PairData::from_pair_counts(&counts)?;
    let sampling = match args.sample {
        None => TriadSampling::All,
        Some(n) => TriadSampling::Random { n, seed: args.seed },
    };
    let t = transitivity(&data, sampling);
    let ci = (args.bootstrap > 0)
        .then(|| transitivity_intervals(&data, sampling, args.bootstrap, args.seed));
    let n_pairs = data
        .pairs()
        .map(|(a, b, _, _)| (a.min(b), a.max(b)))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    Ok(json!({
        "n_records": n_records,
        "n_excluded": excluded,
        "n_items": data.n_items(),
        "n_pairs": n_pairs,
        "n_triads": t.n_triads,
        "n_decisive_triads": t.n_decisive_triads,
        "hard_cycles": t.n_hard_cycles,
        "hard_cycle_rate": t.hard_cycle_share,
        "ci95": interval(ci.as_ref().map(|c| c.hard_cycle_share)),
        "hard_cycle_rate_decisive": t.hard_cycle_rate,
        "soft_cycle_mean": t.soft_cycle_rate,
        "soft_ci95": interval(ci.as_ref().map(|c| c.soft_cycle_rate)),
        "random_baseline": t.random_baseline,
        "sampled": t.sampled,
        "bootstrap_replicates": args.bootstrap,
    }))
}
