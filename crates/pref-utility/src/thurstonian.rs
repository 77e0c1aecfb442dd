//! The Thurstonian utility model (Utility Engineering; see the crate README).
//!
//! Item `i` has a utility `μ_i` and a log-variance `s_i` (`σ_i² = exp(s_i)`);
//! `P(i ≻ j) = Φ((μ_i − μ_j) / √(σ_i² + σ_j² + 1e-5))`. The fit minimises the
//! negative log-likelihood of the pair counts plus optional Gaussian priors on
//! `μ` and `s`, by L-BFGS (argmin) with an analytic gradient computed in one
//! pass over the pairs, then fixes the gauge: `μ` gets mean 0 and standard
//! deviation 1 and `σ²` is rescaled with it (unless the fit tells no items
//! apart: then `μ` is only centred, see `FittedThurstonian::from_raw`).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{CostFunction, Executor, Gradient, IterState, State, TerminationReason, KV};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use pref_data::{Location, PairCounts};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use serde::Serialize;
use statrs::distribution::ContinuousCDF;

use crate::data::PairData;
use crate::error::{Error, Result};
use crate::normal::{norm_cdf, probit_pair};

/// The constant added to `σ_i² + σ_j²` (as in the reference implementation).
pub const VARIANCE_FLOOR: f64 = 1e-5;

/// Probabilities are clipped to `[CLIP, 1 − CLIP]` in the log loss.
pub const CLIP: f64 = 1e-5;

/// How pairs enter the likelihood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// Every comparison counts once: the binomial likelihood of the counts (the MLE).
    #[default]
    Counts,
    /// Every pair counts once with its share `p_a` as a soft label, whatever its
    /// number of comparisons (the reference implementation's loss).
    PerPair,
}

/// Where the optimiser starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// `μ_i = √2·Φ⁻¹((wins_i + 1)/(comparisons_i + 2))` (the utility that explains
    /// item i's smoothed win rate against an average opponent when σ² = ½), plus
    /// the seeded noise; saves 5–15% of the iterations.
    #[default]
    WinRate,
    /// `μ, s ~ N(0, init_sd²)`, seeded (the reference implementation's start).
    Random,
}

/// Hyperparameters of the Thurstonian fit (see the crate README for the table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThurstonianParams {
    /// Standard deviation of a Gaussian prior `μ_i ~ N(0, τ²)` in fit units (`None`: flat).
    pub mu_prior_sd: Option<f64>,
    /// Standard deviation of a Gaussian prior `s_i = log σ_i² ~ N(0, τ²)` (`None`: flat).
    pub s_prior_sd: Option<f64>,
    /// How pairs are weighted.
    pub weighting: Weighting,
    /// Maximum number of L-BFGS iterations.
    pub max_iters: u64,
    /// Stop when the mean objective changes by less than this between iterations.
    pub tol_cost: f64,
    /// Stop when the L2 norm of the gradient of the mean objective is below this.
    pub tol_grad: f64,
    /// L-BFGS history length.
    pub memory: usize,
    /// Starting point of the optimiser.
    pub init: Init,
    /// Standard deviation of the seeded random initialisation (noise) of `μ` and `s`.
    pub init_sd: f64,
    /// Seed of the random initialisation.
    pub seed: u64,
    /// Split the pass over pairs across rayon's threads (same result either way).
    pub parallel: bool,
}

impl Default for ThurstonianParams {
    fn default() -> Self {
        Self {
            mu_prior_sd: Some(5.0),
            s_prior_sd: Some(1.0),
            weighting: Weighting::Counts,
            max_iters: 1000,
            tol_cost: 1e-7,
            tol_grad: 1e-8,
            memory: 10,
            init: Init::WinRate,
            init_sd: 0.01,
            seed: 0,
            parallel: true,
        }
    }
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident: $t:ty) => {
        $(#[$m])*
        pub fn $name(mut self, v: $t) -> Self {
            self.$name = v;
            self
        }
    };
}

