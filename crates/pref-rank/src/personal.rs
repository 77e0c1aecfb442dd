//! Personalised ranking, evaluated (feature `candle`; `docs/personal-rank.md`).
//!
//! Each persona has prompts; on each prompt every pair of models was compared "as
//! this persona" (both orders). For each of `seeds` repetitions the persona's
//! prompts are split at random into training and held-out prompts. The
//! **ground truth** of a persona is a Bradley–Terry fit of its held-out
//! comparisons (every pair, both orders: a round robin, not one listwise answer).
//! Four rankings are then predicted from growing prefixes of the persona's
//! training comparisons (in a seeded random order) and scored against it:
//!
//! - `global`: the global ratings alone (no personalisation: the baseline);
//! - `A` (Elo offsets): global rating + δ_{u,m} updated by the Elo rule from the
//!   persona's comparisons ([`crate::offsets`]);
//! - `B` (reward head): a head on frozen embeddings of (prompt, response) trained on
//!   the persona's decisive comparisons with the rank regulariser towards the global
//!   order ([`crate::reward`]); a model's score is its mean reward over the
//!   held-out prompts;
//! - `C` (style-controlled Bradley–Terry): one joint fit over every persona of a
//!   global strength per model, a persona offset per (persona, model) and style
//!   coefficients per persona ([`crate::style`]); a model's score is its mean
//!   predicted win probability against the others over the held-out prompts, style
//!   differences included (the ground truth includes them too).
//!
//! Metrics per persona (Kendall τ-b, Spearman ρ, pairwise accuracy, top-1, top-3;
//! [`crate::metrics`]) are averaged over personas within a seed, then summarised
//! over seeds as a mean with a t interval; systems are compared by the t interval
//! of their paired per-seed difference. Leave-one-out: each model in turn is left
//! out of training (every comparison involving it removed) and the systems are
//! scored on the pairs involving it: can they place a model they never saw?

use std::collections::BTreeMap;

use pref_data::{Matrix, Winner};
use pref_stats::{t_interval, MeanInterval};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::bt::{BtFit, BtParams, PairCell, PairData};
use crate::elo::EloParams;
use crate::error::{Error, Result};
use crate::metrics::ranking_metrics;
use crate::offsets::EloOffsets;
use crate::params::ParamGuard;
use crate::ratings::Ratings;
use crate::reward::{PreferencePair, RewardHead, RewardHeadParams};
use crate::style::StyleObservation;
use crate::style::{relative_difference, Standardizer, StyleBtFit, StyleBtParams, StyleData};

/// One comparison of two models' responses to a prompt, as a persona.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    /// The persona (index into [`PersonalData::personas`]).
    pub persona: usize,
    /// The prompt (index; the prompt belongs to `persona`).
    pub prompt: usize,
    /// One model (index into [`PersonalData::models`]).
    pub a: usize,
    /// The other model.
    pub b: usize,
    /// 1 when `a`'s response was preferred, 0 when `b`'s, 0.5 for a tie.
    pub outcome: f64,
}

/// Everything the evaluation reads.
#[derive(Debug, Clone)]
pub struct PersonalData {
    /// Persona names.
    pub personas: Vec<String>,
    /// Model (contestant) names.
    pub models: Vec<String>,
    /// The persona of each prompt.
    pub prompt_persona: Vec<usize>,
    /// Every comparison (both orders are two comparisons).
    pub judged: Vec<Judged>,
    /// Global rating of each model (Elo scale).
    pub global: Vec<f64>,
    /// Embedding of each response: row `prompt · n_models + model`.
    pub embeddings: Matrix<f32>,
    /// Style counts of each response (same rows), e.g. characters and markdown elements.
    pub style: Vec<Vec<f64>>,
    /// Names of the style counts.
    pub style_names: Vec<String>,
}

impl PersonalData {
    fn row(&self, prompt: usize, model: usize) -> usize {
        prompt * self.models.len() + model
    }

