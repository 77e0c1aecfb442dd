//! Self-preference statistics of LLM judges: do judges prefer their own outputs?
//!
//! Input: [`JudgeDecision`]s (`question_id, model_a, model_b, winner, judge, order?,
//! choice_prob?`; `model_a` is the output shown first), read with
//! [`read_judge_decisions`]. A decision is the judge's **own** when the judge's name
//! equals `model_a` or `model_b` (map model names before calling).
//!
//! [`analyze`] gives, per judge (ties count ½ everywhere a share is taken):
//!
//! | measure | definition |
//! |---|---|
//! | `self_preference` | share of its own-vs-other decisions won by its own output |
//! | `self_preference_prob` | mean probability it gave its own output: `choice_prob` when it chose its own, `1 − choice_prob` otherwise, ½ for a tie; over the own decisions that carry a `choice_prob` (`null` when none does) |
//! | `first_option_rate` | share of **all** its decisions won by `model_a` (the first shown) |
//! | `order_flip_rate` | over the (question, unordered author pair) cells it judged in both orders, the share whose winner (an author name, or tie) differs between the orders; a cell judged several times per order counts the share of differing (first-order, second-order) decision pairs |
//! | `win_rate_vs[author]` | share of its own-vs-`author` decisions won by its own output |
//!
//! Intervals: percentile bootstrap over **questions** (clusters): replicate r draws as
//! many question ids as there are, uniformly with replacement, from ChaCha8 stream r
//! of the seed, and every statistic is recomputed with each decision weighted by how
//! often its question was drawn; so results do not depend on the thread count or on
//! the order of the input. A replicate in which a statistic is undefined (none of its
//! decisions was drawn) is left out of that statistic's percentiles. Percentiles use
//! numpy's linear interpolation.
//!
//! Ratings: [`judge_ratings`] fits Bradley–Terry ratings of the **authors** (pref-rank's
//! [`bt`](crate::bt), Elo scale 400/ln 10 per logit, mean 1000 over the fit's authors)
//! to the decisions of some judges, with the same cluster bootstrap (refitting each
//! replicate). [`self_bias`] compares, for each judge j, the rating of author j fitted
//! on j's decisions alone with the rating of author j fitted on the other judges'
//! decisions; [`against_reference`] sets ratings against a ground truth (an Arena
//! leaderboard), listing the models it lacks.
//!
//! Identifiability: with `prior_precision = 0` the fits are plain maximum likelihood,
//! and data in which an author never loses (or a disconnected comparison graph) is an
//! error naming the models, also inside a bootstrap replicate. The default
//! `prior_precision = 0.01` is pref-rank's documented weak prior (θ ~ N(0, 10²), i.e.
//! a prior sd of ≈ 1,700 Elo): it moves well-determined ratings by far less than their
//! intervals (< 0.2 Elo on the shared CNN/DailyMail file) and keeps the rare replicate
//! in which, say, GPT-4 never loses to the human reference finite.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use pref_data::{JudgeDecision, Winner};

use crate::bootstrap::{check_replicates_and_level, percentile_sorted};
use crate::bt::{BtParams, PairCell, PairData};
use crate::error::{Error, Result};
use crate::metrics::{kendall_tau_b, spearman_rho, Correlation};
use crate::params::{non_negative, Checked, ParamGuard};

/// Reads judge decisions from JSON Lines (`.jsonl`, `.jsonl.gz`), a JSON array or
/// Parquet; bad input is reported as `path:line: field: message`.
pub fn read_judge_decisions(path: impl AsRef<Path>) -> Result<Vec<JudgeDecision>> {
    Ok(pref_data::read_records(path)?)
}

/// Hyperparameters of the judge statistics.
///
/// | field | default | valid | meaning |
/// |---|---|---|---|
/// | `bootstrap` | 1000 | ≥ 1 | bootstrap replicates (resampling question ids) |
/// | `seed` | 0 | any | replicate r uses ChaCha8 stream r of this seed |
/// | `level` | 0.95 | (0, 1) | level of the percentile intervals |
/// | `prior_precision` | 0.01 | finite, ≥ 0 | τ of the Bradley–Terry prior θ ~ N(0, 1/τ) in [`judge_ratings`] and [`self_bias`]; 0 = plain MLE |
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JudgeAnalysisParams {
    /// Number of bootstrap replicates.
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Confidence level of the intervals.
    pub level: f64,
    /// Prior precision of the Bradley–Terry fits (0 = maximum likelihood).
    pub prior_precision: f64,
}

impl Default for JudgeAnalysisParams {
    fn default() -> Self {
        Self {
            bootstrap: 1000,
            seed: 0,
            level: 0.95,
            prior_precision: 0.01,
        }
    }
}

impl JudgeAnalysisParams {
    /// Sets the number of bootstrap replicates.
    pub fn bootstrap(mut self, b: usize) -> Self {
        self.bootstrap = b;
        self
    }
    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the interval level.
    pub fn level(mut self, level: f64) -> Self {
        self.level = level;
        self
    }
    /// Sets the Bradley–Terry prior precision.
    pub fn prior_precision(mut self, tau: f64) -> Self {
        self.prior_precision = tau;
        self
    }
    fn bt(&self) -> Result<Checked<BtParams>> {
        BtParams::default()
            .prior_precision(self.prior_precision)
            .check()
    }
}

