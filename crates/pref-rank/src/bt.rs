//! Bradley–Terry maximum likelihood on aggregated pair cells (see the crate README).
//!
//! P(i ≻ j) = σ(θ_i − θ_j); a tie counts as half a win each way. Battles are first
//! reduced to pair cells (`BattleTable::pair_cells`: wins of i, wins of j and ties
//! per unordered pair), so the fit costs O(pairs) per iteration whatever the number
//! of battles. The objective is the mean negative log-likelihood per battle
//!
//! ```text
//! f(θ) = (1/N) Σ_pairs [ n_ij softplus(θ_i − θ_j) − s_ij (θ_i − θ_j) ] + τ/(2N) ‖θ‖²
//! ```
//!
//! (s_ij = wins of i + ties/2, n_ij = battles of the pair, τ = optional Gaussian prior
//! precision), minimised by Newton's method with Armijo backtracking until
//! ‖∇f‖₂ ≤ `grad_tol` (default 1e-10). Ratings on the Elo scale are
//! `scale / ln(base) · θ + init` with θ centred (mean rating = `init`), or shifted so
//! that an anchor model gets a given rating.
//!
//! The solver is an argmin [`Solver`] ([`BtNewton`]) over the argmin problem
//! [`BtProblem`] (which also implements argmin's `CostFunction` and `Gradient`, so any
//! argmin solver such as L-BFGS can be run on it). It is hand-written because argmin's
//! own Newton method inverts the Hessian explicitly, has no gradient-norm stopping
//! rule and cannot handle the singular Bradley–Terry Hessian (a weighted graph
//! Laplacian, singular along the all-ones direction); here the gauge is fixed by
//! solving with H + c·11ᵀ, which gives the minimum-norm Newton step.

use argmin::core::{
    CostFunction, Executor, Gradient, IterState, Problem, Solver, State, TerminationReason,
    TerminationStatus, KV,
};
use nalgebra::{Cholesky, DMatrix, DVector, Dyn};
use pref_data::BattleTable;

use crate::error::{Error, Result};
use crate::params::{finite, non_negative, positive, Checked, ParamGuard};
use crate::ratings::Ratings;

/// Outcomes of all battles between one unordered pair of models (`i < j`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairCell {
    /// First model (index into [`PairData::models`]).
    pub i: u32,
    /// Second model.
    pub j: u32,
    /// Battles won by `i`.
    pub wins_i: u64,
    /// Battles won by `j`.
    pub wins_j: u64,
    /// Ties.
    pub ties: u64,
}

impl PairCell {
    /// Number of battles.
    pub fn n(&self) -> u64 {
        self.wins_i + self.wins_j + self.ties
    }
    /// Score of `i`: wins plus half the ties.
    pub fn score_i(&self) -> f64 {
        self.wins_i as f64 + 0.5 * self.ties as f64
    }
}

/// Battles aggregated into pair cells: the sufficient statistic of Bradley–Terry.
#[derive(Debug, Clone, PartialEq)]
pub struct PairData {
    models: Vec<String>,
    cells: Vec<PairCell>,
    n_battles: u64,
}

impl PairData {
    /// Aggregates a battle table into pair cells: the cells of
    /// `BattleTable::pair_cells` (sorted by `(i, j)`), counted densely for ≤
    /// [`DENSE_MAX_MODELS`] models.
    pub fn from_table(t: &BattleTable) -> Self {
        let k = t.models.len();
        let cells: Vec<PairCell> = if (2..=DENSE_MAX_MODELS).contains(&k) {
            dense_pair_cells(t)
        } else {
            t.pair_cells()
                .into_iter()
                .map(|(i, j, wins_i, wins_j, ties)| PairCell {
                    i,
                    j,
                    wins_i,
                    wins_j,
                    ties,
                })
                .collect()
        };
        let n_battles = cells.iter().map(PairCell::n).sum();
        Self {
            models: t.models.clone(),
            cells,
            n_battles,
        }
    }