    /// Checks sizes and indices, naming what is wrong.
    pub fn check(&self) -> Result<()> {
        let (p, m) = (self.prompt_persona.len(), self.models.len());
        let bad = |s: String| Err(Error::InvalidInput(s));
        if m < 2 {
            return bad(format!("{m} models: need at least 2"));
        }
        if self.personas.is_empty() {
            return bad("no personas".into());
        }
        if self.global.len() != m || self.global.iter().any(|g| !g.is_finite()) {
            return bad(format!(
                "global ratings: need {m} finite values, got {:?}",
                self.global
            ));
        }
        if let Some(i) = self
            .prompt_persona
            .iter()
            .position(|&u| u >= self.personas.len())
        {
            return bad(format!("prompt {i}: persona index out of range"));
        }
        if self.embeddings.rows != p * m {
            return bad(format!(
                "embeddings: {} rows, need prompts × models = {}",
                self.embeddings.rows,
                p * m
            ));
        }
        if self.style.len() != p * m
            || self
                .style
                .iter()
                .any(|r| r.len() != self.style_names.len() || r.iter().any(|v| !v.is_finite()))
        {
            return bad(format!(
                "style: need {} rows of {} finite counts",
                p * m,
                self.style_names.len()
            ));
        }
        for (k, j) in self.judged.iter().enumerate() {
            if j.a >= m || j.b >= m || j.a == j.b || j.prompt >= p {
                return bad(format!(
                    "comparison {k}: model or prompt index out of range"
                ));
            }
            if self.prompt_persona[j.prompt] != j.persona {
                return bad(format!(
                    "comparison {k}: prompt {} is not persona {}'s",
                    j.prompt, j.persona
                ));
            }
            if ![0.0, 0.5, 1.0].contains(&j.outcome) {
                return bad(format!("comparison {k}: outcome must be 0, 0.5 or 1"));
            }
        }
        Ok(())
    }

    fn style_x(&self, prompt: usize, a: usize, b: usize) -> Vec<f64> {
        let (ra, rb) = (
            &self.style[self.row(prompt, a)],
            &self.style[self.row(prompt, b)],
        );
        ra.iter()
            .zip(rb)
            .map(|(x, y)| relative_difference(*x, *y))
            .collect()
    }
}

/// How the evaluation runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalParams {
    /// Repetitions (random train / held-out splits and training orders), ≥ 2.
    pub seeds: usize,
    /// Seed of the first repetition (repetition r uses `seed + r`).
    pub seed: u64,
    /// Held-out prompts per persona (the rest train), ≥ 1.
    pub heldout: usize,
    /// Training comparisons per persona at each learning-curve point (ascending);
    /// sizes above what a persona has are dropped and "all" is always the last point.
    pub sizes: Vec<usize>,
    /// System B continues from the previous point's head instead of training afresh.
    pub incremental: bool,
    /// Also run the leave-one-model-out evaluation.
    pub leave_one_out: bool,
    /// System A's Elo rule.
    pub elo: EloParams,
    /// System B's head (its seed is offset by the repetition).
    pub reward: RewardHeadParams,
    /// System C.
    pub style: StyleBtParams,
    /// Prior precision of the ground-truth Bradley–Terry fits (keeps a model that
    /// never lost on the held-out prompts finite).
    pub truth_prior: f64,
    /// Interval level.
    pub level: f64,
}

impl Default for PersonalParams {
    fn default() -> Self {
        Self {
            seeds: 5,
            seed: 0,
            heldout: 2,
            sizes: Vec::new(),
            incremental: false,
            leave_one_out: true,
            elo: EloParams::default(),
            reward: RewardHeadParams::default(),
            style: StyleBtParams::default(),
            truth_prior: 0.01,
            level: 0.95,
        }
    }
}