impl ParamGuard for JudgeAnalysisParams {
    fn validate(&self) -> Result<()> {
        check_replicates_and_level("bootstrap", self.bootstrap, self.level)?;
        non_negative("prior_precision", self.prior_precision)
    }
}

/// A point estimate with its bootstrap percentile interval. An interval that cannot be
/// computed (no replicate defined the statistic) is NaN, written as JSON `null`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimate on the full data.
    #[serde(deserialize_with = "crate::metrics::f64_or_nan")]
    pub estimate: f64,
    /// Lower percentile ((1 − level)/2).
    #[serde(deserialize_with = "crate::metrics::f64_or_nan")]
    pub ci_lower: f64,
    /// Upper percentile ((1 + level)/2).
    #[serde(deserialize_with = "crate::metrics::f64_or_nan")]
    pub ci_upper: f64,
}

impl Estimate {
    /// Percentile interval of `samples` (sorted in place) around `estimate`.
    fn from_samples(estimate: f64, samples: &mut [f64], level: f64) -> Self {
        if samples.is_empty() {
            return Self {
                estimate,
                ci_lower: f64::NAN,
                ci_upper: f64::NAN,
            };
        }
        samples.sort_by(f64::total_cmp);
        let (lo, hi) = pref_stats::central_percentiles(level);
        Self {
            estimate,
            ci_lower: percentile_sorted(samples, lo),
            ci_upper: percentile_sorted(samples, hi),
        }
    }
}

/// Statistics of one judge (see the [module docs](self) for the definitions). The
/// first seven fields are the `self-preference analyze` contract; the rest are extras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeStats {
    /// Decisions by this judge.
    pub n_decisions: usize,
    /// Decisions in which one of the two outputs is the judge's own.
    pub n_own: usize,
    /// Share of own-vs-other decisions won by its own output (`null` without own decisions).
    pub self_preference: Option<Estimate>,
    /// Mean probability given to its own output (`null` without `choice_prob`).
    pub self_preference_prob: Option<Estimate>,
    /// Share of all its decisions won by the first-shown output.
    pub first_option_rate: Estimate,
    /// Share of both-order cells whose winner differs (`null` without such cells).
    pub order_flip_rate: Option<f64>,
    /// Share of own-vs-`author` decisions won by its own output, per author.
    pub win_rate_vs: BTreeMap<String, f64>,
    /// Ties among its decisions.
    pub ties: usize,
    /// Own decisions that carry a `choice_prob` (those `self_preference_prob` averages).
    pub n_own_prob: usize,
    /// (question, author pair) cells judged in both orders.
    pub n_flip_cells: usize,
    /// `order_flip_rate` with its interval.
    pub order_flip: Option<Estimate>,
    /// `win_rate_vs` with intervals.
    pub win_rate_vs_ci: BTreeMap<String, Estimate>,
    /// Own-vs-`author` decisions, per author.
    pub n_vs: BTreeMap<String, usize>,
}

/// Result of [`analyze`]: `{"judges": {judge: JudgeStats}, …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeAnalysis {
    /// Statistics per judge (sorted by name).
    pub judges: BTreeMap<String, JudgeStats>,
    /// Number of decisions.
    pub n_decisions: usize,
    /// Number of distinct question ids (bootstrap clusters).
    pub n_questions: usize,
    /// Bootstrap replicates.
    pub bootstrap: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Interval level.
    pub level: f64,
}

// ------------------------------------------------------------------ clusters

/// Distinct question ids (sorted) and the question index of every decision.
struct Clusters {
    n: usize,
    of: Vec<u32>,
}

impl Clusters {
    fn new(decisions: &[JudgeDecision]) -> Self {
        let ids: BTreeSet<&str> = decisions.iter().map(|d| d.question_id.as_str()).collect();
        let index: HashMap<&str, u32> = ids
            .iter()
            .enumerate()
            .map(|(i, q)| (*q, i as u32))
            .collect();
        Self {
            n: ids.len(),
            of: decisions
                .iter()
                .map(|d| index[d.question_id.as_str()])
                .collect(),
        }
    }
}

/// How often each of `n` clusters is drawn in replicate `r`: `n` uniform draws with
/// replacement from replicate `r`'s stream (`pref_stats::replicate_rng`).
fn cluster_weights(seed: u64, r: usize, n: usize) -> Vec<u32> {
    let mut rng = pref_stats::replicate_rng(seed, r as u64);
    let mut w = vec![0u32; n];
    for _ in 0..n {
        w[rng.random_range(0..n)] += 1;
    }
    w
}

/// A mean over decisions, kept as (sum, count) per question so that a replicate
/// re-weights it: Σ_q w_q·sum_q / Σ_q w_q·count_q.
#[derive(Debug, Default)]
struct Mean {
    entries: Vec<(u32, f64, u32)>,
}