impl ThurstonianParams {
    setter!(
        /// Sets [`ThurstonianParams::mu_prior_sd`].
        mu_prior_sd: Option<f64>
    );
    setter!(
        /// Sets [`ThurstonianParams::s_prior_sd`].
        s_prior_sd: Option<f64>
    );
    setter!(
        /// Sets [`ThurstonianParams::weighting`].
        weighting: Weighting
    );
    setter!(
        /// Sets [`ThurstonianParams::max_iters`].
        max_iters: u64
    );
    setter!(
        /// Sets [`ThurstonianParams::tol_cost`].
        tol_cost: f64
    );
    setter!(
        /// Sets [`ThurstonianParams::tol_grad`].
        tol_grad: f64
    );
    setter!(
        /// Sets [`ThurstonianParams::memory`].
        memory: usize
    );
    setter!(
        /// Sets [`ThurstonianParams::init`].
        init: Init
    );
    setter!(
        /// Sets [`ThurstonianParams::init_sd`].
        init_sd: f64
    );
    setter!(
        /// Sets [`ThurstonianParams::seed`].
        seed: u64
    );
    setter!(
        /// Sets [`ThurstonianParams::parallel`].
        parallel: bool
    );

    /// Validates the parameters.
    pub fn check(&self) -> Result<ValidThurstonianParams> {
        for (name, v) in [
            ("mu_prior_sd", self.mu_prior_sd),
            ("s_prior_sd", self.s_prior_sd),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(Error::param(
                        name,
                        format!("must be a finite number > 0 (or none for a flat prior), got {v}"),
                    ));
                }
            }
        }
        if self.max_iters == 0 {
            return Err(Error::param("max_iters", "must be ≥ 1"));
        }
        pref_stats::non_negative("tol_cost", self.tol_cost)?;
        pref_stats::non_negative("tol_grad", self.tol_grad)?;
        if !(1..=1000).contains(&self.memory) {
            return Err(Error::param(
                "memory",
                format!("must lie in 1..=1000, got {}", self.memory),
            ));
        }
        pref_stats::non_negative("init_sd", self.init_sd)?;
        Ok(ValidThurstonianParams(self.clone()))
    }

    /// Validates the parameters and fits the model to `data`.
    pub fn fit(&self, data: &PairData) -> Result<FittedThurstonian> {
        self.check()?.fit(data)
    }
}

/// Progress of the optimiser, passed to a progress callback after every iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Iteration number (from 1).
    pub iteration: u64,
    /// Current mean objective (negative log-likelihood plus priors, per comparison).
    pub cost: f64,
    /// L2 norm of the gradient of the mean objective.
    pub grad_norm: f64,
}

/// Validated [`ThurstonianParams`]; fitting lives here.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidThurstonianParams(ThurstonianParams);

impl ValidThurstonianParams {
    /// The parameters.
    pub fn params(&self) -> &ThurstonianParams {
        &self.0
    }

    /// Fits the model from the seeded random initialisation.
    pub fn fit(&self, data: &PairData) -> Result<FittedThurstonian> {
        self.fit_inner(data, None, None)
    }

    /// Fits the model starting from another fit over the same items (warm start,
    /// as used between active-learning rounds).
    pub fn fit_from(
        &self,
        data: &PairData,
        start: &FittedThurstonian,
    ) -> Result<FittedThurstonian> {
        if start.items() != data.items() {
            return Err(Error::InvalidInput(
                "warm start: the starting fit has different items".into(),
            ));
        }
        self.fit_inner(data, Some(&start.raw), None)
    }

    /// Fits the model and calls `progress` after every L-BFGS iteration.
    pub fn fit_with_progress(
        &self,
        data: &PairData,
        progress: impl FnMut(&Progress) + 'static,
    ) -> Result<FittedThurstonian> {
        self.fit_inner(data, None, Some(Box::new(progress)))
    }