impl PersonalParams {
    /// Checks every field, naming it.
    pub fn check(&self) -> Result<()> {
        if self.seeds < 2 {
            return Err(Error::param("seeds", "must be ≥ 2 (intervals over seeds)"));
        }
        if self.heldout == 0 {
            return Err(Error::param("heldout", "must be ≥ 1"));
        }
        if self.sizes.contains(&0) || self.sizes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::param(
                "sizes",
                format!("must be ≥ 1 and strictly ascending, got {:?}", self.sizes),
            ));
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(Error::param("level", "must lie in (0, 1)"));
        }
        if !(self.truth_prior.is_finite() && self.truth_prior > 0.0) {
            return Err(Error::param("truth_prior", "must be finite and > 0"));
        }
        self.elo.check()?;
        self.reward.clone().check()?;
        self.style.clone().check()?;
        Ok(())
    }
}

/// The systems compared, in report order.
pub const SYSTEMS: [&str; 4] = ["global", "A", "B", "C"];
/// The metrics, in report order.
pub const METRICS: [&str; 5] = [
    "kendall_tau",
    "spearman_rho",
    "pairwise_accuracy",
    "top1",
    "top3",
];

/// A metric per system: `system → metric → value`.
pub type Scores = BTreeMap<String, BTreeMap<String, f64>>;
/// Summaries over seeds: `system → metric → mean with interval`.
pub type Summary = BTreeMap<String, BTreeMap<String, MeanInterval>>;

/// One learning-curve point.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    /// Training comparisons per persona.
    pub size: usize,
    /// Whether this is every training comparison.
    pub all: bool,
    /// Mean over seeds of the persona-averaged metric, with its interval.
    pub systems: Summary,
}

/// A paired comparison of two systems at the last point.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    /// The first system.
    pub a: String,
    /// The second.
    pub b: String,
    /// The metric.
    pub metric: String,
    /// Mean over seeds of (a − b), with its interval.
    pub difference: MeanInterval,
}

/// What one repetition gave (kept so a reader can recompute every summary).
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    /// The repetition's seed.
    pub seed: u64,
    /// Per learning-curve point, per persona: the scores.
    pub curve: Vec<BTreeMap<String, Scores>>,
    /// Leave-one-out: per left-out model, the persona-averaged scores.
    pub leave_one_out: BTreeMap<String, Scores>,
    /// Per persona: the ground-truth strengths (logits, centred), by model.
    pub truth: BTreeMap<String, Vec<f64>>,
    /// Per persona: the held-out prompts (indices).
    pub heldout: BTreeMap<String, Vec<usize>>,
}

/// The evaluation's result.
#[derive(Debug, Clone, Serialize)]
pub struct PersonalEvaluation {
    /// Learning curve, the last point being all training comparisons.
    pub curve: Vec<CurvePoint>,
    /// At the last point, per persona.
    pub by_persona: BTreeMap<String, Summary>,
    /// Paired differences between the systems at the last point.
    pub paired: Vec<Paired>,
    /// Leave-one-model-out: the systems' pairwise accuracy on the pairs involving
    /// the left-out model, and Kendall τ over all models, averaged over the
    /// left-out models and personas, summarised over seeds.
    pub leave_one_out: Option<Summary>,
    /// Training comparisons per persona at the last point (the smallest persona's
    /// count over the repetitions).
    pub train_comparisons: usize,
    /// Ties among the comparisons (System B trains on decisive ones only).
    pub ties: usize,
    /// Persona-metric values that were undefined (a constant ranking) and left out
    /// of the averages.
    pub undefined: usize,
    /// Every repetition's raw scores.
    pub seeds: Vec<SeedResult>,
    /// The interval level.
    pub level: f64,
}

fn metric_map(pred: &[f64], truth: &[f64]) -> Result<BTreeMap<String, f64>> {
    let m = ranking_metrics(pred, truth)?;
    Ok(METRICS
        .iter()
        .zip([
            m.kendall_tau_b,
            m.spearman_rho,
            m.pairwise_accuracy,
            m.top1,
            m.top3,
        ])
        .map(|(k, v)| (k.to_string(), v))
        .collect())
}

/// The winner of an outcome for `a` (1 `a`, 0 `b`, otherwise a tie).
fn winner(outcome: f64) -> Winner {
    if outcome == 1.0 {
        Winner::A
    } else if outcome == 0.0 {
        Winner::B
    } else {
        Winner::Tie
    }
}