impl Mean {
    fn push(&mut self, q: u32, x: f64) {
        self.entries.push((q, x, 1));
    }
    /// Merges entries per question (stable: summation order = input order).
    fn finish(mut self) -> Self {
        self.entries.sort_by_key(|e| e.0);
        let mut out: Vec<(u32, f64, u32)> = Vec::new();
        for (q, x, n) in self.entries {
            match out.last_mut() {
                Some(last) if last.0 == q => {
                    last.1 += x;
                    last.2 += n;
                }
                _ => out.push((q, x, n)),
            }
        }
        Self { entries: out }
    }
    fn value(&self, w: Option<&[u32]>) -> Option<f64> {
        let (mut sum, mut count) = (0.0, 0.0);
        for &(q, x, n) in &self.entries {
            let k = w.map_or(1.0, |w| w[q as usize] as f64);
            sum += k * x;
            count += k * f64::from(n);
        }
        (count > 0.0).then(|| sum / count)
    }
}

fn check_decisions(decisions: &[JudgeDecision]) -> Result<()> {
    use pref_data::Record;
    if decisions.is_empty() {
        return Err(Error::InvalidInput("no judge decisions".into()));
    }
    for (i, d) in decisions.iter().enumerate() {
        d.validate().map_err(|e| {
            Error::InvalidInput(format!("decision {i}: {}: {}", e.field, e.message))
        })?;
    }
    Ok(())
}

/// Runs `f` on the cluster weights of every replicate (in parallel) and returns its
/// results in replicate order. All replicates run, then the first failing one is
/// reported, so the error too is the same whatever the thread count.
fn replicates<T: Send>(
    p: &JudgeAnalysisParams,
    n_clusters: usize,
    f: impl Fn(&[u32]) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let out: Vec<Result<T>> = (0..p.bootstrap)
        .into_par_iter()
        .map(|r| {
            let w = cluster_weights(p.seed, r, n_clusters);
            f(&w).map_err(|e| Error::Bootstrap {
                replicate: r,
                source: Box::new(e),
            })
        })
        .collect();
    out.into_iter().collect()
}

/// Every replicate's value of every mean; per statistic, its defined values.
fn bootstrap_means(
    stats: &[Mean],
    n_clusters: usize,
    p: &JudgeAnalysisParams,
) -> Result<Vec<Vec<f64>>> {
    let reps: Vec<Vec<Option<f64>>> = replicates(p, n_clusters, |w| {
        Ok(stats.iter().map(|s| s.value(Some(w))).collect())
    })?;
    Ok((0..stats.len())
        .map(|s| reps.iter().filter_map(|rep| rep[s]).collect())
        .collect())
}

/// The indices of each judge's decisions, judges sorted by name.
fn by_judge(decisions: &[JudgeDecision]) -> BTreeMap<&str, Vec<usize>> {
    let mut out: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, d) in decisions.iter().enumerate() {
        out.entry(d.judge.as_str()).or_default().push(i);
    }
    out
}

// ------------------------------------------------------------------ analyze

/// Indices into the statistic list for one judge.
struct JudgeSlots {
    n_decisions: usize,
    n_own: usize,
    n_own_prob: usize,
    ties: usize,
    n_flip_cells: usize,
    self_pref: usize,
    self_prob: usize,
    first: usize,
    flip: usize,
    vs: BTreeMap<String, (usize, usize)>,
}