    fn initial(&self, data: &PairData) -> Vec<f64> {
        let n = data.n_items();
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.0.seed);
        let mut theta = if self.0.init_sd == 0.0 {
            vec![0.0; 2 * n]
        } else {
            let dist = Normal::new(0.0, self.0.init_sd).expect("init_sd validated");
            (0..2 * n).map(|_| dist.sample(&mut rng)).collect()
        };
        if self.0.init == Init::WinRate {
            let (wa, wb) = weights(data, self.0.weighting);
            let mut wins = vec![0.0; n];
            let mut total = vec![0.0; n];
            for k in 0..data.len() {
                let (a, b) = (data.a[k] as usize, data.b[k] as usize);
                wins[a] += wa[k];
                wins[b] += wb[k];
                total[a] += wa[k] + wb[k];
                total[b] += wa[k] + wb[k];
            }
            let std = statrs::distribution::Normal::standard();
            for i in 0..n {
                let p = (wins[i] + 1.0) / (total[i] + 2.0);
                theta[2 * i] += std::f64::consts::SQRT_2 * std.inverse_cdf(p);
            }
        }
        theta
    }

    fn fit_inner(
        &self,
        data: &PairData,
        start: Option<&[f64]>,
        progress: Option<ProgressFn>,
    ) -> Result<FittedThurstonian> {
        let t0 = Instant::now();
        let n = data.n_items();
        if n < 2 {
            return Err(Error::InvalidInput(format!(
                "need at least 2 items to fit utilities, got {n}"
            )));
        }
        let objective = Objective::new(data, &self.0)?;
        let passes = objective.passes();
        let stalled = objective.stalled();
        let init = match start {
            Some(s) => s.to_vec(),
            None => self.initial(data),
        };
        let p = &self.0;
        let linesearch = MoreThuenteLineSearch::new();
        let solver = LBFGS::new(linesearch, p.memory)
            .with_tolerance_grad(p.tol_grad)?
            .with_tolerance_cost(p.tol_cost)?;
        let mut exec = Executor::new(objective, solver)
            .configure(|s| s.param(init).max_iters(p.max_iters))
            .ctrlc(false)
            .add_observer(TracingObserver, ObserverMode::Every(25));
        if let Some(cb) = progress {
            exec = exec.add_observer(CallbackObserver(cb), ObserverMode::Always);
        }
        let res = exec.run()?;
        let state = res.state();
        let iterations = state.get_iter();
        let termination = state
            .get_termination_reason()
            .map(|r| r.text().to_string())
            .unwrap_or_else(|| "not terminated".to_string());
        let raw = state
            .get_best_param()
            .or_else(|| state.get_param())
            .cloned()
            .ok_or_else(|| Error::Optimizer("no parameters returned".into()))?;
        // Converged: a tolerance was met, or the objective is flat to rounding
        // (stall) at a point where the gradient is negligible.
        let converged = match state.get_termination_reason() {
            Some(TerminationReason::SolverConverged) => true,
            _ if stalled.get() => {
                let (_, g) = objective_and_gradient(data, p, &raw)?;
                g.iter().map(|x| x * x).sum::<f64>().sqrt() <= STALL_GRAD
            }
            _ => false,
        };
        let objective_value = state.get_best_cost();
        let evaluations = passes.get();
        if !objective_value.is_finite() || raw.iter().any(|x| !x.is_finite()) {
            return Err(Error::Optimizer(format!(
                "the objective became non-finite ({objective_value}); the data may be degenerate"
            )));
        }
        let mut fitted = FittedThurstonian::from_raw(data.items().to_vec(), raw, self.clone());
        fitted.stats = FitStats {
            iterations,
            evaluations,
            converged,
            termination,
            objective: objective_value,
            seconds: t0.elapsed().as_secs_f64(),
        };
        tracing::debug!(
            iterations,
            evaluations,
            converged,
            seconds = fitted.stats.seconds,
            "thurstonian fit done"
        );
        Ok(fitted)
    }
}

/// A boxed progress callback.
type ProgressFn = Box<dyn FnMut(&Progress)>;

type LbfgsState = IterState<Vec<f64>, Vec<f64>, (), (), (), f64>;

struct TracingObserver;

impl Observe<LbfgsState> for TracingObserver {
    fn observe_iter(
        &mut self,
        state: &LbfgsState,
        _kv: &KV,
    ) -> std::result::Result<(), argmin::core::Error> {
        tracing::trace!(iter = state.get_iter(), cost = state.get_cost(), "L-BFGS");
        Ok(())
    }
}