    /// Aggregates with `BattleTable::pair_cells` (hash map), whatever the number of
    /// models. [`PairData::from_table`] gives the same cells faster for ≤ 512 models.
    pub fn from_table_hashed(t: &BattleTable) -> Self {
        let cells: Vec<PairCell> = t
            .pair_cells()
            .into_iter()
            .map(|(i, j, wins_i, wins_j, ties)| PairCell {
                i,
                j,
                wins_i,
                wins_j,
                ties,
            })
            .collect();
        let n_battles = cells.iter().map(PairCell::n).sum();
        Self {
            models: t.models.clone(),
            cells,
            n_battles,
        }
    }

    /// Builds pair data from cells; checks `i < j < models.len()` and distinct model names.
    /// Cells with no battles are dropped.
    pub fn new(models: Vec<String>, cells: Vec<PairCell>) -> Result<Self> {
        Ratings::new(models.clone(), vec![0.0; models.len()])?;
        for c in &cells {
            if c.i >= c.j || c.j as usize >= models.len() {
                return Err(Error::InvalidInput(format!(
                    "pair cell ({}, {}) must satisfy i < j < {} (number of models)",
                    c.i,
                    c.j,
                    models.len()
                )));
            }
        }
        let cells: Vec<PairCell> = cells.into_iter().filter(|c| c.n() > 0).collect();
        let n_battles = cells.iter().map(PairCell::n).sum();
        Ok(Self {
            models,
            cells,
            n_battles,
        })
    }

    /// Model names.
    pub fn models(&self) -> &[String] {
        &self.models
    }
    /// The pair cells.
    pub fn cells(&self) -> &[PairCell] {
        &self.cells
    }
    /// Total number of battles.
    pub fn n_battles(&self) -> u64 {
        self.n_battles
    }
    /// Number of models.
    pub fn n_models(&self) -> usize {
        self.models.len()
    }

    /// Checks that the maximum-likelihood estimate exists: the comparison graph is
    /// connected ([`Error::Disconnected`] otherwise, naming the components) and no group
    /// of models is unbeaten by the rest ([`Error::NoFiniteMle`], naming the group).
    pub fn check_identifiable(&self) -> Result<()> {
        let scored: Vec<(u32, u32, bool, bool)> = self
            .cells
            .iter()
            .map(|c| (c.i, c.j, c.wins_i + c.ties > 0, c.wins_j + c.ties > 0))
            .collect();
        check_graph(&self.models, &scored)
    }
}

/// Up to this many models, [`PairData::from_table`] counts in a dense k × k × 3 table
/// (≤ 6.3 MB) instead of `BattleTable::pair_cells`' hash map: same cells, in the same
/// (sorted) order, about 10× faster on 1M battles.
pub const DENSE_MAX_MODELS: usize = 512;

fn dense_pair_cells(t: &BattleTable) -> Vec<PairCell> {
    use pref_data::Winner;
    let k = t.models.len();
    // counts[(i·k + j)·3 + o] for i < j; o = 0: i won, 1: j won, 2: tie.
    let mut counts = vec![0u64; k * k * 3];
    for ((&a, &b), &w) in t.a.iter().zip(&t.b).zip(&t.winner) {
        let (i, j, swap) = if a < b { (a, b, false) } else { (b, a, true) };
        let o = match (w, swap) {
            (Winner::Tie, _) => 2,
            (Winner::A, false) | (Winner::B, true) => 0,
            _ => 1,
        };
        counts[(i as usize * k + j as usize) * 3 + o] += 1;
    }
    let mut cells = Vec::new();
    for i in 0..k {
        for j in i + 1..k {
            let c = &counts[(i * k + j) * 3..(i * k + j) * 3 + 3];
            if c[0] + c[1] + c[2] > 0 {
                cells.push(PairCell {
                    i: i as u32,
                    j: j as u32,
                    wins_i: c[0],
                    wins_j: c[1],
                    ties: c[2],
                });
            }
        }
    }
    cells
}