/// Self-preference, position bias and order flips of every judge, with cluster
/// bootstrap intervals (definitions in the [module docs](self)).
pub fn analyze(decisions: &[JudgeDecision], params: &JudgeAnalysisParams) -> Result<JudgeAnalysis> {
    params.validate()?;
    check_decisions(decisions)?;
    let clusters = Clusters::new(decisions);
    let mut stats: Vec<Mean> = Vec::new();
    let mut slots: Vec<(&str, JudgeSlots)> = Vec::new();
    for (judge, idx) in by_judge(decisions) {
        let [mut self_pref, mut self_prob, mut first, mut flip]: [Mean; 4] = Default::default();
        let mut vs: BTreeMap<&str, (Mean, usize)> = BTreeMap::new();
        let (mut n_own, mut n_own_prob, mut ties) = (0, 0, 0);
        // (question, lower name, upper name) → winners when the lower / upper name is shown first.
        type Cell<'a> = (Vec<Option<&'a str>>, Vec<Option<&'a str>>);
        let mut cells: BTreeMap<(u32, &str, &str), Cell<'_>> = BTreeMap::new();
        for &i in &idx {
            let d = &decisions[i];
            let q = clusters.of[i];
            let first_score = crate::elo::score_a(d.winner);
            ties += usize::from(d.winner == Winner::Tie);
            first.push(q, first_score);
            let (lo, hi) = if d.model_a <= d.model_b {
                (d.model_a.as_str(), d.model_b.as_str())
            } else {
                (d.model_b.as_str(), d.model_a.as_str())
            };
            let cell = cells.entry((q, lo, hi)).or_default();
            if d.model_a.as_str() == lo {
                cell.0.push(d.winner_model());
            } else {
                cell.1.push(d.winner_model());
            }
            let other = if d.model_a == judge {
                &d.model_b
            } else if d.model_b == judge {
                &d.model_a
            } else {
                continue;
            };
            n_own += 1;
            // Score of the judge's own output: 1 won, 0 lost, ½ tie.
            let own_won = match (d.winner, d.model_a == judge) {
                (Winner::Tie, _) => None,
                (Winner::A, a_is_own) => Some(a_is_own),
                (Winner::B, a_is_own) => Some(!a_is_own),
            };
            let own_score = own_won.map_or(0.5, |w| if w { 1.0 } else { 0.0 });
            self_pref.push(q, own_score);
            let e = vs.entry(other.as_str()).or_default();
            e.0.push(q, own_score);
            e.1 += 1;
            if let Some(p) = d.choice_prob {
                n_own_prob += 1;
                let p_own = match own_won {
                    None => 0.5,
                    Some(true) => p,
                    Some(false) => 1.0 - p,
                };
                self_prob.push(q, p_own);
            }
        }
        let mut n_flip_cells = 0;
        for ((q, _, _), (x, y)) in &cells {
            if x.is_empty() || y.is_empty() {
                continue;
            }
            n_flip_cells += 1;
            let differ = x
                .iter()
                .map(|a| y.iter().filter(|b| a != *b).count())
                .sum::<usize>();
            flip.push(*q, differ as f64 / (x.len() * y.len()) as f64);
        }
        let mut add = |r: Mean| {
            stats.push(r.finish());
            stats.len() - 1
        };
        let s = JudgeSlots {
            n_decisions: idx.len(),
            n_own,
            n_own_prob,
            ties,
            n_flip_cells,
            self_pref: add(self_pref),
            self_prob: add(self_prob),
            first: add(first),
            flip: add(flip),
            vs: vs
                .into_iter()
                .map(|(a, (r, n))| (a.to_string(), (add(r), n)))
                .collect(),
        };
        slots.push((judge, s));
    }

    let mut samples = bootstrap_means(&stats, clusters.n, params)?;
    let mut est = |k: usize| -> Option<Estimate> {
        stats[k]
            .value(None)
            .map(|e| Estimate::from_samples(e, &mut samples[k], params.level))
    };
    let mut judges = BTreeMap::new();
    for (judge, s) in slots {
        let first_option_rate = est(s.first)
            .ok_or_else(|| Error::InvalidInput(format!("judge `{judge}` has no decisions")))?;
        let order_flip = est(s.flip);
        let mut win_rate_vs = BTreeMap::new();
        let mut win_rate_vs_ci = BTreeMap::new();
        let mut n_vs = BTreeMap::new();
        for (author, (k, n)) in s.vs {
            if let Some(e) = est(k) {
                win_rate_vs.insert(author.clone(), e.estimate);
                win_rate_vs_ci.insert(author.clone(), e);
            }
            n_vs.insert(author, n);
        }
        judges.insert(
            judge.to_string(),
            JudgeStats {
                n_decisions: s.n_decisions,
                n_own: s.n_own,
                self_preference: est(s.self_pref),
                self_preference_prob: est(s.self_prob),
                first_option_rate,
                order_flip_rate: order_flip.map(|e| e.estimate),
                win_rate_vs,
                ties: s.ties,
                n_own_prob: s.n_own_prob,
                n_flip_cells: s.n_flip_cells,
                order_flip,
                win_rate_vs_ci,
                n_vs,
            },
        );
    }
    Ok(JudgeAnalysis {
        judges,
        n_decisions: decisions.len(),
        n_questions: clusters.n,
        bootstrap: params.bootstrap,
        seed: params.seed,
        level: params.level,
    })
}

// ------------------------------------------------------------------ ratings

/// Pair cells of a subset of decisions, kept per question for re-weighting.
struct ClusterPairs {
    models: Vec<String>,
    /// `(i, j)` with `i < j` per cell.
    pairs: Vec<(u32, u32)>,
    /// `(question, cell, [wins of i, wins of j, ties])`.
    entries: Vec<(u32, u32, [u64; 3])>,
    n_decisions: usize,
}

impl ClusterPairs {
    /// Decisions `idx` of `decisions`, clustered by `clusters`.
    fn new(decisions: &[JudgeDecision], idx: &[usize], clusters: &Clusters) -> Self {
        let models: Vec<String> = idx
            .iter()
            .flat_map(|&i| [&decisions[i].model_a, &decisions[i].model_b])
            .collect::<BTreeSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        let pos: HashMap<&str, u32> = models
            .iter()
            .enumerate()
            .map(|(k, m)| (m.as_str(), k as u32))
            .collect();
        let mut counts: BTreeMap<(u32, u32, u32), [u64; 3]> = BTreeMap::new();
        for &i in idx {
            let d = &decisions[i];
            let (a, b) = (pos[d.model_a.as_str()], pos[d.model_b.as_str()]);
            let (lo, hi, swap) = if a < b { (a, b, false) } else { (b, a, true) };
            let o = match (d.winner, swap) {
                (Winner::Tie, _) => 2,
                (Winner::A, false) | (Winner::B, true) => 0,
                _ => 1,
            };
            counts.entry((lo, hi, clusters.of[i])).or_default()[o] += 1;
        }
        let pairs: Vec<(u32, u32)> = counts
            .keys()
            .map(|&(i, j, _)| (i, j))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let cell_of: HashMap<(u32, u32), u32> = pairs
            .iter()
            .enumerate()
            .map(|(c, &p)| (p, c as u32))
            .collect();
        let mut entries: Vec<(u32, u32, [u64; 3])> = counts
            .into_iter()
            .map(|((i, j, q), c)| (q, cell_of[&(i, j)], c))
            .collect();
        entries.sort_by_key(|e| (e.0, e.1));
        Self {
            models,
            pairs,
            entries,
            n_decisions: idx.len(),
        }
    }