struct CallbackObserver(ProgressFn);

impl Observe<LbfgsState> for CallbackObserver {
    fn observe_iter(
        &mut self,
        state: &LbfgsState,
        _kv: &KV,
    ) -> std::result::Result<(), argmin::core::Error> {
        let grad_norm = state
            .get_gradient()
            .map_or(f64::NAN, |g| g.iter().map(|x| x * x).sum::<f64>().sqrt());
        (self.0)(&Progress {
            iteration: state.get_iter(),
            cost: state.get_cost(),
            grad_norm,
        });
        Ok(())
    }
}

/// Minimum pairs per chunk of the parallel pass, and the maximum number of chunks.
/// The chunking depends only on the number of pairs, so the summation order, and
/// therefore every bit of the result, is the same on any machine and thread count.
const CHUNK_MIN: usize = 2_048;
const MAX_CHUNKS: usize = 8;

struct Workspace {
    /// (μ_i, σ_i²) per item, recomputed once per evaluation.
    table: Vec<[f64; 2]>,
    /// One gradient accumulator per chunk (interleaved μ, s).
    bufs: Vec<Vec<f64>>,
    costs: Vec<f64>,
    cached_param: Vec<f64>,
    cached_cost: f64,
    cached_grad: Vec<f64>,
    has_cache: bool,
    /// Lowest cost seen, and cost requests since it last improved.
    best: f64,
    stall: u32,
}

/// Cost requests without a strict improvement after which the objective reports
/// a stall. argmin's More–Thuente line search has no iteration limit and can
/// cycle forever once the cost is flat to rounding (seen at gradient norms near
/// 1e-10); the error ends the line search, and L-BFGS then stops with the best
/// point found (argmin turns line-search errors into a solver exit).
const STALL_LIMIT: u32 = 60;

/// Gradient norm (of the mean objective) below which a stall counts as convergence.
const STALL_GRAD: f64 = 1e-6;

/// The objective as an argmin problem. Parameters are interleaved:
/// `θ[2i] = μ_i`, `θ[2i+1] = s_i`. `cost` computes cost and gradient in one pass
/// and caches both; `gradient` at the same point returns the cached gradient
/// (the More–Thuente line search and L-BFGS always ask for both).
pub(crate) struct Objective<'d> {
    a: &'d [u32],
    b: &'d [u32],
    wa: Cow<'d, [f64]>,
    wb: Cow<'d, [f64]>,
    n: usize,
    mu_prec: f64,
    s_prec: f64,
    /// 1 / total weight: the optimiser sees the mean objective per comparison.
    scale: f64,
    chunks: Vec<(usize, usize)>,
    parallel: bool,
    ws: RefCell<Workspace>,
    /// Passes over the pairs, shared with the caller (argmin may drop the problem
    /// when a line search fails).
    passes: Rc<Cell<u64>>,
    /// Set when the objective ended the search with a stall error (shared alike).
    stalled: Rc<Cell<bool>>,
}

pub(crate) fn weights<'d>(data: &'d PairData, w: Weighting) -> (Cow<'d, [f64]>, Cow<'d, [f64]>) {
    match w {
        Weighting::Counts => (Cow::Borrowed(&data.count_a), Cow::Borrowed(&data.count_b)),
        Weighting::PerPair => {
            let (mut wa, mut wb) = (
                Vec::with_capacity(data.len()),
                Vec::with_capacity(data.len()),
            );
            for (&ca, &cb) in data.count_a.iter().zip(&data.count_b) {
                let n = ca + cb;
                if n > 0.0 {
                    wa.push(ca / n);
                    wb.push(cb / n);
                } else {
                    wa.push(0.0);
                    wb.push(0.0);
                }
            }
            (Cow::Owned(wa), Cow::Owned(wb))
        }
    }
}

pub(crate) fn precision(sd: Option<f64>) -> f64 {
    sd.map_or(0.0, |s| 1.0 / (s * s))
}

