//! Personalised ranking, System C: a Bradley–Terry model with a global strength per
//! model, a per-(group, model) offset with a Gaussian prior and style covariates,
//! fitted jointly (see the crate README, section "Style-controlled personalised
//! Bradley–Terry").
//!
//! Observation i has a group g (a persona or user), models a ≠ b, an outcome
//! y ∈ {1 (a wins), ½ (tie), 0 (b wins)} and style differences x ∈ Rᴷ of a's answer
//! against b's. With
//!
//! ```text
//! z_i = (θ_a + δ_{g,a}) − (θ_b + δ_{g,b}) + β_s · x_i      (s = g, or one shared row)
//! L   = Σ_i [softplus(z_i) − y_i z_i] + τ_θ/2 ‖θ‖² + τ_δ/2 ‖δ‖² + τ_β/2 ‖β‖²
//! ```
//!
//! L is the negative log posterior of the Bradley–Terry model (Bradley & Terry 1952;
//! a tie counts half a win each way) with the style terms of LMArena's style control
//! (Li et al., "Does style matter? Disentangling style and substance in Chatbot
//! Arena", LMSYS blog, 2024) and independent Gaussian priors θ ~ N(0, 1/τ_θ),
//! δ ~ N(0, 1/τ_δ), β ~ N(0, 1/τ_β). It is strictly convex when τ_β > 0 (or the
//! features identify β), and minimised from 0 by L-BFGS (Liu & Nocedal 1989; argmin,
//! memory 10, Moré & Thuente 1994 line search) on Jacobi-scaled variables, which hands
//! over, once the scaled gradient is small, to damped Newton steps with the exact
//! Hessian (dense Cholesky up to [`COVARIANCE_MAX_DIM`] parameters, otherwise
//! conjugate gradients on Hessian–vector products with the forcing term
//! min(½, √‖∇L‖) of Eisenstat & Walker 1996); the fit stops at ‖∇L‖∞ ≤ `grad_tol`.
//! Gradient sums are compensated (Neumaier 1974) so that a tolerance on a *sum* over
//! many observations stays reachable.
//!
//! Standard errors are those of the Laplace approximation of the posterior (MacKay
//! 1992): Σ = H⁻¹ with H the Hessian of L at the optimum. The data see only
//! differences of θ, so the all-ones θ direction is an eigenvector of H with
//! eigenvalue τ_θ; θ is reported centred, with covariance CΣ_θθCᵀ (C = I − 11ᵀ/M),
//! which removes exactly that prior variance. At the optimum the mean of θ is 0 and
//! each group's offsets sum to 0 (the gradient along those directions is τ times the
//! sum).

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use nalgebra::DMatrix;
use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::bt::sigmoid;
use crate::error::{Error, Result};
use crate::params::{non_negative, positive, Checked, ParamGuard};

/// Up to this many parameters (M + G·M + rows·K) the Hessian is formed densely: the
/// Newton steps use its Cholesky factor and the standard errors are computed. Above
/// it the Newton steps use conjugate gradients and the standard errors are NaN
/// ([`StyleBtFit::covariance`] is false).
pub const COVARIANCE_MAX_DIM: usize = 3000;

/// L-BFGS memory (pairs of correction vectors).
const LBFGS_MEMORY: usize = 10;

/// L-BFGS hands over to Newton steps once the norm of the Jacobi-scaled gradient (a
/// proxy of the Newton decrement √(gᵀH⁻¹g)) is below this: the iterate is then well
/// inside the region where Newton's method converges quadratically, and one to three
/// steps reach `grad_tol` (on the 3,804-parameter test in `tests/style.rs`: 20 L-BFGS
/// iterations and 3 Newton steps, against 705 iterations of unscaled L-BFGS alone,
/// whose line search then works on cost differences at rounding level of the sum).
const NEWTON_HANDOVER: f64 = 1e-4;

/// Newton steps at most after L-BFGS (also bounded by what `max_iters` leaves).
const MAX_NEWTON_STEPS: u64 = 50;

/// One comparison: in `group`, model `a` against model `b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StyleObservation {
    /// Group (persona / user), an index into [`StyleData::groups`].
    pub group: usize,
    /// First model, an index into [`StyleData::models`].
    pub a: usize,
    /// Second model (≠ `a`).
    pub b: usize,
    /// 1 when `a` won, 0 when `b` won, 0.5 for a tie.
    pub outcome: f64,
    /// Style differences of `a`'s answer against `b`'s, one per
    /// [`StyleData::features`] (e.g. standardised [`relative_difference`]s).
    pub features: Vec<f64>,
}

/// Validated observations of System C with the names of models, groups and features.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleData {
    models: Vec<String>,
    groups: Vec<String>,
    features: Vec<String>,
    obs: Vec<StyleObservation>,
}

fn distinct(what: &str, names: &[String]) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for n in names {
        if !seen.insert(n.as_str()) {
            return Err(Error::InvalidInput(format!("{what}: `{n}` appears twice")));
        }
    }
    Ok(())
}