    /// Pair data under cluster weights `w` (all ones when `None`); `None` when some
    /// author has no decision in this replicate (its rating is undefined there).
    fn pair_data(&self, w: Option<&[u32]>) -> Result<Option<PairData>> {
        let mut cells: Vec<PairCell> = self
            .pairs
            .iter()
            .map(|&(i, j)| PairCell {
                i,
                j,
                wins_i: 0,
                wins_j: 0,
                ties: 0,
            })
            .collect();
        for &(q, c, n) in &self.entries {
            let k = w.map_or(1, |w| u64::from(w[q as usize]));
            let cell = &mut cells[c as usize];
            cell.wins_i += k * n[0];
            cell.wins_j += k * n[1];
            cell.ties += k * n[2];
        }
        let mut seen = vec![false; self.models.len()];
        for c in cells.iter().filter(|c| c.n() > 0) {
            seen[c.i as usize] = true;
            seen[c.j as usize] = true;
        }
        if !seen.iter().all(|&s| s) {
            return Ok(None);
        }
        PairData::new(self.models.clone(), cells).map(Some)
    }

    /// Bradley–Terry ratings (Elo scale, mean 1000) under weights `w`.
    fn fit(&self, bt: &Checked<BtParams>, w: Option<&[u32]>) -> Result<Option<Vec<f64>>> {
        match self.pair_data(w)? {
            None => Ok(None),
            Some(d) => Ok(Some(bt.fit(&d)?.ratings.values)),
        }
    }
}

fn context(context: impl Into<String>) -> impl FnOnce(Error) -> Error {
    let context = context.into();
    move |e| Error::Context {
        context,
        source: Box::new(e),
    }
}

/// Bradley–Terry ratings of the authors with cluster-bootstrap intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeRatings {
    /// Rating of each author (Elo scale, mean 1000 over these authors).
    pub ratings: BTreeMap<String, Estimate>,
    /// The judges whose decisions were used (sorted).
    pub judges: Vec<String>,
    /// Decisions used.
    pub n_decisions: usize,
    /// Distinct questions among them (bootstrap clusters).
    pub n_questions: usize,
    /// Replicates left out because some author had no decision in them.
    pub bootstrap_undefined: usize,
    /// The prior precision used (0 = maximum likelihood).
    pub prior_precision: f64,
}

impl JudgeRatings {
    /// `(author, rating)` pairs, best first (ties by name): the input of
    /// [`against_reference`].
    pub fn estimates(&self) -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = self
            .ratings
            .iter()
            .map(|(m, e)| (m.clone(), e.estimate))
            .collect();
        best_first(&mut v);
        v
    }
}