/// Bradley–Terry fit (prior precision `prior`, Elo scale, mean 1000) of
/// comparisons `(a, b, outcome for a)` among `models` (indices).
pub fn fit_outcomes(
    models: &[String],
    comparisons: impl IntoIterator<Item = (usize, usize, f64)>,
    prior: f64,
) -> Result<BtFit> {
    let mut cells: BTreeMap<(usize, usize), PairCell> = BTreeMap::new();
    for (a, b, outcome) in comparisons {
        let (i, k, out) = if a < b {
            (a, b, outcome)
        } else {
            (b, a, 1.0 - outcome)
        };
        let c = cells.entry((i, k)).or_insert(PairCell {
            i: i as u32,
            j: k as u32,
            wins_i: 0,
            wins_j: 0,
            ties: 0,
        });
        match winner(out) {
            Winner::A => c.wins_i += 1,
            Winner::B => c.wins_j += 1,
            Winner::Tie => c.ties += 1,
        }
    }
    let pairs = PairData::new(models.to_vec(), cells.into_values().collect())?;
    BtParams::default().prior_precision(prior).fit(&pairs)
}

/// Bradley–Terry strengths of `comparisons` (the ground truth of one persona).
fn truth(data: &PersonalData, comparisons: &[&Judged], prior: f64) -> Result<Vec<f64>> {
    let fit = fit_outcomes(
        &data.models,
        comparisons.iter().map(|j| (j.a, j.b, j.outcome)),
        prior,
    )?;
    Ok(fit.theta)
}

/// One repetition's split and training order.
struct Split {
    /// Per persona: held-out prompt indices.
    heldout: Vec<Vec<usize>>,
    /// Per persona: training comparisons in their training order.
    train: Vec<Vec<Judged>>,
    /// Per persona: held-out comparisons.
    test: Vec<Vec<Judged>>,
}

fn split(data: &PersonalData, heldout: usize, seed: u64) -> Result<Split> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nu = data.personas.len();
    let mut held = vec![Vec::new(); nu];
    for (u, h) in held.iter_mut().enumerate() {
        let mut prompts: Vec<usize> = (0..data.prompt_persona.len())
            .filter(|&p| data.prompt_persona[p] == u)
            .collect();
        if prompts.len() <= heldout {
            return Err(Error::InvalidInput(format!(
                "persona `{}` has {} prompts: need more than the {heldout} held out",
                data.personas[u],
                prompts.len()
            )));
        }
        prompts.shuffle(&mut rng);
        *h = prompts[..heldout].to_vec();
        h.sort_unstable();
    }
    let mut train = vec![Vec::new(); nu];
    let mut test = vec![Vec::new(); nu];
    for j in &data.judged {
        if held[j.persona].contains(&j.prompt) {
            test[j.persona].push(*j);
        } else {
            train[j.persona].push(*j);
        }
    }
    for t in &mut train {
        t.shuffle(&mut rng);
    }
    Ok(Split {
        heldout: held,
        train,
        test,
    })
}

/// The four systems' predicted scores for persona `u`, trained on `train[u][..n]`
/// (and, for C, every persona's prefix), one map per persona.
struct Predictor<'a> {
    data: &'a PersonalData,
    params: &'a PersonalParams,
    split: &'a Split,
    seed: u64,
}