/// Union-find components, then strongly connected components of the "scored against"
/// graph (an edge u → v when u won or tied at least once against v). The MLE exists
/// iff that graph is strongly connected (Zermelo 1929; Ford 1957).
pub(crate) fn check_graph(models: &[String], scored: &[(u32, u32, bool, bool)]) -> Result<()> {
    let k = models.len();
    if k < 2 {
        return Err(Error::InvalidInput(format!(
            "Bradley–Terry needs at least two models, got {k}"
        )));
    }
    // Components.
    let components = pref_stats::named_components(
        models,
        scored
            .iter()
            .filter(|&&(_, _, si, sj)| si || sj)
            .map(|&(i, j, _, _)| (i as usize, j as usize)),
    );
    if components.len() > 1 {
        return Err(Error::Disconnected { components });
    }
    // Strong connectivity (Kosaraju, iterative).
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); k];
    let mut inc: Vec<Vec<u32>> = vec![Vec::new(); k];
    for &(i, j, si, sj) in scored {
        if si {
            out[i as usize].push(j);
            inc[j as usize].push(i);
        }
        if sj {
            out[j as usize].push(i);
            inc[i as usize].push(j);
        }
    }
    let mut seen = vec![false; k];
    let mut order = Vec::with_capacity(k);
    for s in 0..k {
        if seen[s] {
            continue;
        }
        seen[s] = true;
        let mut stack: Vec<(usize, usize)> = vec![(s, 0)];
        while let Some((v, e)) = stack.pop() {
            if e < out[v].len() {
                stack.push((v, e + 1));
                let w = out[v][e] as usize;
                if !seen[w] {
                    seen[w] = true;
                    stack.push((w, 0));
                }
            } else {
                order.push(v);
            }
        }
    }
    // The last-finished vertex lies in a source component of the original graph;
    // collecting what reaches it along reversed edges gives that component.
    let root = *order.last().expect("k ≥ 2");
    let mut in_group = vec![false; k];
    in_group[root] = true;
    let mut stack = vec![root];
    while let Some(v) = stack.pop() {
        for &u in &inc[v] {
            let u = u as usize;
            if !in_group[u] {
                in_group[u] = true;
                stack.push(u);
            }
        }
    }
    if in_group.iter().all(|&x| x) {
        return Ok(());
    }
    // `root` reaches everyone (it has the largest finish time), so the group {v : v
    // reaches root} is the component of root; nobody outside it scored against it.
    let mut group: Vec<String> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    for (m, name) in models.iter().enumerate() {
        if in_group[m] {
            group.push(name.clone());
        } else {
            rest.push(name.clone());
        }
    }
    group.sort();
    rest.sort();
    Err(Error::NoFiniteMle { group, rest })
}

/// Hyperparameters of the Bradley–Terry fit.
///
/// | field | default | valid | meaning |
/// |---|---|---|---|
/// | `scale` | 400 | finite, > 0 | Elo scale: rating = scale / ln(base) · θ + … |
/// | `base` | 10 | finite, > 1 | odds base of the Elo scale |
/// | `init` | 1000 | finite | mean rating (unanchored) |
/// | `anchor` | none | a model of the data, finite rating | pin one model's rating instead of the mean |
/// | `prior_precision` | 0 | finite, ≥ 0 | τ of a N(0, 1/τ) prior on each θ (MAP); 0 = MLE |
/// | `grad_tol` | 1e-10 | finite, > 0 | stop when ‖∇f‖₂ of the mean NLL per battle is below |
/// | `max_iters` | 100 | ≥ 1 | Newton iterations |
#[derive(Debug, Clone, PartialEq)]
pub struct BtParams {
    /// Elo scale.
    pub scale: f64,
    /// Odds base.
    pub base: f64,
    /// Mean rating when unanchored.
    pub init: f64,
    /// `(model, rating)`: shift ratings so that this model has this rating.
    pub anchor: Option<(String, f64)>,
    /// Precision τ of a Gaussian prior θ ~ N(0, 1/τ) on each model (added to the total
    /// negative log-likelihood as τ/2 ‖θ‖²). 0 (default) is the plain MLE, which needs a
    /// connected comparison graph where no group is unbeaten; a small τ (e.g. 0.01,
    /// a prior sd of 10 in θ, ≈ 1,700 Elo) is a documented weak prior that makes every
    /// data set fit.
    pub prior_precision: f64,
    /// Gradient-norm tolerance of the mean NLL per battle.
    pub grad_tol: f64,
    /// Maximum Newton iterations.
    pub max_iters: u64,
}

impl Default for BtParams {
    fn default() -> Self {
        Self {
            scale: 400.0,
            base: 10.0,
            init: 1000.0,
            anchor: None,
            prior_precision: 0.0,
            grad_tol: 1e-10,
            max_iters: 100,
        }
    }
}