impl StyleData {
    /// Checks and wraps the observations: at least two models and one group, distinct
    /// names, and for every observation indices in range, `a != b`, `outcome` ∈
    /// {0, 0.5, 1}, as many finite `features` as feature names. Errors name the
    /// observation (0-based) and the field.
    pub fn new(
        models: Vec<String>,
        groups: Vec<String>,
        features: Vec<String>,
        obs: Vec<StyleObservation>,
    ) -> Result<Self> {
        if models.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "models: at least two are needed, got {}",
                models.len()
            )));
        }
        if groups.is_empty() {
            return Err(Error::InvalidInput(
                "groups: at least one is needed, got 0".into(),
            ));
        }
        distinct("models", &models)?;
        distinct("groups", &groups)?;
        distinct("features", &features)?;
        let (m, g, k) = (models.len(), groups.len(), features.len());
        for (i, o) in obs.iter().enumerate() {
            let bad = |msg: String| Err(Error::InvalidInput(format!("observation {i}: {msg}")));
            if o.group >= g {
                return bad(format!(
                    "`group` = {} is out of range ({g} groups)",
                    o.group
                ));
            }
            for (name, v) in [("a", o.a), ("b", o.b)] {
                if v >= m {
                    return bad(format!("`{name}` = {v} is out of range ({m} models)"));
                }
            }
            if o.a == o.b {
                return bad(format!(
                    "`a` and `b` are the same model ({} = `{}`)",
                    o.a, models[o.a]
                ));
            }
            if !(o.outcome == 0.0 || o.outcome == 0.5 || o.outcome == 1.0) {
                return bad(format!("`outcome` must be 0, 0.5 or 1, got {}", o.outcome));
            }
            if o.features.len() != k {
                return bad(format!(
                    "`features` has {} values but there are {k} feature names",
                    o.features.len()
                ));
            }
            if let Some(j) = o.features.iter().position(|x| !x.is_finite()) {
                return bad(format!(
                    "`features[{j}]` (`{}`) is not finite: {}",
                    features[j], o.features[j]
                ));
            }
        }
        Ok(Self {
            models,
            groups,
            features,
            obs,
        })
    }

    /// Model names.
    pub fn models(&self) -> &[String] {
        &self.models
    }
    /// Group names.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }
    /// Feature names.
    pub fn features(&self) -> &[String] {
        &self.features
    }
    /// The observations.
    pub fn observations(&self) -> &[StyleObservation] {
        &self.obs
    }
}

/// arena-rank's relative difference of a style count (length, headers, …) of two
/// answers: (a − b) / (a + b), where a total of 0 is replaced by 1 (as arena-rank's
/// `examples/example_utils.py`), so two zero counts give 0.
pub fn relative_difference(a: f64, b: f64) -> f64 {
    let total = a + b;
    (a - b) / if total == 0.0 { 1.0 } else { total }
}

/// Column means and sample standard deviations (ddof 1, as pandas' `std`) of feature
/// rows, to standardise style features as arena-rank does: (x − mean) / sd.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Standardizer {
    /// Column means.
    pub mean: Vec<f64>,
    /// Column sample sds; 1 for a column whose sd is 0 or not finite (a constant
    /// column, or a single row), which is then only centred.
    pub sd: Vec<f64>,
}

impl Standardizer {
    /// Fits on rows of equal length. Errors on no rows, ragged rows or a non-finite
    /// value (naming the row and column).
    pub fn fit(rows: &[Vec<f64>]) -> Result<Self> {
        let first = rows.first().ok_or_else(|| {
            Error::InvalidInput("Standardizer::fit: no feature rows to fit on".into())
        })?;
        let k = first.len();
        for (i, r) in rows.iter().enumerate() {
            if r.len() != k {
                return Err(Error::InvalidInput(format!(
                    "Standardizer::fit: row {i} has {} values but row 0 has {k}",
                    r.len()
                )));
            }
            if let Some(j) = r.iter().position(|x| !x.is_finite()) {
                return Err(Error::InvalidInput(format!(
                    "Standardizer::fit: row {i}, column {j} is not finite: {}",
                    r[j]
                )));
            }
        }
        let n = rows.len() as f64;
        let mean: Vec<f64> = (0..k)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let sd = (0..k)
            .map(|j| {
                let ss: f64 = rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum();
                let sd = (ss / (n - 1.0)).sqrt();
                if sd.is_finite() && sd > 0.0 {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Self { mean, sd })
    }

    /// (x − mean) / sd, column by column.
    ///
    /// # Panics
    /// When `x` does not have one value per fitted column.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        assert_eq!(
            x.len(),
            self.mean.len(),
            "Standardizer::apply: {} values for {} fitted columns",
            x.len(),
            self.mean.len()
        );
        x.iter()
            .zip(self.mean.iter().zip(&self.sd))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }
}