impl Predictor<'_> {
    fn global(&self) -> Vec<f64> {
        self.data.global.clone()
    }

    fn elo(&self, train: &[Judged]) -> Result<Vec<f64>> {
        let global = Ratings::new(self.data.models.clone(), self.data.global.clone())?;
        let mut offsets = EloOffsets::new(global, self.params.elo)?;
        for j in train {
            offsets.update(
                "u",
                &self.data.models[j.a],
                &self.data.models[j.b],
                winner(j.outcome),
            )?;
        }
        Ok(offsets.user_ratings("u").values)
    }

    fn pairs(&self, train: &[Judged]) -> Vec<PreferencePair> {
        let d = self.data;
        train
            .iter()
            .filter(|j| j.outcome != 0.5)
            .map(|j| {
                let (w, l) = if j.outcome == 1.0 {
                    (j.a, j.b)
                } else {
                    (j.b, j.a)
                };
                PreferencePair::with_global(
                    d.row(j.prompt, w),
                    d.row(j.prompt, l),
                    d.global[w],
                    d.global[l],
                )
            })
            .collect()
    }

    fn head_scores(&self, head: &RewardHead, u: usize) -> Result<Vec<f64>> {
        let d = self.data;
        let m = d.models.len();
        let scores = head.score(&d.embeddings)?;
        let held = &self.split.heldout[u];
        Ok((0..m)
            .map(|k| {
                held.iter()
                    .map(|&p| scores[d.row(p, k)] as f64)
                    .sum::<f64>()
                    / held.len() as f64
            })
            .collect())
    }

    /// System B for persona `u` at each size (a curve, so `incremental` can continue).
    fn reward_curve(
        &self,
        u: usize,
        sizes: &[usize],
        exclude: Option<usize>,
    ) -> Result<Vec<Option<Vec<f64>>>> {
        let params = RewardHeadParams {
            seed: self.params.reward.seed.wrapping_add(self.seed),
            ..self.params.reward.clone()
        }
        .check()?;
        let train: Vec<Judged> = self.split.train[u]
            .iter()
            .filter(|j| exclude.is_none_or(|x| j.a != x && j.b != x))
            .copied()
            .collect();
        // Decisive pairs within each prefix of comparisons.
        let counts: Vec<usize> = sizes
            .iter()
            .map(|&n| self.pairs(&train[..n.min(train.len())]).len())
            .collect();
        let pairs = self.pairs(&train);
        let usable: Vec<usize> = counts.iter().copied().filter(|&c| c > 0).collect();
        let ascending = usable.windows(2).all(|w| w[0] < w[1]);
        let mut out = vec![None; sizes.len()];
        if usable.is_empty() {
            return Ok(out);
        }
        if ascending {
            let scores = params.learning_curve(
                &self.data.embeddings,
                &pairs,
                &usable,
                self.params.incremental,
                |_, head| self.head_scores(head, u),
            )?;
            let mut it = scores.into_iter();
            for (k, &c) in counts.iter().enumerate() {
                if c > 0 {
                    out[k] = it.next();
                }
            }
        } else {
            // Equal decisive counts at two sizes (ties only in between): fresh fits.
            for (k, &c) in counts.iter().enumerate() {
                if c > 0 {
                    let head = params.fit(&self.data.embeddings, &pairs[..c])?;
                    out[k] = Some(self.head_scores(&head, u)?);
                }
            }
        }
        Ok(out)
    }

    /// System C on every persona's first `n` comparisons not involving `exclude`.
    fn style_fit(&self, n: usize, exclude: Option<usize>) -> Result<(StyleBtFit, Standardizer)> {
        let d = self.data;
        let mut raw = Vec::new();
        for t in &self.split.train {
            let kept = t
                .iter()
                .filter(|j| exclude.is_none_or(|x| j.a != x && j.b != x))
                .take(n);
            for j in kept {
                raw.push((*j, d.style_x(j.prompt, j.a, j.b)));
            }
        }
        if raw.is_empty() {
            return Err(Error::InvalidInput(
                "no training comparisons for System C".into(),
            ));
        }
        let rows: Vec<Vec<f64>> = raw.iter().map(|(_, x)| x.clone()).collect();
        let standard = Standardizer::fit(&rows)?;
        let obs = raw
            .into_iter()
            .map(|(j, x)| StyleObservation {
                group: j.persona,
                a: j.a,
                b: j.b,
                outcome: j.outcome,
                features: standard.apply(&x),
            })
            .collect();
        let data = StyleData::new(
            d.models.clone(),
            d.personas.clone(),
            d.style_names.clone(),
            obs,
        )?;
        Ok((self.params.style.clone().check()?.fit(&data)?, standard))
    }

    /// System C's score of each model for persona `u`: its mean predicted win
    /// probability against every other model over the held-out prompts.
    fn style_scores(&self, fit: &StyleBtFit, standard: &Standardizer, u: usize) -> Vec<f64> {
        let d = self.data;
        let m = d.models.len();
        let held = &self.split.heldout[u];
        (0..m)
            .map(|a| {
                let mut s = 0.0;
                for &p in held {
                    for b in (0..m).filter(|&b| b != a) {
                        let x = standard.apply(&d.style_x(p, a, b));
                        s += fit.prob(u, a, b, &x);
                    }
                }
                s / (held.len() * (m - 1)) as f64
            })
            .collect()
    }
}