/// Sorts `(model, rating)` pairs best first, ties by name.
fn best_first(v: &mut [(String, f64)]) {
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

/// The judges chosen (`None` = all) and their decisions, checked.
fn judges_subset<'a>(
    decisions: &'a [JudgeDecision],
    judges: Option<&'a [String]>,
) -> Result<(BTreeSet<&'a str>, Vec<JudgeDecision>)> {
    check_decisions(decisions)?;
    let present: BTreeSet<&str> = decisions.iter().map(|d| d.judge.as_str()).collect();
    let chosen: BTreeSet<&str> = match judges {
        None => present.clone(),
        Some(js) => {
            for j in js {
                if !present.contains(j.as_str()) {
                    return Err(Error::UnknownModel {
                        model: j.clone(),
                        context: format!(
                            "no decision by this judge; judges in the data: {}",
                            present.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            }
            js.iter().map(String::as_str).collect()
        }
    };
    if chosen.is_empty() {
        return Err(Error::InvalidInput("no judge selected".into()));
    }
    let subset: Vec<JudgeDecision> = decisions
        .iter()
        .filter(|d| chosen.contains(d.judge.as_str()))
        .cloned()
        .collect();
    Ok((chosen, subset))
}

/// The full-data Bradley–Terry fit behind [`judge_ratings`] and
/// [`judge_point_ratings`]: the chosen judges' decisions, their question
/// clusters and author pairs, and the fitted ratings.
struct SubsetFit {
    judges: Vec<String>,
    n_decisions: usize,
    clusters: Clusters,
    pairs: ClusterPairs,
    bt: Checked<BtParams>,
    /// "ratings from the decisions of …", the context of every error.
    what: String,
    full: Vec<f64>,
}

impl SubsetFit {
    fn new(
        decisions: &[JudgeDecision],
        judges: Option<&[String]>,
        params: &JudgeAnalysisParams,
    ) -> Result<Self> {
        params.validate()?;
        let (chosen, subset) = judges_subset(decisions, judges)?;
        let clusters = Clusters::new(&subset);
        let all: Vec<usize> = (0..subset.len()).collect();
        let pairs = ClusterPairs::new(&subset, &all, &clusters);
        let bt = params.bt()?;
        let what = format!(
            "ratings from the decisions of {}",
            chosen.iter().copied().collect::<Vec<_>>().join(", ")
        );
        let full = pairs
            .fit(&bt, None)
            .map_err(context(what.clone()))?
            .ok_or_else(|| Error::InvalidInput("no decisions".into()))?;
        Ok(Self {
            judges: chosen.iter().map(|s| s.to_string()).collect(),
            n_decisions: subset.len(),
            clusters,
            pairs,
            bt,
            what,
            full,
        })
    }
}

/// [`judge_ratings`] without intervals: the Bradley–Terry ratings of the authors
/// from the decisions of `judges` (all when `None`) as `(author, rating)`, best
/// first, as [`JudgeRatings::estimates`] gives them (the same numbers, without
/// the bootstrap's refits).
pub fn judge_point_ratings(
    decisions: &[JudgeDecision],
    judges: Option<&[String]>,
    params: &JudgeAnalysisParams,
) -> Result<Vec<(String, f64)>> {
    let fit = SubsetFit::new(decisions, judges, params)?;
    let mut v: Vec<(String, f64)> = fit.pairs.models.into_iter().zip(fit.full).collect();
    best_first(&mut v);
    Ok(v)
}

/// Bradley–Terry ratings of the authors from the decisions of `judges` (all judges when
/// `None`), with intervals from the cluster bootstrap over those decisions' questions
/// (each replicate refitted). A judge that has no decision is an error.
pub fn judge_ratings(
    decisions: &[JudgeDecision],
    judges: Option<&[String]>,
    params: &JudgeAnalysisParams,
) -> Result<JudgeRatings> {
    let fit = SubsetFit::new(decisions, judges, params)?;
    let reps: Vec<Option<Vec<f64>>> =
        replicates(params, fit.clusters.n, |w| fit.pairs.fit(&fit.bt, Some(w)))
            .map_err(context(fit.what))?;
    let defined: Vec<&Vec<f64>> = reps.iter().flatten().collect();
    let ratings = fit
        .pairs
        .models
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let mut s: Vec<f64> = defined.iter().map(|v| v[m]).collect();
            (
                name.clone(),
                Estimate::from_samples(fit.full[m], &mut s, params.level),
            )
        })
        .collect();
    Ok(JudgeRatings {
        ratings,
        judges: fit.judges,
        n_decisions: fit.n_decisions,
        n_questions: fit.clusters.n,
        bootstrap_undefined: reps.len() - defined.len(),
        prior_precision: params.prior_precision,
    })
}

/// Self-bias of one judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSelfBias {
    /// Rating of the judge's own outputs in the fit on its own decisions.
    pub rating_by_self: Estimate,
    /// Rating of the judge's outputs in the fit on the other judges' decisions.
    pub rating_by_others: Estimate,
    /// `rating_by_self − rating_by_others`.
    pub self_bias: Estimate,
    /// Authors in both fits: each fit's ratings are shifted so that their mean over
    /// these authors is 1000.
    pub shared_authors: Vec<String>,
    /// Decisions of this judge.
    pub n_self: usize,
    /// Decisions of the other judges.
    pub n_others: usize,
}

/// Result of [`self_bias`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfBias {
    /// Per judge (sorted by name).
    pub judges: BTreeMap<String, JudgeSelfBias>,
    /// Judges for which self-bias is undefined, with the reason (e.g. it never judged
    /// its own output, or no other judge rated it).
    pub skipped: BTreeMap<String, String>,
    /// Replicates in which some judge's fit had an author without a decision (left
    /// out of that judge's intervals).
    pub bootstrap_undefined: usize,
    /// The prior precision used (0 = maximum likelihood).
    pub prior_precision: f64,
}

/// One judge's two fits.
struct SelfBiasPlan {
    judge: String,
    own: ClusterPairs,
    others: ClusterPairs,
    /// Index of the judge among `own.models` / `others.models`.
    j_own: usize,
    j_others: usize,
    /// Indices of the shared authors in each fit.
    shared_own: Vec<usize>,
    shared_others: Vec<usize>,
    shared: Vec<String>,
}

impl SelfBiasPlan {
    /// `[by self, by others, bias]` under weights `w`.
    fn values(&self, bt: &Checked<BtParams>, w: Option<&[u32]>) -> Result<Option<[f64; 3]>> {
        let own = self.own.fit(bt, w).map_err(context(format!(
            "self-bias of judge `{}`: fit on its own decisions",
            self.judge
        )))?;
        let others = self.others.fit(bt, w).map_err(context(format!(
            "self-bias of judge `{}`: fit on the other judges' decisions",
            self.judge
        )))?;
        let (Some(own), Some(others)) = (own, others) else {
            return Ok(None);
        };
        let centred = |r: &[f64], at: usize, shared: &[usize]| {
            let mean = shared.iter().map(|&k| r[k]).sum::<f64>() / shared.len() as f64;
            r[at] - mean + 1000.0
        };
        let a = centred(&own, self.j_own, &self.shared_own);
        let b = centred(&others, self.j_others, &self.shared_others);
        Ok(Some([a, b, a - b]))
    }
}