/// Hyperparameters of System C.
///
/// | field | default | valid | meaning |
/// |---|---|---|---|
/// | `strength_precision` τ_θ | 0.01 | finite, > 0 | prior precision of θ; pins only θ's common shift |
/// | `offset_precision` τ_δ | 1 | finite, > 0 | prior precision of the per-group offsets δ |
/// | `style_precision` τ_β | 1 | finite, ≥ 0 | prior precision (ridge) of the style coefficients β |
/// | `per_group_style` | true | — | one β row per group, or one shared row |
/// | `grad_tol` | 1e-9 | finite, > 0 | stop when ‖∇L‖∞ (of the sum) ≤ this |
/// | `max_iters` | 1000 | ≥ 1 | L-BFGS iterations plus Newton steps |
/// | `level` | 0.95 | (0, 1) | level of the Laplace intervals |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StyleBtParams {
    /// τ_θ of θ ~ N(0, 1/τ_θ). The likelihood sees only differences of θ, so this
    /// only fixes their common shift (θ is reported centred either way).
    pub strength_precision: f64,
    /// τ_δ of δ_{g,m} ~ N(0, 1/τ_δ): how far a group may move from the global strength.
    pub offset_precision: f64,
    /// τ_β of β ~ N(0, 1/τ_β); 0 leaves the style coefficients unpenalised (they must
    /// then be identified by the data).
    pub style_precision: f64,
    /// One row of style coefficients per group (true) or one shared row.
    pub per_group_style: bool,
    /// Tolerance on ‖∇L‖∞ of the summed objective.
    pub grad_tol: f64,
    /// Iterations at most: L-BFGS iterations plus the Newton steps that finish them.
    pub max_iters: u64,
    /// Level of the intervals estimate ± z·se.
    pub level: f64,
}

impl Default for StyleBtParams {
    fn default() -> Self {
        Self {
            strength_precision: 0.01,
            offset_precision: 1.0,
            style_precision: 1.0,
            per_group_style: true,
            grad_tol: 1e-9,
            max_iters: 1000,
            level: 0.95,
        }
    }
}

impl StyleBtParams {
    /// Sets τ_θ.
    pub fn strength_precision(mut self, tau: f64) -> Self {
        self.strength_precision = tau;
        self
    }
    /// Sets τ_δ.
    pub fn offset_precision(mut self, tau: f64) -> Self {
        self.offset_precision = tau;
        self
    }
    /// Sets τ_β.
    pub fn style_precision(mut self, tau: f64) -> Self {
        self.style_precision = tau;
        self
    }
    /// Per-group style coefficients (true) or one shared row (false).
    pub fn per_group_style(mut self, yes: bool) -> Self {
        self.per_group_style = yes;
        self
    }
    /// Sets the gradient tolerance.
    pub fn grad_tol(mut self, tol: f64) -> Self {
        self.grad_tol = tol;
        self
    }
    /// Sets the iteration limit.
    pub fn max_iters(mut self, n: u64) -> Self {
        self.max_iters = n;
        self
    }
    /// Sets the interval level.
    pub fn level(mut self, level: f64) -> Self {
        self.level = level;
        self
    }
    /// Validates, then fits (`Checked<StyleBtParams>::fit`).
    pub fn fit(&self, data: &StyleData) -> Result<StyleBtFit> {
        self.clone().check()?.fit(data)
    }
}

impl ParamGuard for StyleBtParams {
    fn validate(&self) -> Result<()> {
        positive("strength_precision", self.strength_precision)?;
        positive("offset_precision", self.offset_precision)?;
        non_negative("style_precision", self.style_precision)?;
        positive("grad_tol", self.grad_tol)?;
        if self.max_iters == 0 {
            return Err(Error::param("max_iters", "must be ≥ 1"));
        }
        Ok(pref_stats::open_unit_interval("level", self.level)?)
    }
}

fn vec_or_nan<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(d)?
        .into_iter()
        .map(|x| x.unwrap_or(f64::NAN))
        .collect())
}