/// Pairwise accuracy of `pred` against `truth` on the pairs involving model `x`
/// (a tie in `pred` counts one half; pairs tied in `truth` are skipped).
fn accuracy_involving(pred: &[f64], truth: &[f64], x: usize) -> f64 {
    let mut hit = 0.0;
    let mut n = 0.0;
    for o in (0..pred.len()).filter(|&o| o != x) {
        let t = (truth[x] - truth[o]).signum();
        if truth[x] == truth[o] {
            continue;
        }
        n += 1.0;
        let p = pred[x] - pred[o];
        if p == 0.0 {
            hit += 0.5;
        } else if p.signum() == t {
            hit += 1.0;
        }
    }
    if n == 0.0 {
        f64::NAN
    } else {
        hit / n
    }
}

/// Mean over personas of each system's metrics (undefined values left out and counted).
fn average(per_persona: &BTreeMap<String, Scores>, undefined: &mut usize) -> Scores {
    let mut sums: BTreeMap<String, BTreeMap<String, (f64, usize)>> = BTreeMap::new();
    for scores in per_persona.values() {
        for (sys, metrics) in scores {
            for (k, v) in metrics {
                let e = sums
                    .entry(sys.clone())
                    .or_default()
                    .entry(k.clone())
                    .or_default();
                if v.is_finite() {
                    e.0 += v;
                    e.1 += 1;
                } else {
                    *undefined += 1;
                }
            }
        }
    }
    sums.into_iter()
        .map(|(s, m)| {
            let m = m
                .into_iter()
                .map(|(k, (sum, n))| (k, if n == 0 { f64::NAN } else { sum / n as f64 }))
                .collect();
            (s, m)
        })
        .collect()
}

fn summarise(per_seed: &[&Scores], level: f64) -> Summary {
    let mut out = Summary::new();
    if let Some(first) = per_seed.first() {
        for (sys, metrics) in *first {
            for k in metrics.keys() {
                let v: Vec<f64> = per_seed
                    .iter()
                    .filter_map(|s| s.get(sys).and_then(|m| m.get(k)).copied())
                    .filter(|v| v.is_finite())
                    .collect();
                if let Some(mi) = t_interval(&v, level) {
                    out.entry(sys.clone()).or_default().insert(k.clone(), mi);
                }
            }
        }
    }
    out
}

