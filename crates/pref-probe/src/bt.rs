//! Bradley–Terry probes: a linear score `s = Xw` of each item's activations,
//! fitted directly to pairwise choices between items (docs/probe.md).
//!
//! With `c_a`, `c_b` the times item `a` and item `b` of a pair were chosen and
//! `N = Σ (c_a + c_b)` over the training pairs, the objective is
//!
//! ```text
//! L(w) = (1/N) Σ_pairs [c_a·log(1 + e^{−(s_a − s_b)}) + c_b·log(1 + e^{s_a − s_b})] + (λ/2)‖w‖²
//! ```
//!
//! with no intercept (it would cancel in `s_a − s_b`). Its gradient is
//! `Xᵀr + λw`, where `r_i` sums `(c_b·σ(δ) − c_a·σ(−δ))/N` over the pairs in
//! which item `i` is `a` and subtracts it where it is `b` (`δ = s_a − s_b`): one
//! pass over X for the scores and one for the gradient, whatever the number of
//! pairs. L is strictly convex for λ > 0, so L-BFGS (argmin) finds its unique
//! minimiser. With standardisation, X's columns are centred and scaled on the
//! rows of the items that appear in training pairs (a constant column keeps
//! scale 1, as sklearn's `StandardScaler`), and the weights are also given per
//! raw feature (`w_j / scale_j`; the centring shifts every score alike).
//!
//! λ is chosen, when several are given, by the log loss on a seeded validation
//! share of the training pairs after fitting on the rest; the chosen λ is then
//! refitted on all training pairs.

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use pref_data::npy::Matrix;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Element;
use crate::error::{Error, Result};

/// The comparisons of two items, rows `a` and `b` of X.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairCounts {
    /// Row of the first item.
    pub a: usize,
    /// Row of the second item.
    pub b: usize,
    /// Times `a` was chosen.
    pub count_a: f64,
    /// Times `b` was chosen.
    pub count_b: f64,
}

/// Settings of [`fit_bt_probe`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BtProbeParams {
    /// L2 penalties to choose from (one: no tuning, the exact minimiser at it).
    pub lambdas: Vec<f64>,
    /// Standardise X's columns on the training items' rows.
    pub standardize: bool,
    /// Share of the training pairs held out to choose λ (0–1, exclusive).
    pub validation_fraction: f64,
    /// Seed of the validation split.
    pub seed: u64,
    /// L-BFGS iterations at most.
    pub max_iters: u64,
    /// Converged when the gradient's Euclidean norm is at most this at the
    /// end. The solver itself goes on until the norm is 100 times smaller or
    /// the objective stops changing in floating point, whichever comes first.
    pub tol_grad: f64,
    /// L-BFGS memory.
    pub memory: usize,
}

/// The default λ grid.
pub const DEFAULT_LAMBDAS: [f64; 7] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0];

impl Default for BtProbeParams {
    fn default() -> Self {
        Self {
            lambdas: DEFAULT_LAMBDAS.to_vec(),
            standardize: true,
            validation_fraction: 0.2,
            seed: 0,
            max_iters: 2000,
            tol_grad: 1e-6,
            memory: 10,
        }
    }
}