impl<'d> Objective<'d> {
    pub(crate) fn new(data: &'d PairData, p: &ThurstonianParams) -> Result<Self> {
        let n = data.n_items();
        let (wa, wb) = weights(data, p.weighting);
        let total: f64 = wa.iter().sum::<f64>() + wb.iter().sum::<f64>();
        if total.is_nan() || total <= 0.0 {
            return Err(Error::InvalidInput(
                "no comparisons: every pair has zero counts".into(),
            ));
        }
        let m = data.len();
        let (a, b) = (&data.a[..], &data.b[..]);
        // A power of two, so that two (or four, eight) threads share the work evenly.
        let n_chunks = match m / CHUNK_MIN {
            0..=1 => 1,
            k => (1usize << k.ilog2()).min(MAX_CHUNKS),
        };
        let chunks = (0..n_chunks)
            .map(|c| (c * m / n_chunks, (c + 1) * m / n_chunks))
            .collect();
        Ok(Self {
            a,
            b,
            wa,
            wb,
            n,
            mu_prec: precision(p.mu_prior_sd),
            s_prec: precision(p.s_prior_sd),
            scale: 1.0 / total,
            chunks,
            parallel: p.parallel,
            passes: Rc::new(Cell::new(0)),
            stalled: Rc::new(Cell::new(false)),
            ws: RefCell::new(Workspace {
                table: vec![[0.0; 2]; n],
                bufs: vec![vec![0.0; 2 * n]; n_chunks],
                costs: vec![0.0; n_chunks],
                cached_param: vec![0.0; 2 * n],
                cached_cost: 0.0,
                cached_grad: vec![0.0; 2 * n],
                has_cache: false,
                best: f64::INFINITY,
                stall: 0,
            }),
        })
    }

    pub(crate) fn passes(&self) -> Rc<Cell<u64>> {
        Rc::clone(&self.passes)
    }

    pub(crate) fn stalled(&self) -> Rc<Cell<bool>> {
        Rc::clone(&self.stalled)
    }

    /// Evaluates cost and gradient at `theta` into the cache (unless cached).
    fn evaluate(&self, theta: &[f64]) -> std::result::Result<(), argmin::core::Error> {
        let mut guard = self.ws.borrow_mut();
        let ws = &mut *guard;
        if theta.len() != 2 * self.n {
            return Err(argmin::core::Error::msg(format!(
                "parameter vector has length {}, expected {}",
                theta.len(),
                2 * self.n
            )));
        }
        if ws.has_cache && ws.cached_param.as_slice() == theta {
            return Ok(());
        }
        self.passes.set(self.passes.get() + 1);
        for (t, th) in ws.table.iter_mut().zip(theta.chunks_exact(2)) {
            *t = [th[0], th[1].exp()];
        }
        let (a, b, wa, wb) = (self.a, self.b, &*self.wa, &*self.wb);
        let table = &ws.table;
        let work = |((buf, cost), &(lo, hi)): ((&mut Vec<f64>, &mut f64), &(usize, usize))| {
            *cost = pass(&a[lo..hi], &b[lo..hi], &wa[lo..hi], &wb[lo..hi], table, buf);
        };
        if self.parallel && self.chunks.len() > 1 {
            ws.bufs
                .par_iter_mut()
                .zip(ws.costs.par_iter_mut())
                .zip(self.chunks.par_iter())
                .for_each(work);
        } else {
            ws.bufs
                .iter_mut()
                .zip(ws.costs.iter_mut())
                .zip(self.chunks.iter())
                .for_each(work);
        }
        // Reduce in chunk order (deterministic), add the priors, scale to the mean.
        let mut cost: f64 = ws.costs.iter().sum();
        let mut prior = 0.0;
        for th in theta.chunks_exact(2) {
            prior += self.mu_prec * th[0] * th[0] + self.s_prec * th[1] * th[1];
        }
        cost += 0.5 * prior;
        let (bufs, grad) = (&ws.bufs, &mut ws.cached_grad);
        let (mu_prec, s_prec, scale) = (self.mu_prec, self.s_prec, self.scale);
        let reduce = |(k0, out): (usize, &mut [f64])| {
            let base = k0 * REDUCE_BLOCK;
            for (j, g) in out.iter_mut().enumerate() {
                let k = base + j;
                let mut s = 0.0;
                for buf in bufs {
                    s += buf[k];
                }
                let prec = if k.is_multiple_of(2) { mu_prec } else { s_prec };
                *g = (s + prec * theta[k]) * scale;
            }
        };
        if self.parallel && grad.len() > 4 * REDUCE_BLOCK {
            grad.par_chunks_mut(REDUCE_BLOCK)
                .enumerate()
                .for_each(reduce);
        } else {
            grad.chunks_mut(REDUCE_BLOCK).enumerate().for_each(reduce);
        }
        ws.cached_cost = cost * self.scale;
        ws.cached_param.copy_from_slice(theta);
        ws.has_cache = true;
        Ok(())
    }
}

