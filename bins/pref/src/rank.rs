//! `pref elo`, `pref bt`, `pref rank-metrics`: ratings and ranking metrics (pref-rank).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use pref_data::{quote, BattleTable};
use pref_data::{FieldError, Record, Winner};
use pref_rank::{
    ranking_metrics, relative_difference, BootstrapParams, BtParams, EloParams, PairData,
    ParamGuard, Ratings, Standardizer, StyleBtParams, StyleData, StyleObservation,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const BATTLES: &str = "Battles: the project's {a, b, winner} (winner a | b | tie) or FastChat's \
{model_a, model_b, winner} (winner model_a | model_b | tie | tie (bothbad)), as .jsonl, \
.jsonl.gz, .json or .parquet. Bad input stops with `path:line: field: what is wrong`.";

const STYLED: &str = "Styled battles, one JSON object per line: {\"group\": \"coder\" (optional; \
default `all`), \"a\" (or \"model_a\"), \"b\" (or \"model_b\"), \"winner\": a | b | tie (or FastChat's \
spelling), \"style_a\": {\"tokens\": 312, \"bold\": 2, ...}, \"style_b\": {...}, \"question_id\" \
(optional)}; every line names the same style counts, non-negative. Bad input stops with \
`path:line: field: what is wrong`.";

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
    /// Bradley–Terry with a group offset per (group, model) and style covariates
    /// (personalised ranking's System C; LMArena's style control with groups),
    /// fitted by L-BFGS with Laplace intervals.
    ///
    /// Each style count becomes arena-rank's relative difference (a − b)/(a + b),
    /// standardised over the file. Prints `{"strength": {model: {estimate, se,
    /// lower, upper}}` (centred logits), `"offsets": {group: {model: …}}`,
    /// `"style": {group or "all": {feature: …}}`, `"standardizer"`, `"objective"`,
    /// `"grad_norm"`, `"iterations"`, `"n"}`.
    #[command(after_help = STYLED)]
    StyleBt {
        /// Styled battle file (JSON Lines).
        #[arg(long)]
        battles: PathBuf,
        /// Prior precision of the group offsets.
        #[arg(long, default_value_t = 1.0)]
        offset_precision: f64,
        /// Prior precision of the style coefficients.
        #[arg(long, default_value_t = 1.0)]
        style_precision: f64,
        /// One set of style coefficients for every group (arena-rank's style
        /// control) instead of one per group.
        #[arg(long)]
        shared_style: bool,
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
        RankCommand::StyleBt {
            battles,
            offset_precision,
            style_precision,
            shared_style,
            level,
        } => style_bt(
            &battles,
            StyleBtParams::default()
                .offset_precision(offset_precision)
                .style_precision(style_precision)
                .per_group_style(!shared_style)
                .level(level),
        ),
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

/// One line of `pref style-bt`'s input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyledBattle {
    #[serde(default)]
    group: Option<String>,
    #[serde(alias = "model_a")]
    a: String,
    #[serde(alias = "model_b")]
    b: String,
    winner: Winner,
    style_a: BTreeMap<String, f64>,
    style_b: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    question_id: Option<Value>,
}

impl Record for StyledBattle {
    const KIND: &'static str = "styled battle";

    fn validate(&self) -> std::result::Result<(), FieldError> {
        if self.a == self.b {
            return Err(FieldError::new("b", "is the same model as `a`"));
        }
        if self.style_a.keys().ne(self.style_b.keys()) {
            return Err(FieldError::new(
                "style_b",
                "must name the same counts as `style_a`",
            ));
        }
        for (side, style) in [("style_a", &self.style_a), ("style_b", &self.style_b)] {
            if let Some((k, v)) = style.iter().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
                return Err(FieldError::new(
                    side,
                    format!("`{k}` must be a finite count ≥ 0, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

fn style_bt(path: &Path, params: StyleBtParams) -> Result<Value> {
    let params = params.check()?;
    let rows: Vec<StyledBattle> = pref_data::read_jsonl(path)?;
    let Some(first) = rows.first() else {
        bail!("{}:1: empty file: expected styled battles", path.display());
    };
    let features: Vec<String> = first.style_a.keys().cloned().collect();
    if let Some(k) = rows
        .iter()
        .position(|r| r.style_a.keys().ne(first.style_a.keys()))
    {
        // The reader skips blank lines: the record's line is its k-th non-blank one.
        let line = pref_data::jsonl::read_all(path)
            .ok()
            .and_then(|b| {
                String::from_utf8_lossy(&b)
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                    .nth(k)
                    .map(|(i, _)| i + 1)
            })
            .unwrap_or(k + 1);
        bail!(
            "{}:{line}: style_a: names {:?}, but the first record names {:?}",
            path.display(),
            rows[k].style_a.keys().collect::<Vec<_>>(),
            features
        );
    }
    let group_of = |r: &StyledBattle| r.group.clone().unwrap_or_else(|| "all".into());
    let models: Vec<String> = rows
        .iter()
        .flat_map(|r| [r.a.clone(), r.b.clone()])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let groups: Vec<String> = rows
        .iter()
        .map(group_of)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let index = |names: &[String], n: &str| names.iter().position(|m| m == n).expect("listed");
    let raw: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            features
                .iter()
                .map(|f| relative_difference(r.style_a[f], r.style_b[f]))
                .collect()
        })
        .collect();
    let standard = Standardizer::fit(&raw)?;
    let obs = rows
        .iter()
        .zip(&raw)
        .map(|(r, x)| StyleObservation {
            group: index(&groups, &group_of(r)),
            a: index(&models, &r.a),
            b: index(&models, &r.b),
            outcome: r.winner.score_a(),
            features: standard.apply(x),
        })
        .collect();
    let data = StyleData::new(models.clone(), groups.clone(), features.clone(), obs)?;
    let fit = params
        .fit(&data)
        .with_context(|| format!("fitting {}", path.display()))?;
    let entry = |e: f64, se: f64| {
        let (lower, upper) = fit.interval(e, se);
        json!({"estimate": e, "se": se, "lower": lower, "upper": upper})
    };
    let strength: BTreeMap<&String, Value> = models
        .iter()
        .enumerate()
        .map(|(m, name)| (name, entry(fit.strength[m], fit.strength_se[m])))
        .collect();
    let offsets: BTreeMap<&String, BTreeMap<&String, Value>> = groups
        .iter()
        .enumerate()
        .map(|(g, gname)| {
            let row = models
                .iter()
                .enumerate()
                .map(|(m, name)| (name, entry(fit.offsets[g][m], fit.offset_se[g][m])))
                .collect();
            (gname, row)
        })
        .collect();
    let style: BTreeMap<String, BTreeMap<&String, Value>> = fit
        .style
        .iter()
        .enumerate()
        .map(|(g, row)| {
            let who = if fit.style.len() == 1 {
                "all".to_string()
            } else {
                groups[g].clone()
            };
            let coefs = features
                .iter()
                .enumerate()
                .map(|(k, f)| (f, entry(row[k], fit.style_se[g][k])))
                .collect();
            (who, coefs)
        })
        .collect();
    Ok(json!({
        "strength": strength,
        "offsets": offsets,
        "style": style,
        "standardizer": standard,
        "objective": fit.objective,
        "grad_norm": fit.grad_norm,
        "iterations": fit.iterations,
        "covariance": fit.covariance,
        "level": fit.level,
        "n": rows.len(),
    }))
}