fn rows_or_nan<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<Vec<f64>>, D::Error> {
    Ok(Vec::<Vec<Option<f64>>>::deserialize(d)?
        .into_iter()
        .map(|r| r.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        .collect())
}

/// A fitted System C model. Standard errors are NaN (JSON `null`) when
/// `covariance` is false.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StyleBtFit {
    /// Model names.
    pub models: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// Feature names.
    pub features: Vec<String>,
    /// Global strengths θ (logit scale), centred (mean 0), per model.
    pub strength: Vec<f64>,
    /// Their standard errors (of the centred θ).
    #[serde(deserialize_with = "vec_or_nan")]
    pub strength_se: Vec<f64>,
    /// Offsets δ, `[group][model]`.
    pub offsets: Vec<Vec<f64>>,
    /// Their standard errors, `[group][model]`.
    #[serde(deserialize_with = "rows_or_nan")]
    pub offset_se: Vec<Vec<f64>>,
    /// Style coefficients β, `[group][feature]`; a single row when they are shared.
    pub style: Vec<Vec<f64>>,
    /// Their standard errors, shaped like `style`.
    #[serde(deserialize_with = "rows_or_nan")]
    pub style_se: Vec<Vec<f64>>,
    /// Interval level.
    pub level: f64,
    /// Normal quantile Φ⁻¹((1 + level) / 2) of the intervals.
    pub z: f64,
    /// Whether the standard errors were computed (≤ [`COVARIANCE_MAX_DIM`] parameters).
    pub covariance: bool,
    /// L at the optimum (negative log posterior up to a constant; a sum).
    pub objective: f64,
    /// ‖∇L‖∞ at the optimum.
    pub grad_norm: f64,
    /// L-BFGS iterations plus Newton steps.
    pub iterations: u64,
    /// Number of observations fitted.
    pub n_observations: usize,
}

impl StyleBtFit {
    /// θ_m + δ_{g,m}: the persona's style-controlled strength of `model`.
    pub fn persona_strength(&self, group: usize, model: usize) -> f64 {
        self.strength[model] + self.offsets[group][model]
    }

    /// The style coefficients of `group` (the shared row when there is one row).
    pub fn style_of(&self, group: usize) -> &[f64] {
        if self.style.len() == 1 {
            &self.style[0]
        } else {
            &self.style[group]
        }
    }

    /// z of an (a, b) comparison in `group` with style differences `x`:
    /// persona strength of a − that of b + β_g · x.
    ///
    /// # Panics
    /// On an index out of range, or when `x` has not one value per feature.
    pub fn logit(&self, group: usize, a: usize, b: usize, x: &[f64]) -> f64 {
        let beta = self.style_of(group);
        assert_eq!(
            x.len(),
            beta.len(),
            "StyleBtFit::logit: {} feature values for {} features",
            x.len(),
            beta.len()
        );
        let s: f64 = beta.iter().zip(x).map(|(b, x)| b * x).sum();
        self.persona_strength(group, a) - self.persona_strength(group, b) + s
    }

    /// P(a beats b) = σ([`logit`](Self::logit)).
    pub fn prob(&self, group: usize, a: usize, b: usize, x: &[f64]) -> f64 {
        sigmoid(self.logit(group, a, b, x))
    }

    /// (estimate − z·se, estimate + z·se).
    pub fn interval(&self, estimate: f64, se: f64) -> (f64, f64) {
        (estimate - self.z * se, estimate + self.z * se)
    }
}

/// The objective over a flat parameter vector: θ (M), then δ (group-major, G·M), then
/// β (row-major, rows·K).
struct Objective {
    dim: usize,
    k: usize,
    /// Per observation: indices of θ_a, θ_b, δ_{g,a}, δ_{g,b}, and the first β index.
    idx: Vec<[usize; 5]>,
    /// Features, row-major (N·K).
    x: Vec<f64>,
    y: Vec<f64>,
    /// Prior precision of each parameter.
    prior: Vec<f64>,
}

/// Neumaier's compensated summation: adds `v` to (`sum`, `comp`).
#[inline]
fn add_comp(sum: &mut f64, comp: &mut f64, v: f64) {
    let t = *sum + v;
    if sum.abs() >= v.abs() {
        *comp += (*sum - t) + v;
    } else {
        *comp += (v - t) + *sum;
    }
    *sum = t;
}