const REDUCE_BLOCK: usize = 8192;

/// One pass over a chunk of pairs: returns Σ −(w_a log Φ(z) + w_b log Φ(−z)) and
/// writes the gradient with respect to (μ, s) into `grad` (zeroed first).
#[inline(never)]
fn pass(a: &[u32], b: &[u32], wa: &[f64], wb: &[f64], table: &[[f64; 2]], grad: &mut [f64]) -> f64 {
    grad.fill(0.0);
    let mut cost = 0.0;
    for k in 0..a.len() {
        let (ia, ib) = (a[k] as usize, b[k] as usize);
        let [mu_a, s2a] = table[ia];
        let [mu_b, s2b] = table[ib];
        let v = s2a + s2b + VARIANCE_FLOOR;
        let rinv = 1.0 / v.sqrt();
        let z = (mu_a - mu_b) * rinv;
        let (c, dz) = probit_pair(z, wa[k], wb[k]);
        cost += c;
        // dℓ/dμ = ±dℓ/dz / √v and dℓ/ds_i = dℓ/dv · σ_i² with dz/dv = −z/(2v).
        let gmu = dz * rinv;
        let dv = -0.5 * dz * z * rinv * rinv;
        grad[2 * ia] += gmu;
        grad[2 * ib] -= gmu;
        grad[2 * ia + 1] += dv * s2a;
        grad[2 * ib + 1] += dv * s2b;
    }
    cost
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        self.evaluate(p)?;
        let mut ws = self.ws.borrow_mut();
        let c = ws.cached_cost;
        if c < ws.best {
            ws.best = c;
            ws.stall = 0;
        } else {
            ws.stall += 1;
            if ws.stall > STALL_LIMIT {
                self.stalled.set(true);
                return Err(argmin::core::Error::msg(format!(
                    "no decrease of the objective in {STALL_LIMIT} evaluations"
                )));
            }
        }
        Ok(c)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        self.evaluate(p)?;
        Ok(self.ws.borrow().cached_grad.clone())
    }
}

/// Mean objective and gradient at `theta` (interleaved μ, s), for tests and tools.
pub fn objective_and_gradient(
    data: &PairData,
    params: &ThurstonianParams,
    theta: &[f64],
) -> Result<(f64, Vec<f64>)> {
    let o = Objective::new(data, params)?;
    o.evaluate(theta)?;
    let ws = o.ws.borrow();
    Ok((ws.cached_cost, ws.cached_grad.clone()))
}

/// Summary of one optimisation run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FitStats {
    /// L-BFGS iterations.
    pub iterations: u64,
    /// Passes over the pairs (objective + gradient evaluations).
    pub evaluations: u64,
    /// True when a tolerance was met (false when `max_iters` stopped the run).
    pub converged: bool,
    /// argmin's termination reason.
    pub termination: String,
    /// Final mean objective (per comparison, priors included).
    pub objective: f64,
    /// Wall-clock seconds of the fit.
    pub seconds: f64,
}