impl BtProbeParams {
    fn check(&self) -> Result<()> {
        if self.lambdas.is_empty() {
            return Err(Error::InvalidInput("lambdas: give at least one".into()));
        }
        if let Some(l) = self.lambdas.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
            return Err(Error::InvalidInput(format!(
                "lambdas: {l} is not a positive finite number (λ > 0 keeps the objective \
                 strictly convex)"
            )));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return Err(Error::InvalidInput(format!(
                "validation_fraction must be in (0, 1), got {}",
                self.validation_fraction
            )));
        }
        if self.max_iters == 0 || self.memory == 0 || self.tol_grad.is_nan() || self.tol_grad <= 0.0
        {
            return Err(Error::InvalidInput(
                "max_iters, memory and tol_grad must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Held-out quality of one λ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LambdaScore {
    /// The penalty.
    pub lambda: f64,
    /// Log loss on the validation pairs.
    pub validation_log_loss: f64,
    /// Pairwise accuracy on them (`None`: no decisive pair).
    pub validation_accuracy: Option<f64>,
}

/// A fitted Bradley–Terry probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BtProbe {
    /// The penalty used.
    pub lambda: f64,
    /// Weights on the features as fitted (standardised when asked).
    pub weights: Vec<f64>,
    /// Weights per raw feature (`weights / scale`).
    pub raw_weights: Vec<f64>,
    /// Column means used for standardisation (zeros without it).
    pub mean: Vec<f64>,
    /// Column scales (ones without standardisation).
    pub scale: Vec<f64>,
    /// The objective at the solution.
    pub objective: f64,
    /// L-BFGS iterations of the final fit.
    pub iterations: u64,
    /// Gradient norm at the solution.
    pub grad_norm: f64,
    /// Whether the gradient norm met `tol_grad` (otherwise `max_iters` ended
    /// the fit).
    pub converged: bool,
    /// The λ grid's validation scores (empty with one λ).
    pub validation: Vec<LambdaScore>,
    /// Training pairs used.
    pub n_train_pairs: usize,
}

impl BtProbe {
    /// Scores of every row of `x` (raw features): `x · raw_weights`, shifted
    /// like every other row by the centring, which cancels in differences.
    pub fn scores<T: Element>(&self, x: &Matrix<T>) -> Result<Vec<f64>> {
        if x.cols != self.raw_weights.len() {
            return Err(Error::Shape(format!(
                "X has {} columns but the probe has {} weights",
                x.cols,
                self.raw_weights.len()
            )));
        }
        Ok((0..x.rows)
            .map(|r| {
                x.row(r)
                    .iter()
                    .zip(&self.raw_weights)
                    .map(|(v, w)| v.to_f64() * w)
                    .sum()
            })
            .collect())
    }
}

/// How well scores predict the choices of some pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairMetrics {
    /// Share of decisive pairs (more choices of one side, different scores)
    /// whose higher-scored side is the one chosen more often.
    pub accuracy: Option<f64>,
    /// Pairs counted by `accuracy`.
    pub n_decisive: usize,
    /// Mean log loss per comparison: `(1/N) Σ [c_a·softplus(−δ) + c_b·softplus(δ)]`.
    pub log_loss: f64,
    /// Pairs.
    pub n_pairs: usize,
}

/// `log(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// The logistic function without overflow.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Accuracy and log loss of `scores` (one per row) on `pairs`.
pub fn pair_metrics(scores: &[f64], pairs: &[PairCounts]) -> PairMetrics {
    let (mut right, mut decisive, mut loss, mut n) = (0usize, 0usize, 0.0, 0.0);
    for p in pairs {
        let d = scores[p.a] - scores[p.b];
        loss += p.count_a * softplus(-d) + p.count_b * softplus(d);
        n += p.count_a + p.count_b;
        if p.count_a != p.count_b && d != 0.0 {
            decisive += 1;
            right += usize::from((d > 0.0) == (p.count_a > p.count_b));
        }
    }
    PairMetrics {
        accuracy: (decisive > 0).then(|| right as f64 / decisive as f64),
        n_decisive: decisive,
        log_loss: if n > 0.0 { loss / n } else { f64::NAN },
        n_pairs: pairs.len(),
    }
}

/// The objective and its gradient at `w`, for a dense row-major `z` (n × d).
pub fn bt_objective(
    z: &Matrix<f64>,
    pairs: &[PairCounts],
    w: &[f64],
    lambda: f64,
) -> (f64, Vec<f64>) {
    let d = z.cols;
    let s: Vec<f64> = (0..z.rows)
        .map(|r| z.row(r).iter().zip(w).map(|(x, w)| x * w).sum())
        .collect();
    let n: f64 = pairs.iter().map(|p| p.count_a + p.count_b).sum();
    let n = if n > 0.0 { n } else { 1.0 };
    let mut r = vec![0.0; z.rows];
    let mut loss = 0.0;
    for p in pairs {
        let delta = s[p.a] - s[p.b];
        loss += p.count_a * softplus(-delta) + p.count_b * softplus(delta);
        let g = (p.count_b * sigmoid(delta) - p.count_a * sigmoid(-delta)) / n;
        r[p.a] += g;
        r[p.b] -= g;
    }
    let mut grad: Vec<f64> = w.iter().map(|w| lambda * w).collect();
    for (row, &ri) in r.iter().enumerate() {
        if ri != 0.0 {
            for (g, x) in grad.iter_mut().zip(z.row(row)) {
                *g += ri * x;
            }
        }
    }
    debug_assert_eq!(grad.len(), d);
    let penalty = 0.5 * lambda * w.iter().map(|w| w * w).sum::<f64>();
    (loss / n + penalty, grad)
}

struct Problem<'a> {
    z: &'a Matrix<f64>,
    pairs: &'a [PairCounts],
    lambda: f64,
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, w: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(bt_objective(self.z, self.pairs, w, self.lambda).0)
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, w: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(bt_objective(self.z, self.pairs, w, self.lambda).1)
    }
}