impl BtParams {
    /// Pins `model` at `rating`.
    pub fn anchor(mut self, model: impl Into<String>, rating: f64) -> Self {
        self.anchor = Some((model.into(), rating));
        self
    }
    /// Sets the prior precision τ.
    pub fn prior_precision(mut self, tau: f64) -> Self {
        self.prior_precision = tau;
        self
    }
    /// Sets the gradient tolerance.
    pub fn grad_tol(mut self, tol: f64) -> Self {
        self.grad_tol = tol;
        self
    }
    /// Sets the maximum number of iterations.
    pub fn max_iters(mut self, n: u64) -> Self {
        self.max_iters = n;
        self
    }
    /// Sets the mean rating.
    pub fn init(mut self, init: f64) -> Self {
        self.init = init;
        self
    }
    /// Sets the Elo scale.
    pub fn scale(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }
    /// Sets the odds base.
    pub fn base(mut self, base: f64) -> Self {
        self.base = base;
        self
    }
    /// Validates, then fits (see [`Checked::fit`]).
    pub fn fit(&self, data: &PairData) -> Result<BtFit> {
        self.clone().check()?.fit(data)
    }
}

impl ParamGuard for BtParams {
    fn validate(&self) -> Result<()> {
        positive("scale", self.scale)?;
        finite("base", self.base)?;
        if self.base <= 1.0 {
            return Err(Error::param(
                "base",
                format!("must be > 1, got {}", self.base),
            ));
        }
        finite("init", self.init)?;
        if let Some((m, r)) = &self.anchor {
            if m.is_empty() {
                return Err(Error::param("anchor", "model name must not be empty"));
            }
            finite("anchor", *r)?;
        }
        non_negative("prior_precision", self.prior_precision)?;
        positive("grad_tol", self.grad_tol)?;
        if self.max_iters == 0 {
            return Err(Error::param("max_iters", "must be ≥ 1"));
        }
        Ok(())
    }
}

/// A fitted Bradley–Terry model.
#[derive(Debug, Clone, PartialEq)]
pub struct BtFit {
    /// Strengths θ on the natural (logit) scale, centred (mean 0).
    pub theta: Vec<f64>,
    /// Ratings on the Elo scale (anchored if asked).
    pub ratings: Ratings,
    /// Newton iterations used.
    pub iterations: u64,
    /// Final ‖∇f‖₂ (mean NLL per battle).
    pub grad_norm: f64,
    /// Mean negative log-likelihood per battle at the optimum (prior term included).
    pub mean_nll: f64,
    /// Number of battles.
    pub n_battles: u64,
}

impl BtFit {
    /// P(i ≻ j) under the fitted model.
    pub fn prob(&self, i: usize, j: usize) -> f64 {
        sigmoid(self.theta[i] - self.theta[j])
    }
}

#[inline]
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The Bradley–Terry objective as an argmin problem: pair arrays and weights already
/// divided by the number of battles.
#[derive(Debug, Clone)]
pub struct BtProblem<'a> {
    k: usize,
    i: &'a [u32],
    j: &'a [u32],
    /// Score of i per pair / N.
    s: Vec<f64>,
    /// Battles per pair / N.
    n: Vec<f64>,
    /// τ / N.
    prior: f64,
}

impl<'a> BtProblem<'a> {
    /// Builds the problem for `k` models from pair indices `i[p] < j[p]`, scores of
    /// `i` (wins + ties/2) and battle counts per pair, and the prior precision τ.
    /// Weights are divided by the total number of battles.
    pub fn new(
        k: usize,
        i: &'a [u32],
        j: &'a [u32],
        mut s: Vec<f64>,
        mut n: Vec<f64>,
        prior_precision: f64,
    ) -> Self {
        let total: f64 = n.iter().sum();
        let inv = 1.0 / total;
        s.iter_mut().for_each(|x| *x *= inv);
        n.iter_mut().for_each(|x| *x *= inv);
        Self {
            k,
            i,
            j,
            s,
            n,
            prior: prior_precision * inv,
        }
    }

    /// Number of parameters.
    pub fn dim(&self) -> usize {
        self.k
    }

