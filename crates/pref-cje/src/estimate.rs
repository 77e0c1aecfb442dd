//! The CJE estimators on logged samples: parameters, the fitting pipeline and
//! its result.
//!
//! Pipeline (details in the crate README):
//! 1. prompts are dealt to `folds` folds (by a seeded hash of the prompt id);
//! 2. rewards: with oracle labels, judge → oracle isotonic regression fitted on
//!    the other folds' labelled rows gives every row its cross-fitted reward;
//!    without, the judge score is the reward;
//! 3. outcome model (DR family): isotonic regression of the reward on the judge
//!    score, fitted on the other folds;
//! 4. per target policy: stable weights, diagnostics and gate, then each
//!    estimator with its influence function;
//! 5. intervals: cluster-robust influence-function variance plus a jackknife over
//!    the oracle folds (calibration uncertainty), or a cluster bootstrap that
//!    refits everything.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use nalgebra::{DMatrix, DVector};
use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::data::CjeData;
use crate::diagnostics::{Diagnostics, Gate, GateStatus, GateThresholds, Weights};
use crate::error::{Error, Result};
use crate::intervals::{cluster_variance, jackknife_variance, Estimate};
use crate::isotonic::{Direction, IsotonicFit};

/// The estimators of [`CjeParams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EstimatorKind {
    /// `mean(w r)` with the raw weights `w = exp(target − base)`.
    Ips,
    /// Self-normalised (Hajek) IPS: `Σ w r / Σ w`.
    Snips,
    /// `mean(min(w, clip) r)`.
    ClippedIps,
    /// Self-normalised IPS with weights projected to be mean-one and monotone in the judge score.
    CalibratedIps,
    /// Doubly robust with the cross-fitted outcome model and fresh draws.
    Dr,
    /// DR after a logistic targeting step of the outcome model.
    Tmle,
    /// Convex combination of DR variants minimising the estimated variance.
    StackedDr,
    /// Calibrated direct estimate: the mean over logged prompts of the
    /// calibrated reward of the target policy's fresh draws (no importance
    /// weights; trusts that the judge → oracle map learnt on logged rows holds
    /// for the target's responses). See docs/arena-cje.md, "Which estimate to trust".
    Direct,
}

impl EstimatorKind {
    /// Every estimator, in output order.
    pub const ALL: [EstimatorKind; 8] = [
        Self::Ips,
        Self::Snips,
        Self::ClippedIps,
        Self::CalibratedIps,
        Self::Dr,
        Self::Tmle,
        Self::StackedDr,
        Self::Direct,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ips => "ips",
            Self::Snips => "snips",
            Self::ClippedIps => "clipped-ips",
            Self::CalibratedIps => "calibrated-ips",
            Self::Dr => "dr",
            Self::Tmle => "tmle",
            Self::StackedDr => "stacked-dr",
            Self::Direct => "direct",
        }
    }

    /// Whether the estimator needs fresh draws of the target policy.
    pub fn needs_fresh_draws(self) -> bool {
        matches!(self, Self::Dr | Self::Tmle | Self::StackedDr | Self::Direct)
    }
}

impl fmt::Display for EstimatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EstimatorKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|e| e.name()).collect();
                format!(
                    "unknown estimator `{s}`; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// How calibrated IPS projects the weights onto functions of the judge score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightCalibration {
    /// Non-decreasing in the judge score.
    Increasing,
    /// Non-increasing in the judge score.
    Decreasing,
    /// Whichever direction has the smaller out-of-fold variance.
    Choose,
    /// The convex combination of both directions with the smallest out-of-fold variance.
    Stack,
}

/// Hyperparameters of the CJE estimators (validate with [`CjeParams::check`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CjeParams {
    /// Estimators to compute; empty means all that the data allow (the DR family
    /// only for policies with fresh draws).
    pub estimators: Vec<EstimatorKind>,
    /// Number of cross-fitting folds (prompts are dealt to folds).
    pub folds: usize,
    /// Seed of the fold assignment and of the bootstrap.
    pub seed: u64,
    /// Clipping threshold of clipped IPS, on the raw weight scale.
    pub clip: f64,
    /// Confidence level of the intervals.
    pub level: f64,
    /// Cluster-bootstrap replicates for percentile intervals; 0 = influence-function intervals.
    pub bootstrap: usize,
    /// Weight projection of calibrated IPS.
    pub weight_calibration: WeightCalibration,
    /// Groups of oracle-labelled prompts for the calibration jackknife (capped at
    /// the number of labelled prompts; < 2 turns the oracle term off).
    pub oracle_jackknife_groups: usize,
    /// Gate thresholds.
    pub gate: GateThresholds,
}

impl Default for CjeParams {
    fn default() -> Self {
        Self {
            estimators: Vec::new(),
            folds: 5,
            seed: 42,
            clip: 100.0,
            level: 0.95,
            bootstrap: 0,
            weight_calibration: WeightCalibration::Stack,
            oracle_jackknife_groups: 20,
            gate: GateThresholds::default(),
        }
    }
}

/// Validated [`CjeParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCjeParams(CjeParams);