#[inline]
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn inf_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0_f64, |m, x| {
        if x.abs() > m || x.is_nan() {
            x.abs()
        } else {
            m
        }
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Objective {
    fn new(data: &StyleData, p: &StyleBtParams) -> Self {
        let (m, g, k) = (data.models.len(), data.groups.len(), data.features.len());
        let rows = if p.per_group_style { g } else { 1 };
        let dim = m + g * m + rows * k;
        let mut prior = vec![p.strength_precision; m];
        prior.extend(std::iter::repeat_n(p.offset_precision, g * m));
        prior.extend(std::iter::repeat_n(p.style_precision, rows * k));
        let idx = data
            .obs
            .iter()
            .map(|o| {
                let s = if p.per_group_style { o.group } else { 0 };
                [
                    o.a,
                    o.b,
                    m + o.group * m + o.a,
                    m + o.group * m + o.b,
                    m + g * m + s * k,
                ]
            })
            .collect();
        Self {
            dim,
            k,
            idx,
            x: data
                .obs
                .iter()
                .flat_map(|o| o.features.iter().copied())
                .collect(),
            y: data.obs.iter().map(|o| o.outcome).collect(),
            prior,
        }
    }

    #[inline]
    fn logit(&self, i: usize, p: &[f64]) -> f64 {
        let [ta, tb, da, db, bs] = self.idx[i];
        let x = &self.x[i * self.k..(i + 1) * self.k];
        p[ta] - p[tb] + p[da] - p[db] + dot(&p[bs..bs + self.k], x)
    }

    fn prior_term(&self, p: &[f64]) -> f64 {
        0.5 * p
            .iter()
            .zip(&self.prior)
            .map(|(v, t)| t * v * v)
            .sum::<f64>()
    }

    fn value(&self, p: &[f64]) -> f64 {
        let (mut f, mut c) = (0.0, 0.0);
        for i in 0..self.y.len() {
            let z = self.logit(i, p);
            add_comp(&mut f, &mut c, softplus(z) - self.y[i] * z);
        }
        f + c + self.prior_term(p)
    }

    /// Value and gradient, both summed with compensation.
    fn value_grad(&self, p: &[f64]) -> (f64, Vec<f64>) {
        let k = self.k;
        let (mut f, mut fc) = (0.0, 0.0);
        let mut g = vec![0.0; self.dim];
        let mut gc = vec![0.0; self.dim];
        for i in 0..self.y.len() {
            let z = self.logit(i, p);
            add_comp(&mut f, &mut fc, softplus(z) - self.y[i] * z);
            let r = sigmoid(z) - self.y[i];
            let [ta, tb, da, db, bs] = self.idx[i];
            add_comp(&mut g[ta], &mut gc[ta], r);
            add_comp(&mut g[tb], &mut gc[tb], -r);
            add_comp(&mut g[da], &mut gc[da], r);
            add_comp(&mut g[db], &mut gc[db], -r);
            for (j, xj) in self.x[i * k..(i + 1) * k].iter().enumerate() {
                add_comp(&mut g[bs + j], &mut gc[bs + j], r * xj);
            }
        }
        for j in 0..self.dim {
            add_comp(&mut g[j], &mut gc[j], self.prior[j] * p[j]);
            g[j] += gc[j];
        }
        (f + fc + self.prior_term(p), g)
    }

    /// σ(z)(1 − σ(z)) per observation: the Hessian weights.
    fn weights(&self, p: &[f64]) -> Vec<f64> {
        (0..self.y.len())
            .map(|i| {
                let s = sigmoid(self.logit(i, p));
                s * (1.0 - s)
            })
            .collect()
    }

    /// The dense Hessian Σ_i w_i c_i c_iᵀ + diag(prior), c_i = ∂z_i/∂p.
    fn hessian(&self, p: &[f64]) -> DMatrix<f64> {
        let k = self.k;
        let mut h = DMatrix::<f64>::zeros(self.dim, self.dim);
        let mut at: Vec<usize> = Vec::with_capacity(4 + k);
        let mut co: Vec<f64> = Vec::with_capacity(4 + k);
        for (i, w) in self.weights(p).into_iter().enumerate() {
            let [ta, tb, da, db, bs] = self.idx[i];
            at.clear();
            co.clear();
            at.extend([ta, tb, da, db]);
            co.extend([1.0, -1.0, 1.0, -1.0]);
            at.extend(bs..bs + k);
            co.extend_from_slice(&self.x[i * k..(i + 1) * k]);
            for (&u, &cu) in at.iter().zip(&co) {
                let wu = w * cu;
                for (&v, &cv) in at.iter().zip(&co) {
                    h[(u, v)] += wu * cv;
                }
            }
        }
        for j in 0..self.dim {
            h[(j, j)] += self.prior[j];
        }
        h
    }

    /// (Σ_i w_i c_i c_iᵀ + diag(prior)) v.
    fn hess_vec(&self, w: &[f64], v: &[f64]) -> Vec<f64> {
        let k = self.k;
        let mut out: Vec<f64> = v.iter().zip(&self.prior).map(|(v, t)| t * v).collect();
        for (i, &wi) in w.iter().enumerate() {
            let [ta, tb, da, db, bs] = self.idx[i];
            let x = &self.x[i * k..(i + 1) * k];
            let t = wi * (v[ta] - v[tb] + v[da] - v[db] + dot(&v[bs..bs + k], x));
            out[ta] += t;
            out[tb] -= t;
            out[da] += t;
            out[db] -= t;
            for (o, xj) in out[bs..bs + k].iter_mut().zip(x) {
                *o += t * xj;
            }
        }
        out
    }

    /// The Hessian's diagonal (Jacobi preconditioner).
    fn hess_diag(&self, w: &[f64]) -> Vec<f64> {
        let k = self.k;
        let mut d = self.prior.clone();
        for (i, &wi) in w.iter().enumerate() {
            let [ta, tb, da, db, bs] = self.idx[i];
            for j in [ta, tb, da, db] {
                d[j] += wi;
            }
            for (o, xj) in d[bs..bs + k].iter_mut().zip(&self.x[i * k..(i + 1) * k]) {
                *o += wi * xj * xj;
            }
        }
        d
    }

    /// Newton direction −H⁻¹g by the dense Cholesky factor.
    fn newton_dense(&self, p: &[f64], g: &[f64]) -> Result<Vec<f64>> {
        let chol = self
            .hessian(p)
            .cholesky()
            .ok_or_else(not_positive_definite)?;
        let rhs = nalgebra::DVector::from_iterator(g.len(), g.iter().map(|x| -x));
        Ok(chol.solve(&rhs).as_slice().to_vec())
    }

    /// Inexact Newton direction: Jacobi-preconditioned conjugate gradients on
    /// H d = −g, stopped at ‖r‖₂ ≤ min(½, √‖g‖₂)·‖g‖₂ (Eisenstat & Walker 1996) or
    /// ‖r‖₂ ≤ `floor`.
    fn newton_cg(&self, p: &[f64], g: &[f64], floor: f64) -> Vec<f64> {
        let w = self.weights(p);
        let dinv: Vec<f64> = self
            .hess_diag(&w)
            .into_iter()
            .map(|d| if d > 0.0 { 1.0 / d } else { 1.0 })
            .collect();
        let gn = dot(g, g).sqrt();
        let tol = (gn.sqrt().min(0.5) * gn).max(floor);
        let mut d = vec![0.0; g.len()];
        let mut r: Vec<f64> = g.iter().map(|x| -x).collect();
        let mut zv: Vec<f64> = r.iter().zip(&dinv).map(|(a, b)| a * b).collect();
        let mut q = zv.clone();
        let mut rz = dot(&r, &zv);
        for _ in 0..(2 * g.len()).clamp(50, 2000) {
            if dot(&r, &r).sqrt() <= tol {
                break;
            }
            let hq = self.hess_vec(&w, &q);
            let qhq = dot(&q, &hq);
            if qhq <= 0.0 || !qhq.is_finite() {
                break;
            }
            let alpha = rz / qhq;
            for j in 0..d.len() {
                d[j] += alpha * q[j];
                r[j] -= alpha * hq[j];
            }
            zv = r.iter().zip(&dinv).map(|(a, b)| a * b).collect();
            let rz_new = dot(&r, &zv);
            let beta = rz_new / rz;
            rz = rz_new;
            for j in 0..q.len() {
                q[j] = zv[j] + beta * q[j];
            }
        }
        d
    }

    /// Standard errors from Σ = H⁻¹ = L⁻ᵀL⁻¹ (H = LLᵀ): Σ_jj = ‖L⁻¹e_j‖², and the
    /// centred θ variances diag(CΣ_θθC) from the first M columns of L⁻¹.
    fn standard_errors(&self, p: &[f64], m: usize) -> Result<(Vec<f64>, Vec<f64>)> {
        let n = self.dim;
        let l = self
            .hessian(p)
            .cholesky()
            .ok_or_else(not_positive_definite)?
            .l();
        // Column j of L⁻¹ (zero above j) by column-oriented forward substitution.
        let column = |j: usize| -> Vec<f64> {
            let mut x = vec![0.0; n - j];
            x[0] = 1.0;
            for c in j..n {
                let v = x[c - j] / l[(c, c)];
                x[c - j] = v;
                if v != 0.0 {
                    let col = l.column(c);
                    for r in c + 1..n {
                        x[r - j] -= v * col[r];
                    }
                }
            }
            x
        };
        let var: Vec<f64> = (0..n)
            .into_par_iter()
            .map(|j| column(j).iter().map(|v| v * v).sum::<f64>())
            .collect();
        // Σ_θθ[i][j] = col_i · col_j over the full length (θ are the first M).
        let cols: Vec<Vec<f64>> = (0..m).map(column).collect();
        let mut s = vec![vec![0.0; m]; m];
        for i in 0..m {
            for j in 0..=i {
                let (ci, cj) = (&cols[i], &cols[j]);
                // cols[i] starts at row i ≥ j: align cols[j] on rows i..n.
                let v = dot(ci, &cj[i - j..]);
                s[i][j] = v;
                s[j][i] = v;
            }
        }
        let mf = m as f64;
        let row_mean: Vec<f64> = s.iter().map(|r| r.iter().sum::<f64>() / mf).collect();
        let all_mean = row_mean.iter().sum::<f64>() / mf;
        let centred = (0..m)
            .map(|i| (s[i][i] - 2.0 * row_mean[i] + all_mean).max(0.0).sqrt())
            .collect();
        Ok((centred, var.into_iter().map(f64::sqrt).collect()))
    }
}

fn not_positive_definite() -> Error {
    Error::Optimizer(
        "the Hessian of the System C objective is not positive definite: a style \
         coefficient is not identified (style_precision = 0 with degenerate features, or \
         a group without observations); set style_precision > 0"
            .into(),
    )
}

/// The objective as an argmin problem in scaled variables p = s ∘ u, with
/// s_j = 1/√H_jj(0) (the Hessian's diagonal at the start, where every weight is ¼):
/// L-BFGS on u is L-BFGS with a fixed Jacobi preconditioner, which matters when the
/// scales of θ (informed by every observation), δ (by one group's) and β differ
/// widely. A non-finite parameter is an error, which stops the L-BFGS line search (the
/// Newton steps then take over).
struct Lbfgs<'a> {
    obj: &'a Objective,
    scale: Vec<f64>,
}