    /// Mean NLL per battle (plus prior).
    pub fn value(&self, t: &[f64]) -> f64 {
        let mut f = 0.0;
        for p in 0..self.s.len() {
            let d = t[self.i[p] as usize] - t[self.j[p] as usize];
            f += self.n[p] * softplus(d) - self.s[p] * d;
        }
        f + 0.5 * self.prior * t.iter().map(|x| x * x).sum::<f64>()
    }

    /// Value and gradient.
    pub fn value_grad(&self, t: &[f64]) -> (f64, Vec<f64>) {
        let mut f = 0.0;
        let mut g: Vec<f64> = t.iter().map(|x| self.prior * x).collect();
        for p in 0..self.s.len() {
            let (a, b) = (self.i[p] as usize, self.j[p] as usize);
            let d = t[a] - t[b];
            let e = (-d.abs()).exp();
            let sp = d.max(0.0) + e.ln_1p();
            let sig = if d >= 0.0 {
                1.0 / (1.0 + e)
            } else {
                e / (1.0 + e)
            };
            f += self.n[p] * sp - self.s[p] * d;
            let r = self.n[p] * sig - self.s[p];
            g[a] += r;
            g[b] -= r;
        }
        f += 0.5 * self.prior * t.iter().map(|x| x * x).sum::<f64>();
        (f, g)
    }

    /// The Hessian (a weighted graph Laplacian plus τ/N · I).
    pub fn hessian(&self, t: &[f64]) -> DMatrix<f64> {
        let k = self.k;
        let mut h = DMatrix::<f64>::zeros(k, k);
        for p in 0..self.s.len() {
            let (a, b) = (self.i[p] as usize, self.j[p] as usize);
            let sig = sigmoid(t[a] - t[b]);
            let w = self.n[p] * sig * (1.0 - sig);
            h[(a, a)] += w;
            h[(b, b)] += w;
            h[(a, b)] -= w;
            h[(b, a)] -= w;
        }
        for d in 0..k {
            h[(d, d)] += self.prior;
        }
        h
    }

    /// Cholesky factor of the gauge-fixed Hessian at `t` (H + c·11ᵀ without a prior,
    /// H + τ/N·I with one).
    pub fn hessian_factor(&self, t: &[f64]) -> Result<Cholesky<f64, Dyn>> {
        let k = self.k;
        let mut h = self.hessian(t);
        if self.prior == 0.0 {
            // H·1 = 0 and 1ᵀg = 0, so (H + c·11ᵀ) d = −g gives 1ᵀd = 0 and H d = −g.
            let c = h.trace() / (k * k) as f64;
            h.add_scalar_mut(c);
        }
        h.cholesky().ok_or_else(|| {
            Error::Optimizer(
                "the Hessian is not positive definite (ratings diverging?); set a prior".into(),
            )
        })
    }

    /// The Newton direction −H⁻¹g (minimum-norm when the Hessian is singular along 1).
    pub fn newton_direction(&self, t: &[f64], g: &[f64]) -> Result<Vec<f64>> {
        Ok(solve_factor(&self.hessian_factor(t)?, g))
    }
}

/// −F⁻¹g for a Cholesky factor F.
fn solve_factor(f: &Cholesky<f64, Dyn>, g: &[f64]) -> Vec<f64> {
    let rhs = DVector::from_iterator(g.len(), g.iter().map(|x| -x));
    f.solve(&rhs).as_slice().to_vec()
}

#[inline]
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

impl CostFunction for BtProblem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.value(p))
    }
}

impl Gradient for BtProblem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.value_grad(p).1)
    }
}

type BtState = IterState<Vec<f64>, Vec<f64>, (), (), (), f64>;

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Newton's method with Armijo backtracking for [`BtProblem`], stopping at a gradient
/// norm ≤ `tol`.
///
/// With `fixed` set it is the chord method: every step uses that one Hessian factor
/// (e.g. of the full-data fit, for bootstrap replicates) instead of refactoring the
/// Hessian; it converges linearly, with a rate given by how far the problem is from
/// the one the factor was built for, at O(pairs + k²) per step instead of O(k³).
#[derive(Debug, Clone, Copy)]
pub struct BtNewton<'f> {
    /// Gradient-norm tolerance.
    pub tol: f64,
    /// A fixed Hessian factor (chord method), or `None` for Newton's method.
    pub fixed: Option<&'f Cholesky<f64, Dyn>>,
}