impl CjeParams {
    /// Checks every field's range.
    pub fn check(self) -> Result<ValidCjeParams> {
        if self.folds < 2 || self.folds > 100 {
            return Err(Error::param(
                "folds",
                format!("must be in 2..=100, got {}", self.folds),
            ));
        }
        pref_stats::positive("clip", self.clip)?;
        pref_stats::open_unit_interval("level", self.level)?;
        if self.bootstrap == 1 {
            return Err(Error::param("bootstrap", "must be 0 (off) or ≥ 2"));
        }
        let t = &self.gate;
        for (name, v) in [
            ("gate.ess_warn", t.ess_warn),
            ("gate.ess_refuse", t.ess_refuse),
            ("gate.max_share_warn", t.max_share_warn),
            ("gate.zero_logprob_warn", t.zero_logprob_warn),
            ("gate.near_zero_warn", t.near_zero_warn),
        ] {
            pref_stats::unit_interval(name, v)?;
        }
        if !(t.hill_warn >= 0.0 && t.hill_refuse >= 0.0) {
            return Err(Error::param(
                "gate.hill_warn",
                "Hill thresholds must be ≥ 0",
            ));
        }
        Ok(ValidCjeParams(self))
    }
}

/// What calibrated IPS did to the weights of one policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightCalibrationSummary {
    /// The projection used.
    pub mode: WeightCalibration,
    /// Share of the increasing fit in the final weights (1 = increasing only).
    pub increasing_share: f64,
    /// ESS fraction of the raw mean-one weights.
    pub ess_fraction_raw: f64,
    /// ESS fraction of the calibrated weights.
    pub ess_fraction_calibrated: f64,
    /// True when the calibrated weights had a smaller ESS and the raw weights were kept.
    pub kept_raw: bool,
}

/// Results for one target policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyResult {
    /// Estimates by estimator name.
    pub estimates: BTreeMap<String, Estimate>,
    /// Weight diagnostics.
    pub diagnostics: Diagnostics,
    /// Reliability gate.
    pub gate: Gate,
    /// Weight calibration of calibrated IPS, when computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_calibration: Option<WeightCalibrationSummary>,
    /// Weights of the stacked DR's components (`dr`, `tmle`, `dr-calibrated-weights`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stacking_weights: Option<BTreeMap<String, f64>>,
}

/// How rewards were obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationSummary {
    /// Rows with an oracle label.
    pub oracle_rows: usize,
    /// Cross-fitting folds.
    pub folds: usize,
    /// How rewards are made from judge scores.
    pub mode: CalibrationMode,
    /// The same in words.
    pub note: String,
    /// How the intervals are computed.
    pub intervals: IntervalMethod,
    /// Confidence level.
    pub level: f64,
    /// Logged rows and distinct prompts.
    pub rows: usize,
    /// Distinct prompts (the clusters of the intervals).
    pub prompts: usize,
}

/// How rewards are made from judge scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CalibrationMode {
    /// Judge → oracle by isotonic regression fitted on the other folds.
    IsotonicCrossfit,
    /// No oracle labels: the judge score is the reward.
    JudgeAsReward,
}

/// How intervals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IntervalMethod {
    /// Normal intervals from cluster-robust influence-function variances.
    Influence,
    /// Percentile intervals of a cluster bootstrap.
    Bootstrap,
}

impl std::fmt::Display for CalibrationMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::IsotonicCrossfit => "isotonic-crossfit",
            Self::JudgeAsReward => "judge-as-reward",
        })
    }
}

impl std::fmt::Display for IntervalMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Influence => "influence",
            Self::Bootstrap => "bootstrap",
        })
    }
}

/// The result of [`ValidCjeParams::fit`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CjeResult {
    /// Per target policy.
    pub policies: BTreeMap<String, PolicyResult>,
    /// Reward calibration.
    pub calibration: CalibrationSummary,
}

// ------------------------------------------------------------------ pipeline

/// Fold of each prompt: prompts sorted by a seeded hash of their id, dealt round-robin.
/// Depends only on the ids and the seed (not on row order), and fold sizes differ by ≤ 1.
fn prompt_folds(prompts: &[String], k: usize, seed: u64) -> Vec<usize> {
    fn splitmix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let hash = |s: &str| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in s.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        splitmix(h ^ splitmix(seed))
    };
    let mut idx: Vec<usize> = (0..prompts.len()).collect();
    let keys: Vec<u64> = prompts.iter().map(|p| hash(p)).collect();
    idx.sort_by(|&a, &b| {
        keys[a]
            .cmp(&keys[b])
            .then_with(|| prompts[a].cmp(&prompts[b]))
    });
    let mut fold = vec![0; prompts.len()];
    for (rank, &c) in idx.iter().enumerate() {
        fold[c] = rank % k;
    }
    fold
}

/// Everything that does not depend on the target policy.
struct Nuisance {
    k: usize,
    fold: Vec<usize>,
    cluster_fold: Vec<usize>,
    order: Vec<usize>,
    reward: Vec<f64>,
    /// Leave-fold-out calibrators (judge → oracle), when oracle labels exist.
    calibrators: Option<Vec<IsotonicFit>>,
    /// Leave-fold-out outcome models (reward ~ judge), when a DR estimator is asked for.
    outcome: Option<Vec<IsotonicFit>>,
    /// Cross-fitted outcome prediction for each logged row.
    ghat: Vec<f64>,
    /// Calibrators fitted without one group of oracle-labelled prompts (jackknife).
    jack_cal: Vec<IsotonicFit>,
    /// Per jackknife calibrator: the reward of every row under it.
    jack_reward: Vec<Vec<f64>>,
}