/// Runs the evaluation (see the [module docs](self)).
pub fn evaluate(data: &PersonalData, params: &PersonalParams) -> Result<PersonalEvaluation> {
    data.check()?;
    params.check()?;
    let nu = data.personas.len();
    let m = data.models.len();
    let splits = (0..params.seeds)
        .map(|r| split(data, params.heldout, params.seed.wrapping_add(r as u64)))
        .collect::<Result<Vec<_>>>()?;
    // The learning curve's sizes, common to every repetition; the last is every
    // training comparison (the smallest persona's count, so all personas train on
    // as many).
    let available = splits
        .iter()
        .flat_map(|s| s.train.iter().map(Vec::len))
        .min()
        .unwrap_or(0);
    if available == 0 {
        return Err(Error::InvalidInput(
            "a persona has no training comparisons".into(),
        ));
    }
    let mut sizes: Vec<usize> = params
        .sizes
        .iter()
        .copied()
        .filter(|&n| n < available)
        .collect();
    sizes.push(available);
    let mut seeds = Vec::new();
    let mut undefined = 0;
    for (r, split) in splits.iter().enumerate() {
        let seed = params.seed.wrapping_add(r as u64);
        let pred = Predictor {
            data,
            params,
            split,
            seed,
        };
        let truths = (0..nu)
            .map(|u| {
                let t: Vec<&Judged> = split.test[u].iter().collect();
                truth(data, &t, params.truth_prior)
            })
            .collect::<Result<Vec<_>>>()?;
        let b_curves = (0..nu)
            .map(|u| pred.reward_curve(u, &sizes, None))
            .collect::<Result<Vec<_>>>()?;
        let mut curve = Vec::new();
        for (k, &n) in sizes.iter().enumerate() {
            let (fit, standard) = pred.style_fit(n, None)?;
            let mut per_persona = BTreeMap::new();
            for u in 0..nu {
                let mut scores = Scores::new();
                let t = &truths[u];
                scores.insert("global".into(), metric_map(&pred.global(), t)?);
                scores.insert("A".into(), metric_map(&pred.elo(&split.train[u][..n])?, t)?);
                if let Some(b) = &b_curves[u][k] {
                    scores.insert("B".into(), metric_map(b, t)?);
                }
                scores.insert(
                    "C".into(),
                    metric_map(&pred.style_scores(&fit, &standard, u), t)?,
                );
                per_persona.insert(data.personas[u].clone(), scores);
            }
            curve.push(per_persona);
        }
        let mut loo = BTreeMap::new();
        if params.leave_one_out {
            let all = *sizes.last().expect("non-empty");
            for x in 0..m {
                let (fit, standard) = pred.style_fit(all, Some(x))?;
                let mut per_persona = BTreeMap::new();
                for (u, t) in truths.iter().enumerate() {
                    let without: Vec<Judged> = split.train[u]
                        .iter()
                        .filter(|j| j.a != x && j.b != x)
                        .take(all)
                        .copied()
                        .collect();
                    let mut preds = vec![
                        ("global", Some(pred.global())),
                        ("A", Some(pred.elo(&without)?)),
                        ("B", pred.reward_curve(u, &[all], Some(x))?.remove(0)),
                        ("C", Some(pred.style_scores(&fit, &standard, u))),
                    ];
                    let mut scores = Scores::new();
                    for (name, p) in preds.drain(..) {
                        if let Some(p) = p {
                            let tau = ranking_metrics(&p, t)?.kendall_tau_b;
                            scores.insert(
                                name.to_string(),
                                BTreeMap::from([
                                    (
                                        "pairwise_accuracy".to_string(),
                                        accuracy_involving(&p, t, x),
                                    ),
                                    ("kendall_tau".to_string(), tau),
                                ]),
                            );
                        }
                    }
                    per_persona.insert(data.personas[u].clone(), scores);
                }
                loo.insert(
                    data.models[x].clone(),
                    average(&per_persona, &mut undefined),
                );
            }
        }
        seeds.push(SeedResult {
            seed,
            curve,
            leave_one_out: loo,
            truth: data.personas.iter().cloned().zip(truths).collect(),
            heldout: data
                .personas
                .iter()
                .cloned()
                .zip(split.heldout.clone())
                .collect(),
        });
    }
    let averaged: Vec<Vec<Scores>> = seeds
        .iter()
        .map(|s| {
            s.curve
                .iter()
                .map(|pp| average(pp, &mut undefined))
                .collect()
        })
        .collect();
    let curve = sizes
        .iter()
        .enumerate()
        .map(|(k, &size)| CurvePoint {
            size,
            all: k + 1 == sizes.len(),
            systems: summarise(
                &averaged.iter().map(|a| &a[k]).collect::<Vec<_>>(),
                params.level,
            ),
        })
        .collect();
    let mut by_persona = BTreeMap::new();
    for u in &data.personas {
        let per_seed: Vec<&Scores> = seeds
            .iter()
            .filter_map(|s| s.curve.last().and_then(|pp| pp.get(u)))
            .collect();
        by_persona.insert(u.clone(), summarise(&per_seed, params.level));
    }
    let mut paired = Vec::new();
    for (i, a) in SYSTEMS.iter().enumerate() {
        for b in &SYSTEMS[..i] {
            for metric in ["kendall_tau", "pairwise_accuracy"] {
                let d: Vec<f64> = averaged
                    .iter()
                    .filter_map(|s| {
                        let last = s.last()?;
                        Some(last.get(*a)?.get(metric)? - last.get(*b)?.get(metric)?)
                    })
                    .filter(|v| v.is_finite())
                    .collect();
                if let Some(difference) = t_interval(&d, params.level) {
                    paired.push(Paired {
                        a: a.to_string(),
                        b: b.to_string(),
                        metric: metric.into(),
                        difference,
                    });
                }
            }
        }
    }
    let leave_one_out = params.leave_one_out.then(|| {
        let per_seed: Vec<Scores> = seeds
            .iter()
            .map(|s| {
                // Averaged over the left-out models, as over personas above.
                let mut undefined_here = 0;
                average(&s.leave_one_out, &mut undefined_here)
            })
            .collect();
        let refs: Vec<&Scores> = per_seed.iter().collect();
        summarise(&refs, params.level)
    });
    let ties = data.judged.iter().filter(|j| j.outcome == 0.5).count();
    Ok(PersonalEvaluation {
        curve,
        by_persona,
        paired,
        leave_one_out,
        train_comparisons: available,
        ties,
        undefined,
        seeds,
        level: params.level,
    })
}