/// Below this Newton decrement (−gᵀd) the full step is taken without a line search:
/// the iterate is in the quadratic-convergence region and cost differences are at
/// rounding level.
const PURE_NEWTON_DECREMENT: f64 = 1e-8;

impl<'a> Solver<BtProblem<'a>, BtState> for BtNewton<'_> {
    fn name(&self) -> &str {
        "Bradley–Terry Newton"
    }

    fn init(
        &mut self,
        problem: &mut Problem<BtProblem<'a>>,
        state: BtState,
    ) -> std::result::Result<(BtState, Option<KV>), argmin::core::Error> {
        let t = state
            .get_param()
            .cloned()
            .ok_or_else(|| argmin::core::Error::msg("no initial parameter"))?;
        let (f, g) = problem.problem("cost_count", |p| Ok(p.value_grad(&t)))?;
        Ok((state.param(t).cost(f).gradient(g), None))
    }

    fn next_iter(
        &mut self,
        problem: &mut Problem<BtProblem<'a>>,
        mut state: BtState,
    ) -> std::result::Result<(BtState, Option<KV>), argmin::core::Error> {
        let t = state
            .take_param()
            .ok_or_else(|| argmin::core::Error::msg("no parameter"))?;
        let g = state
            .take_gradient()
            .ok_or_else(|| argmin::core::Error::msg("no gradient"))?;
        let f = state.get_cost();
        let d = match self.fixed {
            Some(f) => solve_factor(f, &g),
            None => problem.problem("hessian_count", |p| {
                p.newton_direction(&t, &g)
                    .map_err(|e| argmin::core::Error::msg(e.to_string()))
            })?,
        };
        let slope: f64 = g.iter().zip(&d).map(|(a, b)| a * b).sum();
        let mut step = 1.0;
        let mut tries = 0;
        let (tn, fnew, gn) = loop {
            let tn: Vec<f64> = t.iter().zip(&d).map(|(x, y)| x + step * y).collect();
            let (fnew, gn) = problem.problem("cost_count", |p| Ok(p.value_grad(&tn)))?;
            if -slope < PURE_NEWTON_DECREMENT || fnew <= f + 1e-4 * step * slope {
                break (tn, fnew, gn);
            }
            tries += 1;
            if tries > 60 {
                return Err(argmin::core::Error::msg(
                    "line search failed to decrease the objective",
                ));
            }
            step *= 0.5;
        };
        let kv = argmin::kv!("step" => step; "grad_norm" => norm(&gn););
        Ok((state.param(tn).cost(fnew).gradient(gn), Some(kv)))
    }

    fn terminate(&mut self, state: &BtState) -> TerminationStatus {
        match state.get_gradient() {
            Some(g) if norm(g) <= self.tol => {
                TerminationStatus::Terminated(TerminationReason::SolverConverged)
            }
            _ => TerminationStatus::NotTerminated,
        }
    }
}

/// Chord steps tried before falling back to Newton's method (bootstrap replicates).
pub const CHORD_ITERS: u64 = 40;

/// Result of one Newton solve.
pub(crate) struct Solved {
    pub theta: Vec<f64>,
    pub iterations: u64,
    pub grad_norm: f64,
    pub cost: f64,
}

impl Checked<BtParams> {
    /// Fits Bradley–Terry to the pair data.
    pub fn fit(&self, data: &PairData) -> Result<BtFit> {
        let anchor = self.anchor_index(data.models())?;
        if self.prior_precision == 0.0 {
            data.check_identifiable()?;
        } else if data.n_models() < 2 || data.cells.is_empty() {
            return Err(Error::InvalidInput(
                "Bradley–Terry needs battles between at least two models".into(),
            ));
        }
        let (i, j): (Vec<u32>, Vec<u32>) = data.cells.iter().map(|c| (c.i, c.j)).unzip();
        let s: Vec<f64> = data.cells.iter().map(PairCell::score_i).collect();
        let n: Vec<f64> = data.cells.iter().map(|c| c.n() as f64).collect();
        let problem = BtProblem::new(data.n_models(), &i, &j, s, n, self.prior_precision);
        let solved = self.solve(problem, vec![0.0; data.n_models()])?;
        let ratings = Ratings {
            models: data.models.clone(),
            values: self.to_elo(&solved.theta, anchor),
        };
        Ok(BtFit {
            theta: solved.theta,
            ratings,
            iterations: solved.iterations,
            grad_norm: solved.grad_norm,
            mean_nll: solved.cost,
            n_battles: data.n_battles,
        })
    }