/// Self-bias of every judge that is also an author: the Bradley–Terry rating of
/// author j fitted on judge j's decisions only, minus the rating of author j fitted
/// on all other judges' decisions. Both fits are shifted so that the mean rating of
/// the authors they share is 1000 (the difference does not depend on that constant).
/// Intervals: cluster bootstrap over all questions of `decisions`, both fits refitted
/// on the same resample.
pub fn self_bias(decisions: &[JudgeDecision], params: &JudgeAnalysisParams) -> Result<SelfBias> {
    params.validate()?;
    check_decisions(decisions)?;
    let clusters = Clusters::new(decisions);
    let mut plans = Vec::new();
    let mut skipped = BTreeMap::new();
    for (judge, own_idx) in by_judge(decisions) {
        let others_idx: Vec<usize> = (0..decisions.len())
            .filter(|&i| decisions[i].judge != judge)
            .collect();
        let own = ClusterPairs::new(decisions, &own_idx, &clusters);
        let Some(j_own) = own.models.iter().position(|m| m == judge) else {
            skipped.insert(
                judge.to_string(),
                "the judge never judged its own output (no author has its name)".to_string(),
            );
            continue;
        };
        if others_idx.is_empty() {
            skipped.insert(judge.to_string(), "there are no other judges".to_string());
            continue;
        }
        let others = ClusterPairs::new(decisions, &others_idx, &clusters);
        let Some(j_others) = others.models.iter().position(|m| m == judge) else {
            skipped.insert(
                judge.to_string(),
                "no other judge rated this judge's outputs".to_string(),
            );
            continue;
        };
        let shared: Vec<String> = own
            .models
            .iter()
            .filter(|m| others.models.contains(m))
            .cloned()
            .collect();
        if shared.len() < 2 {
            skipped.insert(
                judge.to_string(),
                "the two fits share no author besides the judge, so their scales cannot be aligned"
                    .to_string(),
            );
            continue;
        }
        let idx = |models: &[String]| -> Vec<usize> {
            shared
                .iter()
                .map(|s| models.iter().position(|m| m == s).unwrap_or(0))
                .collect()
        };
        plans.push(SelfBiasPlan {
            judge: judge.to_string(),
            shared_own: idx(&own.models),
            shared_others: idx(&others.models),
            j_own,
            j_others,
            own,
            others,
            shared,
        });
    }
    let bt = params.bt()?;
    let mut full = Vec::with_capacity(plans.len());
    for p in &plans {
        full.push(p.values(&bt, None)?.ok_or_else(|| {
            Error::InvalidInput(format!("self-bias of judge `{}`: no decisions", p.judge))
        })?);
    }
    let reps: Vec<Vec<Option<[f64; 3]>>> = replicates(params, clusters.n, |w| {
        plans.iter().map(|p| p.values(&bt, Some(w))).collect()
    })?;
    let undefined = reps
        .iter()
        .filter(|rep| rep.iter().any(Option::is_none))
        .count();
    let mut judges = BTreeMap::new();
    for (k, (p, f)) in plans.iter().zip(&full).enumerate() {
        let defined: Vec<[f64; 3]> = reps.iter().filter_map(|rep| rep[k]).collect();
        let est = |c: usize| {
            let mut s: Vec<f64> = defined.iter().map(|v| v[c]).collect();
            Estimate::from_samples(f[c], &mut s, params.level)
        };
        judges.insert(
            p.judge.clone(),
            JudgeSelfBias {
                rating_by_self: est(0),
                rating_by_others: est(1),
                self_bias: est(2),
                shared_authors: p.shared.clone(),
                n_self: p.own.n_decisions,
                n_others: p.others.n_decisions,
            },
        );
    }
    Ok(SelfBias {
        judges,
        skipped,
        bootstrap_undefined: undefined,
        prior_precision: params.prior_precision,
    })
}

// ------------------------------------------------------------------ reference

/// One model found in both the ratings and the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedModel {
    /// Name in the ratings.
    pub model: String,
    /// Name in the reference (after `name_map`).
    pub reference_model: String,
    /// Its rating.
    pub rating: f64,
    /// Its reference rating.
    pub reference: f64,
    /// `rating − mean rating of the matched models`.
    pub rating_centred: f64,
    /// `reference − mean reference rating of the matched models`.
    pub reference_centred: f64,
    /// `rating_centred − reference_centred`.
    pub difference: f64,
}

/// Ratings set against a reference leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceComparison {
    /// Models found in the reference, in the order of the ratings.
    pub matched: Vec<MatchedModel>,
    /// Rated models the reference lacks (never silently dropped).
    pub missing_from_reference: Vec<String>,
    /// Spearman ρ of rating vs reference over the matched models (NaN/`null` for < 2
    /// models or constant input; p-value as scipy).
    pub spearman: Correlation,
    /// Kendall τ-b over the matched models (p-value as scipy).
    pub kendall_tau: Correlation,
    /// Number of matched models.
    pub n_matched: usize,
}