struct Solved {
    w: Vec<f64>,
    objective: f64,
    iterations: u64,
    grad_norm: f64,
}

/// L-BFGS from zero, first aiming at a hundredth of `tol_grad`. Near the
/// optimum rounding can make the line search fail (no descent left to find);
/// the fit is then run again aiming at `tol_grad` itself, which stops before
/// that point.
fn solve(z: &Matrix<f64>, pairs: &[PairCounts], lambda: f64, p: &BtProbeParams) -> Result<Solved> {
    solve_to(z, pairs, lambda, p, p.tol_grad * 1e-2)
        .or_else(|_| solve_to(z, pairs, lambda, p, p.tol_grad))
}

fn solve_to(
    z: &Matrix<f64>,
    pairs: &[PairCounts],
    lambda: f64,
    p: &BtProbeParams,
    tol_grad: f64,
) -> Result<Solved> {
    let problem = Problem { z, pairs, lambda };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), p.memory)
        .with_tolerance_grad(tol_grad)
        .and_then(|s| s.with_tolerance_cost(0.0))
        .map_err(|e| Error::InvalidInput(format!("L-BFGS settings: {e}")))?;
    let res = Executor::new(problem, solver)
        .configure(|s| s.param(vec![0.0; z.cols]).max_iters(p.max_iters))
        .ctrlc(false)
        .run();
    let (w, iterations) = match res {
        Ok(r) => {
            let st = r.state();
            let w = st
                .get_best_param()
                .or_else(|| st.get_param())
                .cloned()
                .ok_or_else(|| Error::InvalidInput("L-BFGS returned no weights".into()))?;
            (w, st.get_iter())
        }
        Err(e) => {
            return Err(Error::InvalidInput(format!(
                "the Bradley–Terry probe's L-BFGS failed at λ = {lambda}: {e}"
            )))
        }
    };
    let (objective, g) = bt_objective(z, pairs, &w, lambda);
    Ok(Solved {
        grad_norm: g.iter().map(|x| x * x).sum::<f64>().sqrt(),
        w,
        objective,
        iterations,
    })
}