    /// Index of the anchor model, if any (error when it is not in `models`).
    pub(crate) fn anchor_index(&self, models: &[String]) -> Result<Option<usize>> {
        match &self.anchor {
            None => Ok(None),
            Some((m, _)) => {
                models
                    .iter()
                    .position(|x| x == m)
                    .map(Some)
                    .ok_or_else(|| Error::UnknownModel {
                        model: m.clone(),
                        context: "the anchor model does not appear in the battles".into(),
                    })
            }
        }
    }

    /// Runs the Newton solver from `x0`; θ is returned centred.
    pub(crate) fn solve(&self, problem: BtProblem<'_>, x0: Vec<f64>) -> Result<Solved> {
        self.solve_with(problem, x0, None)
    }

    /// Like `solve`, but first tries up to [`CHORD_ITERS`] chord steps with a fixed
    /// Hessian factor, then continues with Newton's method if needed.
    pub(crate) fn solve_with(
        &self,
        problem: BtProblem<'_>,
        x0: Vec<f64>,
        fixed: Option<&Cholesky<f64, Dyn>>,
    ) -> Result<Solved> {
        let (problem, x0, done) = match fixed {
            None => (problem, x0, 0),
            Some(f) => {
                let res = Executor::new(
                    problem,
                    BtNewton {
                        tol: self.grad_tol,
                        fixed: Some(f),
                    },
                )
                .configure(|s| s.param(x0).max_iters(CHORD_ITERS))
                .run()
                .map_err(|e| Error::Optimizer(e.to_string()))?;
                let (mut problem, state) = (res.problem, res.state);
                let g = state.get_gradient().map(|g| norm(g)).unwrap_or(f64::NAN);
                let iters = state.get_iter();
                let x = state
                    .get_param()
                    .cloned()
                    .ok_or_else(|| Error::Optimizer("no parameter returned".into()))?;
                let problem = problem
                    .take_problem()
                    .ok_or_else(|| Error::Optimizer("problem lost".into()))?;
                if g <= self.grad_tol {
                    return Ok(self.finish(x, iters, g, state.get_cost()));
                }
                (problem, x, iters)
            }
        };
        let res = Executor::new(
            problem,
            BtNewton {
                tol: self.grad_tol,
                fixed: None,
            },
        )
        .configure(|s| s.param(x0).max_iters(self.max_iters))
        .run()
        .map_err(|e| Error::Optimizer(e.to_string()))?;
        let state = res.state();
        let grad_norm = state.get_gradient().map(|g| norm(g)).unwrap_or(f64::NAN);
        let iterations = state.get_iter() + done;
        if grad_norm.is_nan() || grad_norm > self.grad_tol {
            return Err(Error::NotConverged {
                iters: iterations,
                grad_norm,
                tol: self.grad_tol,
            });
        }
        let theta = state
            .get_param()
            .cloned()
            .ok_or_else(|| Error::Optimizer("no parameter returned".into()))?;
        Ok(self.finish(theta, iterations, grad_norm, state.get_cost()))
    }

    fn finish(&self, mut theta: Vec<f64>, iterations: u64, grad_norm: f64, cost: f64) -> Solved {
        // The likelihood is invariant to a common shift: report the centred θ.
        // (With a prior the optimum already has mean 0.)
        let mean = theta.iter().sum::<f64>() / theta.len() as f64;
        theta.iter_mut().for_each(|x| *x -= mean);
        Solved {
            theta,
            iterations,
            grad_norm,
            cost,
        }
    }

    /// Converts centred θ to the Elo scale (anchored when `anchor` is given).
    pub(crate) fn to_elo(&self, theta: &[f64], anchor: Option<usize>) -> Vec<f64> {
        let c = self.scale / self.base.ln();
        let mut r: Vec<f64> = theta.iter().map(|t| c * t + self.init).collect();
        if let (Some(a), Some((_, rating))) = (anchor, &self.anchor) {
            let shift = rating - r[a];
            r.iter_mut().for_each(|x| *x += shift);
        }
        r
    }
}