fn leave_out_fits(
    order: &[usize],
    fold: &[usize],
    k: usize,
    x: &[f64],
    y: &[f64],
    keep: impl Fn(usize) -> bool,
    dir: Direction,
) -> Vec<Option<IsotonicFit>> {
    (0..k)
        .map(|f| {
            let rows: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| fold[i] != f && keep(i))
                .collect();
            IsotonicFit::fit_sorted(&rows, x, y, None, dir)
        })
        .collect()
}

fn prepare(
    data: &CjeData,
    k: usize,
    seed: u64,
    need_outcome: bool,
    jackknife_groups: usize,
) -> Result<Nuisance> {
    let n = data.len();
    if data.n_prompts() < k {
        return Err(Error::input(format!(
            "{} distinct prompts cannot fill {k} folds; lower --folds",
            data.n_prompts()
        )));
    }
    let cluster_fold = prompt_folds(&data.prompts, k, seed);
    let fold: Vec<usize> = data
        .cluster
        .iter()
        .map(|&c| cluster_fold[c as usize])
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| data.judge[a].total_cmp(&data.judge[b]));
    let has_oracle = data.oracle.iter().any(|o| !o.is_nan());
    let (reward, calibrators) = if has_oracle {
        let fits = leave_out_fits(
            &order,
            &fold,
            k,
            &data.judge,
            &data.oracle,
            |i| !data.oracle[i].is_nan(),
            Direction::Increasing,
        );
        let mut cal = Vec::with_capacity(k);
        for (f, fit) in fits.into_iter().enumerate() {
            cal.push(fit.ok_or_else(|| {
                Error::input(format!(
                    "all {} oracle labels fall in one cross-fitting fold ({f}): the calibrator for that fold has no data; label rows of more prompts or lower --folds",
                    data.oracle_rows()
                ))
            })?);
        }
        let reward: Vec<f64> = (0..n)
            .map(|i| cal[fold[i]].predict(data.judge[i]))
            .collect();
        (reward, Some(cal))
    } else {
        (data.judge.clone(), None)
    };
    let (outcome, ghat) = if need_outcome {
        let fits = leave_out_fits(
            &order,
            &fold,
            k,
            &data.judge,
            &reward,
            |_| true,
            Direction::Increasing,
        );
        let fits: Vec<IsotonicFit> = fits
            .into_iter()
            .map(|f| {
                f.expect("every fold's complement has rows: each fold holds ≥ 1 prompt and k ≥ 2")
            })
            .collect();
        let ghat = (0..n)
            .map(|i| fits[fold[i]].predict(data.judge[i]))
            .collect();
        (Some(fits), ghat)
    } else {
        (None, Vec::new())
    };
    // Oracle uncertainty: delete-a-group jackknife of the calibrator over groups of
    // oracle-labelled prompts (dealt by a hash like the folds, but with more groups
    // than folds so that the variance estimate has more degrees of freedom).
    let mut jack_cal = Vec::new();
    if calibrators.is_some() && jackknife_groups >= 2 {
        let labelled: Vec<usize> = {
            let mut has = vec![false; data.prompts.len()];
            for (i, o) in data.oracle.iter().enumerate() {
                if !o.is_nan() {
                    has[data.cluster[i] as usize] = true;
                }
            }
            (0..data.prompts.len()).filter(|&c| has[c]).collect()
        };
        let j = jackknife_groups.min(labelled.len());
        if j >= 2 {
            let names: Vec<String> = labelled.iter().map(|&c| data.prompts[c].clone()).collect();
            let g = prompt_folds(&names, j, seed ^ 0x6a09_e667_f3bc_c908);
            let mut group = vec![usize::MAX; data.prompts.len()];
            for (t, &c) in labelled.iter().enumerate() {
                group[c] = g[t];
            }
            let row_group: Vec<usize> = data.cluster.iter().map(|&c| group[c as usize]).collect();
            for f in leave_out_fits(
                &order,
                &row_group,
                j,
                &data.judge,
                &data.oracle,
                |i| !data.oracle[i].is_nan(),
                Direction::Increasing,
            ) {
                jack_cal.push(f.expect("j ≥ 2 groups, each non-empty"));
            }
        }
    }
    let jack_reward = jack_cal
        .par_iter()
        .map(|f| {
            let mut out = vec![0.0; n];
            f.predict_sorted_into(&order, &data.judge, &mut out);
            out
        })
        .collect();
    Ok(Nuisance {
        k,
        fold,
        cluster_fold,
        order,
        reward,
        calibrators,
        outcome,
        ghat,
        jack_cal,
        jack_reward,
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sample_var(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0).max(1.0)
}

fn ess(w: &[f64]) -> f64 {
    crate::diagnostics::ess_fraction(w)
}

/// Projects mean-one weights onto monotone functions of the judge score.
fn calibrate_weights(
    wn: &[f64],
    data: &CjeData,
    nui: &Nuisance,
    mode: WeightCalibration,
) -> (Vec<f64>, WeightCalibrationSummary) {
    let s = &data.judge;
    let n = wn.len();
    let full = |dir| {
        let f = IsotonicFit::fit_sorted(&nui.order, s, wn, None, dir).expect("n ≥ 1");
        let mut out = vec![0.0; n];
        f.predict_sorted_into(&nui.order, s, &mut out);
        out
    };
    let inc = full(Direction::Increasing);
    let dec = full(Direction::Decreasing);
    // Out-of-fold projections, to compare the directions without overfitting.
    let oof = |dir| {
        let fits = leave_out_fits(&nui.order, &nui.fold, nui.k, s, wn, |_| true, dir);
        let mut out = vec![0.0; n];
        for (f, fit) in fits.iter().enumerate() {
            let rows: Vec<usize> = nui
                .order
                .iter()
                .copied()
                .filter(|&i| nui.fold[i] == f)
                .collect();
            fit.as_ref()
                .expect("complement non-empty")
                .predict_sorted_into(&rows, s, &mut out);
        }
        out
    };
    let alpha = match mode {
        WeightCalibration::Increasing => 1.0,
        WeightCalibration::Decreasing => 0.0,
        WeightCalibration::Choose | WeightCalibration::Stack => {
            // Out-of-fold residual variance of the weights, E[(w − m̂(s))²]: the
            // direction (or mix) that predicts held-out weights best. (The variance
            // of m̂(s)·r alone would favour a flat, wrong-direction fit: low variance,
            // large bias.)
            let a = oof(Direction::Increasing);
            let b = oof(Direction::Decreasing);
            let mse = |m: &[f64]| m.iter().zip(wn).map(|(p, w)| (w - p).powi(2)).sum::<f64>();
            if mode == WeightCalibration::Choose {
                if mse(&a) <= mse(&b) {
                    1.0
                } else {
                    0.0
                }
            } else {
                // Least squares in α of w ≈ α a + (1 − α) b, clipped to [0, 1].
                let (mut num, mut den) = (0.0, 0.0);
                for i in 0..n {
                    let d = a[i] - b[i];
                    num += (wn[i] - b[i]) * d;
                    den += d * d;
                }
                if den > 1e-300 {
                    (num / den).clamp(0.0, 1.0)
                } else {
                    1.0
                }
            }
        }
    };
    let mut w: Vec<f64> = inc
        .iter()
        .zip(&dec)
        .map(|(a, b)| alpha * a + (1.0 - alpha) * b)
        .collect();
    let m = mean(&w);
    w.iter_mut().for_each(|v| *v /= m);
    let (e_raw, e_cal) = (ess(wn), ess(&w));
    // Variance safety: a projection onto a convex cone that contains the constants
    // cannot lower the ESS, but guard against rounding and degenerate input.
    let kept_raw = e_cal < e_raw;
    if kept_raw {
        w = wn.to_vec();
    }
    let summary = WeightCalibrationSummary {
        mode,
        increasing_share: alpha,
        ess_fraction_raw: e_raw,
        ess_fraction_calibrated: ess(&w),
        kept_raw,
    };
    (w, summary)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// Solves `Σ w_i (r_i − σ(logit ĝ_i + ε)) = 0` for ε (the intercept fluctuation of
/// weighted TMLE). The left side is decreasing in ε; safeguarded Newton on a
/// bracket (a 1-D monotone root: a general optimiser would add nothing).
fn tmle_epsilon(w: &[f64], r: &[f64], g: &[f64]) -> f64 {
    let off: Vec<f64> = g.iter().map(|&p| logit(p)).collect();
    let score = |e: f64| -> (f64, f64) {
        let mut s = 0.0;
        let mut d = 0.0;
        for i in 0..w.len() {
            let p = sigmoid(off[i] + e);
            s += w[i] * (r[i] - p);
            d -= w[i] * p * (1.0 - p);
        }
        (s, d)
    };
    let (mut lo, mut hi) = (-30.0, 30.0);
    if score(lo).0 <= 0.0 {
        return lo;
    }
    if score(hi).0 >= 0.0 {
        return hi;
    }
    let mut e = 0.0;
    for _ in 0..100 {
        let (s, d) = score(e);
        if s.abs() < 1e-12 * w.len() as f64 {
            break;
        }
        if s > 0.0 {
            lo = e;
        } else {
            hi = e;
        }
        let newton = if d < 0.0 { e - s / d } else { f64::NAN };
        e = if newton.is_finite() && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if hi - lo < 1e-14 {
            break;
        }
    }
    e
}

/// Minimises `αᵀ Σ α` over the simplex by enumerating supports (m is small).
fn simplex_min_variance(sigma: &DMatrix<f64>) -> Vec<f64> {
    let m = sigma.nrows();
    let mut best: Option<(f64, Vec<f64>)> = None;
    for mask in 1u32..(1 << m) {
        let idx: Vec<usize> = (0..m).filter(|&j| mask & (1 << j) != 0).collect();
        let sub = DMatrix::from_fn(idx.len(), idx.len(), |a, b| sigma[(idx[a], idx[b])]);
        let Some(a) = sub.lu().solve(&DVector::from_element(idx.len(), 1.0)) else {
            continue;
        };
        let tot: f64 = a.iter().sum();
        if !(tot.is_finite() && tot.abs() > 1e-300) || a.iter().any(|&v| v / tot < -1e-12) {
            continue;
        }
        let mut alpha = vec![0.0; m];
        for (t, &j) in idx.iter().enumerate() {
            alpha[j] = (a[t] / tot).max(0.0);
        }
        let al = DVector::from_vec(alpha.clone());
        let v = (al.transpose() * sigma * &al)[(0, 0)];
        if best.as_ref().is_none_or(|(bv, _)| v < *bv - 1e-15) {
            best = Some((v, alpha));
        }
    }
    best.map(|b| b.1).unwrap_or_else(|| {
        let mut a = vec![0.0; m];
        a[0] = 1.0;
        a
    })
}

/// One estimator's point value, influence values and jackknife values.
struct Computed {
    kind: EstimatorKind,
    psi: f64,
    phi: Vec<f64>,
    jack: Vec<f64>,
}

struct PolicyPoint {
    diagnostics: Diagnostics,
    computed: Vec<Computed>,
    weight_calibration: Option<WeightCalibrationSummary>,
    stacking: Option<BTreeMap<String, f64>>,
}

fn policy_point(
    data: &CjeData,
    nui: &Nuisance,
    p: usize,
    kinds: &[EstimatorKind],
    params: &CjeParams,
) -> Result<PolicyPoint> {
    let lr = &data.log_ratio[p];
    let w = Weights::from_log_ratios(lr);
    let diagnostics = Diagnostics::compute(lr, &w, data.zero_logprob[p]);
    let r = &nui.reward;
    let wn = &w.normalised;
    let n = r.len();
    let jk = nui.jack_reward.len();
    let mut out = Vec::new();
    let need_cal = kinds
        .iter()
        .any(|k| matches!(k, EstimatorKind::CalibratedIps | EstimatorKind::StackedDr));
    let (wcal, wsum) = if need_cal {
        let (a, b) = calibrate_weights(wn, data, nui, params.weight_calibration);
        (a, Some(b))
    } else {
        (Vec::new(), None)
    };
    let mut stacking = None;
    // Jackknife values of the weighting estimators, `mean(weights · r_j)` for every
    // jackknife reward vector r_j, in one pass over each r_j for all weight vectors.
    let clipped: Vec<f64> = if kinds.contains(&EstimatorKind::ClippedIps) {
        w.raw.iter().map(|&v| v.min(params.clip)).collect()
    } else {
        Vec::new()
    };
    let jack_sets: Vec<(EstimatorKind, &[f64])> = [
        (EstimatorKind::Ips, w.raw.as_slice()),
        (EstimatorKind::Snips, wn.as_slice()),
        (EstimatorKind::ClippedIps, clipped.as_slice()),
        (EstimatorKind::CalibratedIps, wcal.as_slice()),
    ]
    .into_iter()
    .filter(|(k, _)| kinds.contains(k))
    .collect();
    let mut jack_of: BTreeMap<EstimatorKind, Vec<f64>> = BTreeMap::new();
    for rk in &nui.jack_reward {
        let mut acc = [0.0f64; 4];
        for i in 0..n {
            for (t, (_, wv)) in jack_sets.iter().enumerate() {
                acc[t] += wv[i] * rk[i];
            }
        }
        for (t, (k, _)) in jack_sets.iter().enumerate() {
            jack_of.entry(*k).or_default().push(acc[t] / n as f64);
        }
    }
    let mut jack_mean = |k: EstimatorKind| jack_of.remove(&k).unwrap_or_default();
    // Direct (fresh-draw) term of the DR family for each prompt.
    let need_dr = kinds.iter().any(|k| k.needs_fresh_draws());
    // Fresh draws, sorted once by judge score: every outcome model and jackknife
    // calibrator is evaluated on them in one merge pass.
    let fresh = data.fresh[p].as_ref().filter(|_| need_dr);
    let (fresh_order, fresh_cluster) = match fresh {
        Some(fr) => {
            let mut o: Vec<usize> = (0..fr.judge.len()).collect();
            o.sort_by(|&a, &b| fr.judge[a].total_cmp(&fr.judge[b]));
            let mut cl = vec![0usize; fr.judge.len()];
            for c in 0..data.prompts.len() {
                cl[fr.offsets[c]..fr.offsets[c + 1]].fill(c);
            }
            (o, cl)
        }
        None => (Vec::new(), Vec::new()),
    };
    // Mean over each prompt's draws of `vals`, then averaged over logged rows.
    let per_prompt = |vals: &[f64]| -> Vec<f64> {
        let fr = fresh.expect("fresh draws checked");
        (0..data.prompts.len())
            .map(|c| {
                let d = &vals[fr.offsets[c]..fr.offsets[c + 1]];
                d.iter().sum::<f64>() / d.len() as f64
            })
            .collect()
    };
    // Outcome-model prediction for each fresh draw (the model of its prompt's fold).
    let fresh_g: Vec<f64> = match (fresh, &nui.outcome) {
        (Some(fr), Some(outcome)) => {
            let mut out = vec![0.0; fr.judge.len()];
            for (f, fit) in outcome.iter().enumerate() {
                let rows: Vec<usize> = fresh_order
                    .iter()
                    .copied()
                    .filter(|&d| nui.cluster_fold[fresh_cluster[d]] == f)
                    .collect();
                fit.predict_sorted_into(&rows, &fr.judge, &mut out);
            }
            out
        }
        _ => Vec::new(),
    };
    // Jackknife of the DR family: the direct term under each jackknife calibrator
    // (outcome = calibrator, since the isotonic fit of an already monotone reward
    // is that reward); computed once, shared by dr, tmle and stacked-dr.
    let dr_jack: Vec<f64> = match fresh {
        Some(fr) if jk > 0 => nui
            .jack_cal
            .iter()
            .map(|f| {
                let mut vals = vec![0.0; fr.judge.len()];
                f.predict_sorted_into(&fresh_order, &fr.judge, &mut vals);
                let per = per_prompt(&vals);
                data.cluster.iter().map(|&c| per[c as usize]).sum::<f64>() / n as f64
            })
            .collect(),
        _ => Vec::new(),
    };
    let dr_with = |weights: &[f64], eps: f64| -> (f64, Vec<f64>) {
        let fl = |g: f64| {
            if eps == 0.0 {
                g
            } else {
                sigmoid(logit(g) + eps)
            }
        };
        let vals: Vec<f64> = fresh_g.iter().map(|&g| fl(g)).collect();
        let per = per_prompt(&vals);
        let terms: Vec<f64> = (0..n)
            .map(|i| per[data.cluster[i] as usize] + weights[i] * (r[i] - fl(nui.ghat[i])))
            .collect();
        let psi = mean(&terms);
        (psi, terms.iter().map(|t| t - psi).collect())
    };
    let mut dr_family: BTreeMap<&str, (f64, Vec<f64>)> = BTreeMap::new();
    if need_dr {
        dr_family.insert("dr", dr_with(wn, 0.0));
        let eps = tmle_epsilon(wn, r, &nui.ghat);
        dr_family.insert("tmle", dr_with(wn, eps));
        if kinds.contains(&EstimatorKind::StackedDr) {
            dr_family.insert("dr-calibrated-weights", dr_with(&wcal, 0.0));
        }
    }
    for &kind in kinds {
        let c = match kind {
            EstimatorKind::Ips => {
                let psi = w.raw.iter().zip(r).map(|(a, b)| a * b).sum::<f64>() / n as f64;
                let phi = w.raw.iter().zip(r).map(|(a, b)| a * b - psi).collect();
                Computed {
                    kind,
                    psi,
                    phi,
                    jack: jack_mean(kind),
                }
            }
            EstimatorKind::Snips => {
                let psi = wn.iter().zip(r).map(|(a, b)| a * b).sum::<f64>() / n as f64;
                let phi = wn.iter().zip(r).map(|(a, b)| a * (b - psi)).collect();
                Computed {
                    kind,
                    psi,
                    phi,
                    jack: jack_mean(kind),
                }
            }
            EstimatorKind::ClippedIps => {
                let wc = &clipped;
                let psi = wc.iter().zip(r).map(|(a, b)| a * b).sum::<f64>() / n as f64;
                let phi = wc.iter().zip(r).map(|(a, b)| a * b - psi).collect();
                Computed {
                    kind,
                    psi,
                    phi,
                    jack: jack_mean(kind),
                }
            }
            EstimatorKind::CalibratedIps => {
                let psi = wcal.iter().zip(r).map(|(a, b)| a * b).sum::<f64>() / n as f64;
                // Influence function of the projected-weight estimator: when the reward
                // is a function of the judge score, estimating E[w | judge] adds
                // r (w − E[w|s]), so the influence is w (r − ψ) with the raw mean-one
                // weights (README, "Why the calibrated-IPS interval uses raw weights").
                let phi = wn.iter().zip(r).map(|(a, b)| a * (b - psi)).collect();
                Computed {
                    kind,
                    psi,
                    phi,
                    jack: jack_mean(kind),
                }
            }
            EstimatorKind::Dr | EstimatorKind::Tmle => {
                let (psi, phi) = dr_family[if kind == EstimatorKind::Dr {
                    "dr"
                } else {
                    "tmle"
                }]
                .clone();
                Computed {
                    kind,
                    psi,
                    phi,
                    jack: dr_jack.clone(),
                }
            }
            EstimatorKind::Direct => {
                // The direct term of DR alone: each logged row contributes its
                // prompt's mean outcome-model prediction over the fresh draws.
                let per = per_prompt(&fresh_g);
                let terms: Vec<f64> = data.cluster.iter().map(|&c| per[c as usize]).collect();
                let psi = mean(&terms);
                Computed {
                    kind,
                    psi,
                    phi: terms.iter().map(|t| t - psi).collect(),
                    jack: dr_jack.clone(),
                }
            }
            EstimatorKind::StackedDr => {
                let names: Vec<&str> = dr_family.keys().copied().collect();
                let m = names.len();
                let mut sums = vec![vec![0.0; m]; data.prompts.len()];
                for (j, nm) in names.iter().enumerate() {
                    for (i, v) in dr_family[nm].1.iter().enumerate() {
                        sums[data.cluster[i] as usize][j] += v;
                    }
                }
                let sigma =
                    DMatrix::from_fn(m, m, |a, b| sums.iter().map(|s| s[a] * s[b]).sum::<f64>());
                let alpha = simplex_min_variance(&sigma);
                let psi = names
                    .iter()
                    .zip(&alpha)
                    .map(|(nm, a)| a * dr_family[nm].0)
                    .sum();
                let phi = (0..n)
                    .map(|i| {
                        names
                            .iter()
                            .zip(&alpha)
                            .map(|(nm, a)| a * dr_family[nm].1[i])
                            .sum()
                    })
                    .collect();
                stacking = Some(names.iter().map(|s| s.to_string()).zip(alpha).collect());
                Computed {
                    kind,
                    psi,
                    phi,
                    jack: dr_jack.clone(),
                }
            }
        };
        out.push(c);
    }
    Ok(PolicyPoint {
        diagnostics,
        computed: out,
        weight_calibration: wsum,
        stacking,
    })
}

impl ValidCjeParams {
    /// The validated parameters.
    pub fn params(&self) -> &CjeParams {
        &self.0
    }

    fn kinds_for(&self, data: &CjeData, p: usize) -> Result<Vec<EstimatorKind>> {
        let has_fresh = data.fresh[p].is_some();
        if self.0.estimators.is_empty() {
            return Ok(EstimatorKind::ALL
                .iter()
                .copied()
                .filter(|k| has_fresh || !k.needs_fresh_draws())
                .collect());
        }
        let mut v = self.0.estimators.clone();
        v.sort();
        v.dedup();
        if let Some(k) = v.iter().find(|k| k.needs_fresh_draws()) {
            if !has_fresh {
                return Err(Error::input(format!(
                    "estimator `{k}` needs fresh draws of policy `{}` (a file `{}_responses.jsonl` in the fresh-draw directory)",
                    data.policies[p], data.policies[p]
                )));
            }
        }
        Ok(v)
    }

    /// Point estimates only (used by the bootstrap).
    fn points(&self, data: &CjeData, kinds: &[Vec<EstimatorKind>]) -> Result<Vec<Vec<f64>>> {
        let need_outcome = kinds.iter().flatten().any(|k| k.needs_fresh_draws());
        let nui = prepare(data, self.0.folds, self.0.seed, need_outcome, 0)?;
        (0..data.policies.len())
            .map(|p| {
                Ok(policy_point(data, &nui, p, &kinds[p], &self.0)?
                    .computed
                    .iter()
                    .map(|c| c.psi)
                    .collect())
            })
            .collect()
    }

    /// Fits every requested estimator for every target policy of `data`.
    pub fn fit(&self, data: &CjeData) -> Result<CjeResult> {
        let params = &self.0;
        let kinds: Vec<Vec<EstimatorKind>> = (0..data.policies.len())
            .map(|p| self.kinds_for(data, p))
            .collect::<Result<_>>()?;
        let need_outcome = kinds.iter().flatten().any(|k| k.needs_fresh_draws());
        let use_bootstrap = params.bootstrap >= 2;
        let groups = if use_bootstrap {
            0
        } else {
            params.oracle_jackknife_groups
        };
        let nui = prepare(data, params.folds, params.seed, need_outcome, groups)?;
        let points: Vec<PolicyPoint> = (0..data.policies.len())
            .into_par_iter()
            .map(|p| policy_point(data, &nui, p, &kinds[p], params))
            .collect::<Result<_>>()?;
        let n_clusters = data.prompts.len();
        let boot = if use_bootstrap {
            Some(self.bootstrap(data, &kinds)?)
        } else {
            None
        };
        let mut policies = BTreeMap::new();
        for (p, pt) in points.into_iter().enumerate() {
            let mut gate = Gate::evaluate(&pt.diagnostics, &params.gate);
            let mut estimates = BTreeMap::new();
            for (j, c) in pt.computed.iter().enumerate() {
                let est = match &boot {
                    Some(b) => {
                        let mut v: Vec<f64> = b
                            .iter()
                            .map(|rep| rep[p][j])
                            .filter(|x| x.is_finite())
                            .collect();
                        v.sort_by(f64::total_cmp);
                        let a = (1.0 - params.level) / 2.0;
                        Estimate {
                            estimate: c.psi,
                            se: sample_var(&v).sqrt(),
                            ci_lower: pref_stats::quantile_sorted(&v, a),
                            ci_upper: pref_stats::quantile_sorted(&v, 1.0 - a),
                            se_influence: None,
                            se_oracle: None,
                        }
                    }
                    None => {
                        let var_if = cluster_variance(&c.phi, &data.cluster, n_clusters);
                        let oracle = (!c.jack.is_empty())
                            .then(|| (jackknife_variance(&c.jack), c.jack.len()));
                        Estimate::with_oracle(c.psi, var_if, n_clusters, oracle, params.level)
                    }
                };
                if !(est.estimate.is_finite() && est.se.is_finite()) {
                    gate.push(
                        GateStatus::Refuse,
                        format!("{}: the estimate or its standard error is not finite (raw weights overflow?)", c.kind),
                    );
                }
                estimates.insert(c.kind.name().to_string(), est);
            }
            policies.insert(
                data.policies[p].clone(),
                PolicyResult {
                    estimates,
                    diagnostics: pt.diagnostics,
                    gate,
                    weight_calibration: pt.weight_calibration,
                    stacking_weights: pt.stacking,
                },
            );
        }
        let oracle_rows = data.oracle_rows();
        let (mode, note) = if nui.calibrators.is_some() {
            (
                CalibrationMode::IsotonicCrossfit,
                format!(
                    "rewards are judge scores mapped to the oracle scale by isotonic regression fitted on {oracle_rows} oracle-labelled rows of the other folds"
                ),
            )
        } else {
            (
                CalibrationMode::JudgeAsReward,
                "no oracle labels: the judge score is used as the reward (estimates are on the judge's scale)".to_string(),
            )
        };
        Ok(CjeResult {
            policies,
            calibration: CalibrationSummary {
                oracle_rows,
                folds: params.folds,
                mode,
                note,
                intervals: if use_bootstrap {
                    IntervalMethod::Bootstrap
                } else {
                    IntervalMethod::Influence
                },
                level: params.level,
                rows: data.len(),
                prompts: n_clusters,
            },
        })
    }

    /// Cluster bootstrap: resample prompts, refit everything (calibration,
    /// outcome model, weight calibration), keep the point estimates.
    fn bootstrap(
        &self,
        data: &CjeData,
        kinds: &[Vec<EstimatorKind>],
    ) -> Result<Vec<Vec<Vec<f64>>>> {
        let g = data.prompts.len();
        let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); g];
        for (i, &c) in data.cluster.iter().enumerate() {
            rows_of[c as usize].push(i);
        }
        let b = self.0.bootstrap;
        let reps: Vec<Option<Vec<Vec<f64>>>> = (0..b)
            .into_par_iter()
            .map(|rep| {
                let mut rng = pref_stats::replicate_rng(self.0.seed, rep as u64);
                let picks: Vec<u32> = (0..g).map(|_| rng.random_range(0..g as u32)).collect();
                let d = data.resample_clusters(&picks, &rows_of);
                self.points(&d, kinds).ok()
            })
            .collect();
        let ok: Vec<Vec<Vec<f64>>> = reps.into_iter().flatten().collect();
        if ok.len() * 10 < b * 9 {
            return Err(Error::input(format!(
                "only {} of {b} bootstrap replicates could be fitted (too few oracle labels or prompts?)",
                ok.len()
            )));
        }
        Ok(ok)
    }
}