/// Checks pairs against `n` rows: indices in range, two different items,
/// finite non-negative counts.
pub fn check_pairs(pairs: &[PairCounts], n: usize, what: &str) -> Result<()> {
    for (k, p) in pairs.iter().enumerate() {
        if p.a >= n || p.b >= n {
            return Err(Error::Index(format!(
                "{what} pair {k}: rows {} and {} but X has {n} rows",
                p.a, p.b
            )));
        }
        if p.a == p.b {
            return Err(Error::InvalidInput(format!(
                "{what} pair {k}: an item compared with itself (row {})",
                p.a
            )));
        }
        if !(p.count_a >= 0.0 && p.count_b >= 0.0 && p.count_a.is_finite() && p.count_b.is_finite())
        {
            return Err(Error::InvalidInput(format!(
                "{what} pair {k}: counts must be finite and non-negative, got {} and {}",
                p.count_a, p.count_b
            )));
        }
    }
    Ok(())
}

/// Fits a Bradley–Terry probe of `x`'s rows on the training `pairs`.
pub fn fit_bt_probe<T: Element>(
    x: &Matrix<T>,
    pairs: &[PairCounts],
    params: &BtProbeParams,
) -> Result<BtProbe> {
    params.check()?;
    crate::data::check_finite("X", x)?;
    check_pairs(pairs, x.rows, "training")?;
    if pairs.iter().all(|p| p.count_a + p.count_b == 0.0) {
        return Err(Error::InvalidInput(
            "no training comparisons: every pair has zero counts".into(),
        ));
    }
    // Standardisation on the rows of the items in training pairs.
    let mut rows: Vec<usize> = pairs.iter().flat_map(|p| [p.a, p.b]).collect();
    rows.sort_unstable();
    rows.dedup();
    let (mean, scale) = if params.standardize {
        crate::ridge::standard_moments(x, &rows, true)
    } else {
        (vec![0.0; x.cols], vec![1.0; x.cols])
    };
    let mut data = Vec::with_capacity(x.rows * x.cols);
    for r in 0..x.rows {
        data.extend(
            x.row(r)
                .iter()
                .zip(mean.iter().zip(&scale))
                .map(|(v, (m, s))| (v.to_f64() - m) / s),
        );
    }
    let z = Matrix::new(x.rows, x.cols, data).expect("n × d values");

    let mut validation = Vec::new();
    let lambda = if params.lambdas.len() == 1 {
        params.lambdas[0]
    } else {
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(params.seed));
        let n_val = ((pairs.len() as f64 * params.validation_fraction).ceil() as usize)
            .clamp(1, pairs.len().saturating_sub(1).max(1));
        if pairs.len() < 2 {
            return Err(Error::InvalidInput(
                "choosing λ needs at least 2 training pairs (give one λ)".into(),
            ));
        }
        let val: Vec<PairCounts> = order[..n_val].iter().map(|&k| pairs[k]).collect();
        let fit: Vec<PairCounts> = order[n_val..].iter().map(|&k| pairs[k]).collect();
        let mut best: Option<(f64, f64)> = None;
        for &l in &params.lambdas {
            let s = solve(&z, &fit, l, params)?;
            let scores: Vec<f64> = (0..z.rows)
                .map(|r| z.row(r).iter().zip(&s.w).map(|(x, w)| x * w).sum())
                .collect();
            let m = pair_metrics(&scores, &val);
            validation.push(LambdaScore {
                lambda: l,
                validation_log_loss: m.log_loss,
                validation_accuracy: m.accuracy,
            });
            // Ties go to the larger penalty (the simpler probe).
            if best.is_none_or(|(bl, bv)| m.log_loss < bv || (m.log_loss == bv && l > bl)) {
                best = Some((l, m.log_loss));
            }
        }
        best.map(|b| b.0).unwrap_or(params.lambdas[0])
    };
    let s = solve(&z, pairs, lambda, params)?;
    let raw_weights = s.w.iter().zip(&scale).map(|(w, s)| w / s).collect();
    Ok(BtProbe {
        lambda,
        converged: s.grad_norm <= params.tol_grad,
        weights: s.w,
        raw_weights,
        mean,
        scale,
        objective: s.objective,
        iterations: s.iterations,
        grad_norm: s.grad_norm,
        validation,
        n_train_pairs: pairs.len(),
    })
}