/// A fitted Thurstonian model, in the fixed gauge (μ mean 0, sd 1).
#[derive(Debug, Clone, PartialEq)]
pub struct FittedThurstonian {
    items: Vec<String>,
    index: HashMap<String, usize>,
    mu: Vec<f64>,
    sigma2: Vec<f64>,
    /// Unnormalised optimiser parameters (interleaved μ, s).
    pub(crate) raw: Vec<f64>,
    /// Mean and standard deviation of the raw μ used for the gauge.
    pub(crate) shift: f64,
    pub(crate) scale: f64,
    /// Whether μ was rescaled to sd 1 (false: only centred, no items told apart).
    pub(crate) rescaled: bool,
    pub(crate) params: ValidThurstonianParams,
    /// Optimiser statistics.
    pub stats: FitStats,
}

/// Held-out (or training) metrics of a fitted model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation {
    /// Mean soft-label cross-entropy, probabilities clipped to `[1e-5, 1 − 1e-5]`.
    pub log_loss: f64,
    /// Share of pairs where `P(a ≻ b) ≥ ½` agrees with `p_a ≥ ½` (so an exact 50/50
    /// pair counts as "a").
    pub accuracy: f64,
    /// Accuracy against the majority label, skipping exact ties (NaN when every pair is a tie).
    pub accuracy_majority: f64,
    /// Pairs evaluated (pairs with no comparisons are skipped).
    pub n_pairs: usize,
    /// Pairs with `p_a` exactly ½.
    pub n_ties: usize,
    /// Pairs skipped because they hold no comparisons.
    pub n_empty: usize,
}

#[derive(Default)]
struct EvalAcc {
    loss: f64,
    correct: usize,
    correct_major: usize,
    n: usize,
    ties: usize,
    empty: usize,
}

impl EvalAcc {
    fn add(&mut self, p: f64, ca: f64, cb: f64) {
        let total = ca + cb;
        if total.is_nan() || total <= 0.0 {
            self.empty += 1;
            return;
        }
        let y = ca / total;
        let pc = p.clamp(CLIP, 1.0 - CLIP);
        self.loss -= y * pc.ln() + (1.0 - y) * (1.0 - pc).ln();
        let pred_a = p >= 0.5;
        if pred_a == (y >= 0.5) {
            self.correct += 1;
        }
        if y == 0.5 {
            self.ties += 1;
        } else if pred_a == (y > 0.5) {
            self.correct_major += 1;
        }
        self.n += 1;
    }

    fn finish(self) -> Evaluation {
        let n = self.n as f64;
        let decisive = self.n - self.ties;
        Evaluation {
            log_loss: if self.n > 0 { self.loss / n } else { f64::NAN },
            accuracy: if self.n > 0 {
                self.correct as f64 / n
            } else {
                f64::NAN
            },
            accuracy_majority: if decisive > 0 {
                self.correct_major as f64 / decisive as f64
            } else {
                f64::NAN
            },
            n_pairs: self.n,
            n_ties: self.ties,
            n_empty: self.empty,
        }
    }
}

/// Below this spread of the raw μ, relative to the typical σ, no items are told
/// apart and μ is not rescaled to sd 1 (see `FittedThurstonian::from_raw`).
const INDISTINGUISHABLE: f64 = 1e-3;