impl CjeResult {
    /// A short human-readable report (Markdown). Policies the gate refuses are
    /// called "not reliable" in words.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let c = &self.calibration;
        s.push_str(&format!(
            "# CJE estimates\n\n{} rows, {} prompts, {} folds; {}. Intervals: {} ({:.0}%).\n\n",
            c.rows,
            c.prompts,
            c.folds,
            c.note,
            c.intervals,
            100.0 * c.level
        ));
        for (name, p) in &self.policies {
            s.push_str(&format!("## {name}\n\n"));
            match p.gate.status {
                GateStatus::Ok => s.push_str("Diagnostics: ok.\n\n"),
                GateStatus::Warn => s.push_str("Diagnostics: **warning** — use with care:\n\n"),
                GateStatus::Refuse => s.push_str(
                    "Diagnostics: **refused** — the importance-weighted estimates for this policy are NOT RELIABLE; they are shown only for reference:\n\n",
                ),
            }
            for r in &p.gate.reasons {
                s.push_str(&format!("- {r}\n"));
            }
            if !p.gate.reasons.is_empty() {
                s.push('\n');
            }
            let d = &p.diagnostics;
            s.push_str(&format!(
                "ESS fraction {:.3}, Hill tail index {}, max weight {:.3} ({:.2}% of total), zero-log-prob rate {:.3}{}\n\n",
                d.ess_fraction,
                d.hill_tail_index.map_or("n/a".into(), |h| format!("{h:.2}")),
                d.max_weight,
                100.0 * d.max_weight_share,
                d.zero_logprob_rate,
                if d.clone { " (clone of the logging policy)" } else { "" }
            ));
            s.push_str("| estimator | estimate | se | interval |\n|---|---|---|---|\n");
            for (e, v) in &p.estimates {
                s.push_str(&format!(
                    "| {e} | {:.4} | {:.4} | [{:.4}, {:.4}] |\n",
                    v.estimate, v.se, v.ci_lower, v.ci_upper
                ));
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_balanced_and_seeded() {
        let prompts: Vec<String> = (0..23).map(|i| format!("p{i}")).collect();
        let f = prompt_folds(&prompts, 5, 1);
        let mut counts = [0; 5];
        for &x in &f {
            counts[x] += 1;
        }
        assert!(counts.iter().all(|&c| c == 4 || c == 5));
        assert_eq!(f, prompt_folds(&prompts, 5, 1));
        assert_ne!(f, prompt_folds(&prompts, 5, 2));
    }

    #[test]
    fn simplex_picks_lower_variance_mix() {
        // Two independent components with variances 1 and 4: α = (0.8, 0.2).
        let s = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 4.0]);
        let a = simplex_min_variance(&s);
        assert!((a[0] - 0.8).abs() < 1e-12 && (a[1] - 0.2).abs() < 1e-12);
        // Negative unconstrained weight is cut to the simplex boundary.
        let s = DMatrix::from_row_slice(2, 2, &[1.0, 1.9, 1.9, 4.0]);
        assert_eq!(simplex_min_variance(&s), vec![1.0, 0.0]);
    }

    #[test]
    fn tmle_epsilon_solves_score() {
        let w = [0.5, 1.5, 1.0, 1.0];
        let r = [0.2, 0.9, 0.4, 0.7];
        let g = [0.3, 0.6, 0.5, 0.5];
        let e = tmle_epsilon(&w, &r, &g);
        let s: f64 = (0..4)
            .map(|i| w[i] * (r[i] - sigmoid(logit(g[i]) + e)))
            .sum();
        assert!(s.abs() < 1e-10, "{s}");
    }
}