/// A verdict on the last learning-curve point that respects the intervals: the
/// system with the best mean `metric` is named the winner only when its paired
/// difference with every other system excludes 0.
pub fn verdict(eval: &PersonalEvaluation, metric: &str) -> String {
    let Some(last) = eval.curve.last() else {
        return "no learning-curve point".into();
    };
    let mut ranked: Vec<(&String, f64)> = last
        .systems
        .iter()
        .filter_map(|(s, m)| m.get(metric).map(|v| (s, v.mean)))
        .collect();
    ranked.sort_by(|x, y| y.1.total_cmp(&x.1));
    let Some((best, mean)) = ranked.first().copied() else {
        return format!("no system has a defined {metric}");
    };
    let unresolved: Vec<&str> = ranked[1..]
        .iter()
        .filter(|(other, _)| {
            !eval.paired.iter().any(|p| {
                p.metric == metric
                    && ((&p.a == best && &p.b == *other && p.difference.ci[0] > 0.0)
                        || (&p.b == best && &p.a == *other && p.difference.ci[1] < 0.0))
            })
        })
        .map(|(s, _)| s.as_str())
        .collect();
    if unresolved.is_empty() {
        format!(
            "{best} ranks best on {metric} ({mean:.3}); its paired difference with every other \
             system excludes 0 at level {}",
            eval.level
        )
    } else {
        format!(
            "no winner on {metric}: {best} has the highest mean ({mean:.3}), but its paired \
             difference with {} includes 0 at level {}",
            unresolved.join(", "),
            eval.level
        )
    }
}

/// System C fitted on every comparison (all prompts, all personas): the style
/// coefficients and persona offsets the report shows, with their intervals. The
/// features are standardised over these comparisons (returned too).
pub fn style_fit_all(
    data: &PersonalData,
    params: &StyleBtParams,
) -> Result<(StyleBtFit, Standardizer)> {
    data.check()?;
    let rows: Vec<Vec<f64>> = data
        .judged
        .iter()
        .map(|j| data.style_x(j.prompt, j.a, j.b))
        .collect();
    if rows.is_empty() {
        return Err(Error::InvalidInput("no comparisons".into()));
    }
    let standard = Standardizer::fit(&rows)?;
    let obs = data
        .judged
        .iter()
        .zip(&rows)
        .map(|(j, x)| StyleObservation {
            group: j.persona,
            a: j.a,
            b: j.b,
            outcome: j.outcome,
            features: standard.apply(x),
        })
        .collect();
    let style = StyleData::new(
        data.models.clone(),
        data.personas.clone(),
        data.style_names.clone(),
        obs,
    )?;
    Ok((params.clone().check()?.fit(&style)?, standard))
}