impl Lbfgs<'_> {
    fn unscale(&self, u: &[f64]) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        if !u.iter().all(|x| x.is_finite()) {
            return Err(argmin::core::Error::msg("non-finite parameter"));
        }
        Ok(u.iter().zip(&self.scale).map(|(u, s)| u * s).collect())
    }
}

impl CostFunction for Lbfgs<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, u: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.obj.value(&self.unscale(u)?))
    }
}

impl Gradient for Lbfgs<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, u: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        let (_, mut g) = self.obj.value_grad(&self.unscale(u)?);
        g.iter_mut().zip(&self.scale).for_each(|(g, s)| *g *= s);
        Ok(g)
    }
}

impl Checked<StyleBtParams> {
    /// Fits System C to `data` (see the module documentation).
    pub fn fit(&self, data: &StyleData) -> Result<StyleBtFit> {
        self.fit_with(data, COVARIANCE_MAX_DIM)
    }

    /// [`fit`](Self::fit) with the dense limit as a parameter (tests).
    pub(crate) fn fit_with(&self, data: &StyleData, dense_max: usize) -> Result<StyleBtFit> {
        let obj = Objective::new(data, self);
        let (m, g, k) = (data.models.len(), data.groups.len(), data.features.len());
        let rows = if self.per_group_style { g } else { 1 };
        let dense = obj.dim <= dense_max;
        let tol = self.grad_tol;

        // L-BFGS from 0 in the scaled variables. It stops when ‖∇_u L‖₂ is below
        // NEWTON_HANDOVER, or below tol·min s (which implies ‖∇L‖∞ < tol), at
        // `max_iters`, or when the line search can make no more progress.
        let scale: Vec<f64> = obj
            .hess_diag(&vec![0.25; obj.y.len()])
            .into_iter()
            .map(|d| if d > 0.0 { 1.0 / d.sqrt() } else { 1.0 })
            .collect();
        let min_scale = scale.iter().copied().fold(f64::INFINITY, f64::min).min(1.0);
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), LBFGS_MEMORY)
            .with_tolerance_grad((tol * min_scale).max(NEWTON_HANDOVER))
            .and_then(|s| s.with_tolerance_cost(0.0))
            .map_err(|e| Error::Optimizer(format!("L-BFGS settings: {e}")))?;
        let zero = vec![0.0; obj.dim];
        let problem = Lbfgs {
            obj: &obj,
            scale: scale.clone(),
        };
        let (mut p, mut iterations) = match Executor::new(problem, solver)
            .configure(|s| s.param(zero.clone()).max_iters(self.max_iters))
            .ctrlc(false)
            .run()
        {
            Ok(res) => {
                let st = res.state();
                let u = st
                    .get_param()
                    .filter(|u| u.iter().all(|x| x.is_finite()))
                    .or_else(|| st.get_best_param())
                    .cloned()
                    .unwrap_or_else(|| zero.clone());
                let p = u.iter().zip(&scale).map(|(u, s)| u * s).collect();
                (p, st.get_iter())
            }
            // An evaluation failed outside the line search: let Newton start from 0.
            Err(_) => (zero, 0),
        };
        let (mut f, mut grad) = obj.value_grad(&p);

        // Damped Newton steps (Armijo backtracking; the full step once the Newton
        // decrement −gᵀd is at rounding level of L).
        let budget = MAX_NEWTON_STEPS.min(self.max_iters.saturating_sub(iterations));
        let mut steps = 0;
        while inf_norm(&grad) > tol && steps < budget {
            let d = if dense {
                obj.newton_dense(&p, &grad)?
            } else {
                obj.newton_cg(&p, &grad, 0.1 * tol)
            };
            let slope = dot(&grad, &d);
            if slope.is_nan() || slope >= 0.0 {
                break;
            }
            let pure = -slope <= 1e-8 * f.abs().max(1.0);
            let mut step = 1.0;
            let mut accepted = None;
            for _ in 0..60 {
                let pn: Vec<f64> = p.iter().zip(&d).map(|(x, y)| x + step * y).collect();
                let (fnew, gnew) = obj.value_grad(&pn);
                if pure || fnew <= f + 1e-4 * step * slope {
                    accepted = Some((pn, fnew, gnew));
                    break;
                }
                step *= 0.5;
            }
            steps += 1;
            match accepted {
                Some((pn, fnew, gnew)) => {
                    p = pn;
                    f = fnew;
                    grad = gnew;
                }
                None => break,
            }
        }
        iterations += steps;
        let grad_norm = inf_norm(&grad);
        if grad_norm.is_nan() || grad_norm > tol {
            return Err(Error::Context {
                context: format!(
                    "System C (style Bradley–Terry) fit: raise `max_iters` (now {}) or loosen \
                     `grad_tol` (now {:e})",
                    self.max_iters, tol
                ),
                source: Box::new(Error::NotConverged {
                    iters: iterations,
                    grad_norm,
                    tol,
                }),
            });
        }

        let (strength_se, se) = if dense {
            obj.standard_errors(&p, m)?
        } else {
            (vec![f64::NAN; m], vec![f64::NAN; obj.dim])
        };
        let mean = p[..m].iter().sum::<f64>() / m as f64;
        let strength = p[..m].iter().map(|t| t - mean).collect();
        let split = |v: &[f64], n_rows: usize, width: usize| -> Vec<Vec<f64>> {
            (0..n_rows)
                .map(|r| v[r * width..(r + 1) * width].to_vec())
                .collect()
        };
        let z = Normal::standard().inverse_cdf(0.5 + self.level / 2.0);
        Ok(StyleBtFit {
            models: data.models.clone(),
            groups: data.groups.clone(),
            features: data.features.clone(),
            strength,
            strength_se,
            offsets: split(&p[m..m + g * m], g, m),
            offset_se: split(&se[m..m + g * m], g, m),
            style: split(&p[m + g * m..], rows, k),
            style_se: split(&se[m + g * m..], rows, k),
            level: self.level,
            z,
            covariance: dense,
            objective: f,
            grad_norm,
            iterations,
            n_observations: data.obs.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn data(groups: usize, models: usize, n: usize, seed: u64) -> StyleData {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let obs = (0..n)
            .map(|_| {
                let a = rng.random_range(0..models);
                let b = (a + 1 + rng.random_range(0..models - 1)) % models;
                let x = vec![rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5];
                let z = a as f64 * 0.3 - b as f64 * 0.3 + x[0];
                let u: f64 = rng.random();
                let outcome = if u < 0.1 {
                    0.5
                } else if rng.random::<f64>() < sigmoid(z) {
                    1.0
                } else {
                    0.0
                };
                StyleObservation {
                    group: rng.random_range(0..groups),
                    a,
                    b,
                    outcome,
                    features: x,
                }
            })
            .collect();
        let names = |p: &str, n: usize| (0..n).map(|i| format!("{p}{i}")).collect();
        StyleData::new(names("m", models), names("g", groups), names("f", 2), obs).unwrap()
    }

    /// The conjugate-gradient Newton steps (used above `COVARIANCE_MAX_DIM`) reach the
    /// same optimum as the dense ones.
    #[test]
    fn conjugate_gradient_newton_matches_dense() {
        let d = data(5, 4, 600, 7);
        for per_group in [true, false] {
            let p = StyleBtParams::default()
                .per_group_style(per_group)
                .check()
                .unwrap();
            let a = p.fit_with(&d, usize::MAX).unwrap();
            let b = p.fit_with(&d, 0).unwrap();
            assert!(a.covariance && !b.covariance);
            assert!(b.strength_se.iter().all(|s| s.is_nan()));
            assert!(b.grad_norm <= 1e-9, "{}", b.grad_norm);
            let flat = |f: &StyleBtFit| -> Vec<f64> {
                let mut v = f.strength.clone();
                v.extend(f.offsets.iter().flatten());
                v.extend(f.style.iter().flatten());
                v
            };
            for (x, y) in flat(&a).iter().zip(flat(&b)) {
                assert!((x - y).abs() < 1e-9, "{x} vs {y}");
            }
            assert!((a.objective - b.objective).abs() < 1e-9);
        }
    }

    /// value_grad's gradient and `hessian` against central differences.
    #[test]
    fn gradient_and_hessian_match_finite_differences() {
        let d = data(2, 3, 80, 3);
        let p = StyleBtParams::default().style_precision(0.5);
        let obj = Objective::new(&d, &p);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<f64> = (0..obj.dim).map(|_| rng.random::<f64>() - 0.5).collect();
        let (_, g) = obj.value_grad(&x);
        let h = obj.hessian(&x);
        let w = obj.weights(&x);
        let e = 1e-5;
        for j in 0..obj.dim {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[j] += e;
            xm[j] -= e;
            let fd = (obj.value(&xp) - obj.value(&xm)) / (2.0 * e);
            assert!((fd - g[j]).abs() < 1e-6, "grad {j}: {fd} vs {}", g[j]);
            let (gp, gm) = (obj.value_grad(&xp).1, obj.value_grad(&xm).1);
            let mut unit = vec![0.0; obj.dim];
            unit[j] = 1.0;
            let hv = obj.hess_vec(&w, &unit);
            for i in 0..obj.dim {
                let fd = (gp[i] - gm[i]) / (2.0 * e);
                assert!((fd - h[(i, j)]).abs() < 1e-6, "H[{i},{j}]");
                assert!((hv[i] - h[(i, j)]).abs() < 1e-12);
            }
        }
    }
}