/// Compares `ratings` with `reference` (e.g. an Arena leaderboard). `name_map` maps a
/// rated model's name to its name in the reference (models without an entry keep their
/// name). Both sides are centred on the matched models before differences are taken.
/// Errors: a model listed twice on either side, two models mapped to the same reference
/// name, or a non-finite rating.
pub fn against_reference(
    ratings: &[(String, f64)],
    reference: &[(String, f64)],
    name_map: &BTreeMap<String, String>,
) -> Result<ReferenceComparison> {
    let mut refs: HashMap<&str, f64> = HashMap::with_capacity(reference.len());
    for (m, v) in reference {
        if !v.is_finite() {
            return Err(Error::InvalidInput(format!(
                "reference rating of `{m}` is not finite: {v}"
            )));
        }
        if refs.insert(m.as_str(), *v).is_some() {
            return Err(Error::InvalidInput(format!(
                "`{m}` appears twice in the reference"
            )));
        }
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut rated: BTreeSet<&str> = BTreeSet::new();
    let mut matched = Vec::new();
    let mut missing = Vec::new();
    for (m, v) in ratings {
        if !v.is_finite() {
            return Err(Error::InvalidInput(format!(
                "rating of `{m}` is not finite: {v}"
            )));
        }
        if !rated.insert(m.as_str()) {
            return Err(Error::InvalidInput(format!(
                "`{m}` appears twice in the ratings"
            )));
        }
        let r = name_map.get(m).map_or(m.as_str(), String::as_str);
        if let Some(prev) = seen.insert(r, m.as_str()) {
            return Err(Error::InvalidInput(format!(
                "`{prev}` and `{m}` both map to the reference model `{r}`"
            )));
        }
        match refs.get(r) {
            Some(&x) => matched.push((m.clone(), r.to_string(), *v, x)),
            None => missing.push(m.clone()),
        }
    }
    let n = matched.len();
    let mean = |f: fn(&(String, String, f64, f64)) -> f64| {
        matched.iter().map(f).sum::<f64>() / n.max(1) as f64
    };
    let (mx, my) = (mean(|t| t.2), mean(|t| t.3));
    let x: Vec<f64> = matched.iter().map(|t| t.2).collect();
    let y: Vec<f64> = matched.iter().map(|t| t.3).collect();
    let spearman = spearman_rho(&x, &y)?;
    let kendall_tau = kendall_tau_b(&x, &y)?;
    Ok(ReferenceComparison {
        matched: matched
            .into_iter()
            .map(|(model, reference_model, rating, reference)| MatchedModel {
                model,
                reference_model,
                rating,
                reference,
                rating_centred: rating - mx,
                reference_centred: reference - my,
                difference: (rating - mx) - (reference - my),
            })
            .collect(),
        missing_from_reference: missing,
        spearman,
        kendall_tau,
        n_matched: n,
    })
}

/// A judge's own rating of itself set against a reference leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SelfBiasVsReference {
    /// The judge is in the reference.
    Matched {
        /// The judge's centred rating of itself (from its own decisions) minus its
        /// centred reference rating.
        self_bias: f64,
        /// Authors matched in the reference.
        n_matched: usize,
        /// The judge's centred rating of itself.
        rating_by_self_centred: f64,
        /// Its centred reference rating.
        reference_centred: f64,
    },
    /// The judge is not in the reference.
    Unmatched {
        /// Always `None`.
        self_bias: Option<f64>,
        /// Why there is no number.
        reason: String,
    },
    /// The judge's own decisions do not identify a rating.
    Failed {
        /// Why.
        error: String,
    },
}

/// Self-bias against a reference: for each judge, Bradley–Terry point ratings of
/// every author from that judge's decisions alone, compared with `reference`
/// ([`against_reference`], centred on the matched authors); the judge's centred
/// rating of itself minus its centred reference rating. Judges whose own
/// decisions do not identify ratings are reported as [`SelfBiasVsReference::Failed`].
pub fn self_bias_vs_reference(
    decisions: &[JudgeDecision],
    judges: &[String],
    reference: &[(String, f64)],
    name_map: &BTreeMap<String, String>,
    params: &JudgeAnalysisParams,
) -> Result<BTreeMap<String, SelfBiasVsReference>> {
    let mut out = BTreeMap::new();
    for j in judges {
        // Point estimates only: the bootstrap's refits would go unused.
        let own = match judge_point_ratings(decisions, Some(std::slice::from_ref(j)), params) {
            Ok(own) => own,
            Err(e) => {
                out.insert(
                    j.clone(),
                    SelfBiasVsReference::Failed {
                        error: e.to_string(),
                    },
                );
                continue;
            }
        };
        let c = against_reference(&own, reference, name_map)?;
        let entry = match c.matched.iter().find(|m| &m.model == j) {
            Some(m) => SelfBiasVsReference::Matched {
                self_bias: m.difference,
                n_matched: c.n_matched,
                rating_by_self_centred: m.rating_centred,
                reference_centred: m.reference_centred,
            },
            None => SelfBiasVsReference::Unmatched {
                self_bias: None,
                reason: "the judge is not in the reference (see missing_from_reference)".into(),
            },
        };
        out.insert(j.clone(), entry);
    }
    Ok(out)
}

/// Share of `judge`'s decisions involving `author` that `author` won (ties
/// count ½); NaN when there are none. On the diagonal (`author == judge`) this is
/// the judge's self-preference over every decision involving itself.
pub fn win_share(decisions: &[JudgeDecision], judge: &str, author: &str) -> f64 {
    let (mut won, mut n) = (0.0, 0usize);
    for d in decisions
        .iter()
        .filter(|d| d.judge == judge && (d.model_a == author || d.model_b == author))
    {
        n += 1;
        won += match d.winner_model() {
            Some(w) if w == author => 1.0,
            Some(_) => 0.0,
            None => 0.5,
        };
    }
    if n == 0 {
        f64::NAN
    } else {
        won / n as f64
    }
}

/// The judge × author grid of [`win_share`] (rows `judges`, columns `authors`).
pub fn win_share_grid(
    decisions: &[JudgeDecision],
    judges: &[String],
    authors: &[String],
) -> Vec<Vec<f64>> {
    judges
        .iter()
        .map(|j| authors.iter().map(|a| win_share(decisions, j, a)).collect())
        .collect()
}