impl FittedThurstonian {
    pub(crate) fn from_raw(
        items: Vec<String>,
        raw: Vec<f64>,
        params: ValidThurstonianParams,
    ) -> Self {
        let n = items.len();
        let mu_raw: Vec<f64> = raw.iter().step_by(2).copied().collect();
        let shift = mu_raw.iter().sum::<f64>() / n as f64;
        let var = mu_raw.iter().map(|m| (m - shift).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        let sd = var.sqrt();
        // Utilities that separate no pair (nothing but ties, or a cycle of
        // near-ties whose best fit has every P = ½) are only centred: their raw
        // spread is optimiser noise (measured on such a cycle against σ ≈ 1:
        // 3e-5 at the default tolerances, 1e-10 to 4e-9 at tight ones), and
        // dividing by it would report that noise as utilities of sd 1. Below
        // 1e-3 of the typical σ, P − ½ ≈ 0.28·Δμ/σ is a few 1e-4 for typical
        // pairs. Nothing is lost: P, ranks and μ/σ are the same in either gauge.
        let typical_sigma =
            (raw.iter().skip(1).step_by(2).map(|s| s.exp()).sum::<f64>() / n as f64).sqrt();
        let rescaled = sd > INDISTINGUISHABLE * typical_sigma;
        let scale = if rescaled { sd } else { 1.0 };
        let mu = mu_raw.iter().map(|m| (m - shift) / scale).collect();
        let sigma2 = raw
            .iter()
            .skip(1)
            .step_by(2)
            .map(|s| s.exp() / (scale * scale))
            .collect();
        let index = items
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();
        Self {
            items,
            index,
            mu,
            sigma2,
            raw,
            shift,
            scale,
            rescaled,
            params,
            stats: FitStats::default(),
        }
    }

    /// Item ids, by index.
    pub fn items(&self) -> &[String] {
        &self.items
    }

    /// Utilities μ (mean 0, sd 1; only centred, all ≈ 0, when no items are told apart), by item index.
    pub fn mu(&self) -> &[f64] {
        &self.mu
    }

    /// Variances σ² in the same gauge, by item index.
    pub fn sigma2(&self) -> &[f64] {
        &self.sigma2
    }

    /// The index of an item id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// `(μ, σ²)` of an item id.
    pub fn utility(&self, id: &str) -> Option<(f64, f64)> {
        self.index_of(id).map(|i| (self.mu[i], self.sigma2[i]))
    }

    /// The parameters the model was fitted with.
    pub fn params(&self) -> &ThurstonianParams {
        self.params.params()
    }

    /// `P(i ≻ j)` by item indices.
    pub fn prob(&self, i: usize, j: usize) -> f64 {
        let v = self.sigma2[i] + self.sigma2[j] + VARIANCE_FLOOR;
        norm_cdf((self.mu[i] - self.mu[j]) / v.sqrt())
    }

    /// `P(a ≻ b)` by item ids (`None` when an id is unknown).
    pub fn prob_ids(&self, a: &str, b: &str) -> Option<f64> {
        Some(self.prob(self.index_of(a)?, self.index_of(b)?))
    }

    fn lookup(&self, id: &str, field: &'static str, at: Option<&Location>) -> Result<usize> {
        self.index_of(id).ok_or_else(|| Error::UnknownId {
            at: at.cloned(),
            field,
            id: id.to_string(),
        })
    }

    /// Log loss and accuracies on pair-count records (unknown ids are an error).
    pub fn evaluate(&self, pairs: &[PairCounts]) -> Result<Evaluation> {
        let mut acc = EvalAcc::default();
        for p in pairs {
            let i = self.lookup(&p.a, "a", None)?;
            let j = self.lookup(&p.b, "b", None)?;
            acc.add(self.prob(i, j), p.count_a, p.count_b);
        }
        Ok(acc.finish())
    }

    /// Like [`FittedThurstonian::evaluate`], naming the file line of an unknown id.
    pub fn evaluate_located(&self, pairs: &[(Location, PairCounts)]) -> Result<Evaluation> {
        let mut acc = EvalAcc::default();
        for (at, p) in pairs {
            let i = self.lookup(&p.a, "a", Some(at))?;
            let j = self.lookup(&p.b, "b", Some(at))?;
            acc.add(self.prob(i, j), p.count_a, p.count_b);
        }
        Ok(acc.finish())
    }

    /// Log loss and accuracies on a [`PairData`] (items matched by id).
    pub fn evaluate_data(&self, data: &PairData) -> Result<Evaluation> {
        let map: Vec<usize> = if data.items() == self.items.as_slice() {
            (0..self.items.len()).collect()
        } else {
            data.items()
                .iter()
                .map(|id| self.lookup(id, "a", None))
                .collect::<Result<_>>()?
        };
        let mut acc = EvalAcc::default();
        for (a, b, ca, cb) in data.pairs() {
            acc.add(self.prob(map[a], map[b]), ca, cb);
        }
        Ok(acc.finish())
    }
}
