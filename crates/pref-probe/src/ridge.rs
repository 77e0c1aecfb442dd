//! Ridge regression with an unpenalised intercept: one decomposition of the
//! training design, then every α of the grid, leave-one-out (closed form) or
//! k-fold cross-validation, held-out R² and MSE.
//!
//! Notation: `Xs` is the training design after centring (and, optionally,
//! scaling to unit variance), `yc` the centred targets, `Xs = U S Vᵀ` its thin
//! SVD and `λ = s²`. For every α,
//! `β(α) = V diag(s/(s²+α)) Uᵀ yc`, the fitted values are
//! `ŷ = ȳ + U diag(λ/(λ+α)) Uᵀ yc` and the hat matrix diagonal is
//! `h_i = 1/n + Σ_j U_ij² λ_j/(λ_j+α)` (the `1/n` is the intercept's share,
//! which is refitted in every leave-one-out fold because it is not penalised).
//! The leave-one-out residual is `e_i/(1 − h_i)`.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self as tri, BlockStructure};
use faer::linalg::svd::{svd, svd_scratch, ComputeSvdVectors};
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use pref_data::Matrix;
use rayon::prelude::*;
use serde::Serialize;

use crate::data::{check_finite, Element};
use crate::error::{Error, Result};
use crate::tridiag::{quad_forms, Ldl, Reflector, Tridiag};

/// The default α grid of the probe study.
pub const DEFAULT_ALPHAS: [f64; 6] = [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0];

/// How α is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Cv {
    /// Efficient leave-one-out from the decomposition; α minimises the mean
    /// squared LOO error (as sklearn's `RidgeCV()`).
    Loo,
    /// k contiguous folds of the training rows (sklearn's unshuffled `KFold`);
    /// α maximises the mean R² over folds (as `cross_val_score` with the default
    /// scorer). One decomposition per fold.
    KFold(usize),
}

/// How the decomposition is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Solver {
    /// [`Solver::Tridiag`] (the fastest; see the crate README for its accuracy).
    Auto,
    /// Tridiagonalisation `Q T Qᵀ` of the smaller Gram matrix — `Xs Xsᵀ` (n × n)
    /// when n ≤ d, `XsᵀXs` (d × d) when n > d — without the eigenvectors of `T`:
    /// every α is an O(m) factorisation of `T + αI`.
    Tridiag,
    /// Symmetric eigendecomposition of the smaller Gram matrix (as `Tridiag`, plus
    /// the eigenvectors).
    Gram,
    /// Thin SVD of `Xs` (slower; exact also for α far below the largest λ·1e-10).
    Svd,
}

/// Hyperparameters of [`RidgeCv`]; validate with [`RidgeParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeParams {
    /// α grid (each finite and > 0).
    pub alphas: Vec<f64>,
    /// How α is chosen.
    pub cv: Cv,
    /// Fit an unpenalised intercept (centre X and y).
    pub fit_intercept: bool,
    /// Scale every feature to unit variance (population sd over the training rows)
    /// before the fit; coefficients are reported in the original units.
    pub standardize: bool,
    /// Decomposition route.
    pub solver: Solver,
    /// Use the rayon pool inside the linear algebra.
    pub parallel: bool,
}

impl Default for RidgeParams {
    fn default() -> Self {
        Self {
            alphas: DEFAULT_ALPHAS.to_vec(),
            cv: Cv::Loo,
            fit_intercept: true,
            standardize: false,
            solver: Solver::Auto,
            parallel: true,
        }
    }
}

/// [`RidgeParams`] that passed [`RidgeParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRidgeParams(RidgeParams);

impl RidgeParams {
    /// Validates the parameters.
    pub fn check(&self) -> Result<ValidRidgeParams> {
        if self.alphas.is_empty() {
            return Err(Error::param("alphas", "the grid is empty"));
        }
        for &a in &self.alphas {
            pref_stats::positive("alphas", a)?;
        }
        if let Cv::KFold(k) = self.cv {
            if k < 2 {
                return Err(Error::param("cv", format!("k-fold needs k ≥ 2, got {k}")));
            }
        }
        Ok(ValidRidgeParams(self.clone()))
    }
}

/// Held-out R² (denominator about the test mean, as sklearn's `r2_score`) and MSE.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// `1 − Σ(y − ŷ)² / Σ(y − ȳ)²`; for a constant `y`, 1 if the fit is exact, else 0.
    pub r2: f64,
    /// Mean squared error.
    pub mse: f64,
}

/// R² and MSE of predictions `pred` of `y`.
pub fn metrics(y: &[f64], pred: &[f64]) -> Metrics {
    assert_eq!(y.len(), pred.len(), "metrics: lengths differ");
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let ss_res: f64 = y.iter().zip(pred).map(|(a, b)| (a - b) * (a - b)).sum();
    let ss_tot: f64 = y.iter().map(|a| (a - mean) * (a - mean)).sum();
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else if ss_res == 0.0 {
        1.0
    } else {
        0.0
    };
    Metrics {
        r2,
        mse: ss_res / n,
    }
}

/// A linear model per target: `ŷ_t = intercept_t + x · coef_t`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinearModel {
    /// α each target was fitted with.
    pub alpha: Vec<f64>,
    /// `[target][feature]` coefficients in the units of the input activations.
    pub coef: Vec<Vec<f64>>,
    /// One intercept per target.
    pub intercept: Vec<f64>,
}

impl LinearModel {
    /// Number of targets.
    pub fn n_targets(&self) -> usize {
        self.coef.len()
    }

    /// Predictions `[rows × targets]` for the rows of `x`.
    pub fn predict<T: Element>(&self, x: &Matrix<T>) -> Result<Matrix<f64>> {
        let d = self.coef.first().map_or(0, Vec::len);
        if x.cols != d {
            return Err(Error::Shape(format!(
                "the model has {d} features but X is [{} × {}]",
                x.rows, x.cols
            )));
        }
        let t = self.n_targets();
        let mut out = Vec::with_capacity(x.rows * t);
        for i in 0..x.rows {
            let row = x.row(i);
            for (c, b) in self.coef.iter().zip(&self.intercept) {
                out.push(b + row.iter().zip(c).map(|(a, w)| a.to_f64() * w).sum::<f64>());
            }
        }
        Ok(Matrix::new(x.rows, t, out).expect("shape"))
    }

    /// R² and MSE per target on `(x, y)` (`y` is `[rows × targets]`).
    pub fn evaluate<T: Element>(&self, x: &Matrix<T>, y: &Matrix<f64>) -> Result<Vec<Metrics>> {
        if y.rows != x.rows || y.cols != self.n_targets() {
            return Err(Error::Shape(format!(
                "X is [{} × {}] and y is [{} × {}] for a model of {} targets",
                x.rows,
                x.cols,
                y.rows,
                y.cols,
                self.n_targets()
            )));
        }
        let p = self.predict(x)?;
        Ok((0..y.cols)
            .map(|t| metrics(&column(y, t), &column(&p, t)))
            .collect())
    }
}

fn column(m: &Matrix<f64>, t: usize) -> Vec<f64> {
    (0..m.rows).map(|i| m.data[i * m.cols + t]).collect()
}

/// The result of a cross-validated α sweep: every α's coefficients and CV
/// scores, and the α chosen per target.
#[derive(Debug, Clone)]
pub struct RidgeCv {
    /// The α grid.
    pub alphas: Vec<f64>,
    /// The CV scheme used.
    pub cv: Cv,
    /// Mean squared CV error, `[alpha][target]` (LOO: over the training rows;
    /// k-fold: mean of the fold MSEs).
    pub cv_mse: Vec<Vec<f64>>,
    /// k-fold only: mean fold R², `[alpha][target]`.
    pub cv_r2: Option<Vec<Vec<f64>>>,
    /// Per target, the index into `alphas` of the chosen α.
    pub best: Vec<usize>,
    /// Training rows and features.
    pub shape: (usize, usize),
    /// `d × (alphas · targets)`, column `a · T + t`.
    coef: Mat<f64>,
    intercept: Vec<f64>,
    n_targets: usize,
}

impl RidgeCv {
    /// Number of targets.
    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    /// The chosen α per target.
    pub fn best_alpha(&self) -> Vec<f64> {
        self.best.iter().map(|&a| self.alphas[a]).collect()
    }

    fn model_from(&self, pick: impl Fn(usize) -> usize) -> LinearModel {
        let t_n = self.n_targets;
        let (mut alpha, mut coef, mut intercept) = (vec![], vec![], vec![]);
        for t in 0..t_n {
            let a = pick(t);
            let c = a * t_n + t;
            alpha.push(self.alphas[a]);
            coef.push(self.coef.col_as_slice(c).to_vec());
            intercept.push(self.intercept[c]);
        }
        LinearModel {
            alpha,
            coef,
            intercept,
        }
    }

    /// The model of α index `a` for every target.
    pub fn model(&self, a: usize) -> LinearModel {
        self.model_from(|_| a)
    }

    /// Each target's model at its chosen α.
    pub fn best_model(&self) -> LinearModel {
        self.model_from(|t| self.best[t])
    }

    /// The same fit restricted to targets `0..t` (cheap: no refit).
    pub fn first_targets(self, t: usize) -> Self {
        let t_old = self.n_targets;
        if t >= t_old {
            return self;
        }
        let a_n = self.alphas.len();
        let coef = Mat::<f64>::from_fn(self.coef.nrows(), a_n * t, |j, c| {
            self.coef[(j, (c / t) * t_old + c % t)]
        });
        let intercept = (0..a_n * t)
            .map(|c| self.intercept[(c / t) * t_old + c % t])
            .collect();
        let cut = |v: Vec<Vec<f64>>| v.into_iter().map(|r| r[..t].to_vec()).collect();
        Self {
            cv_mse: cut(self.cv_mse),
            cv_r2: self.cv_r2.map(cut),
            best: self.best[..t].to_vec(),
            coef,
            intercept,
            n_targets: t,
            ..self
        }
    }

    /// Held-out metrics for every α: `[alpha][target]`, on `rows` of `x` and `y`.
    pub fn evaluate<T: Element>(
        &self,
        x: &Matrix<T>,
        y: &Matrix<f64>,
        rows: &[usize],
    ) -> Result<Vec<Vec<Metrics>>> {
        check_xy(x, y, rows)?;
        if x.cols != self.shape.1 || y.cols != self.n_targets {
            return Err(Error::Shape(format!(
                "the probes were fitted on {} features and {} targets; X is [{} × {}] and y [{} × {}]",
                self.shape.1, self.n_targets, x.rows, x.cols, y.rows, y.cols
            )));
        }
        let pred = predict_cols(x, rows, self.coef.as_ref(), &self.intercept, Par::Seq);
        let t_n = self.n_targets;
        let ys: Vec<Vec<f64>> = (0..t_n)
            .map(|t| rows.iter().map(|&r| y.data[r * y.cols + t]).collect())
            .collect();
        Ok((0..self.alphas.len())
            .map(|a| {
                (0..t_n)
                    .map(|t| metrics(&ys[t], pred.col_as_slice(a * t_n + t)))
                    .collect()
            })
            .collect())
    }
}

fn check_xy<T: Element>(x: &Matrix<T>, y: &Matrix<f64>, rows: &[usize]) -> Result<()> {
    if x.rows != y.rows {
        return Err(Error::Shape(format!(
            "X is [{} × {}] but y has {} rows (y is [{} × {}])",
            x.rows, x.cols, y.rows, y.rows, y.cols
        )));
    }
    if let Some((pos, r)) = rows.iter().enumerate().find(|(_, &r)| r >= x.rows) {
        return Err(Error::Index(format!(
            "row index {r} at position {pos} is out of range for X [{} × {}]",
            x.rows, x.cols
        )));
    }
    Ok(())
}

impl ValidRidgeParams {
    /// The validated parameters.
    pub fn params(&self) -> &RidgeParams {
        &self.0
    }

    fn par(&self) -> Par {
        if self.0.parallel {
            Par::rayon(0)
        } else {
            Par::Seq
        }
    }

    /// Fits on every row of `x` (`[n × d]`) and `y` (`[n × targets]`).
    pub fn fit<T: Element>(&self, x: &Matrix<T>, y: &Matrix<f64>) -> Result<RidgeCv> {
        let rows: Vec<usize> = (0..x.rows).collect();
        self.fit_rows(x, y, &rows)
    }

    /// Fits on the given rows of `x` and `y` (the training rows of a split).
    pub fn fit_rows<T: Element>(
        &self,
        x: &Matrix<T>,
        y: &Matrix<f64>,
        rows: &[usize],
    ) -> Result<RidgeCv> {
        check_xy(x, y, rows)?;
        check_finite("X", x)?;
        check_finite("y", y)?;
        let p = &self.0;
        let min_rows = match p.cv {
            Cv::Loo => 2,
            Cv::KFold(k) => k.max(3),
        };
        if rows.len() < min_rows {
            return Err(Error::InvalidInput(format!(
                "{} training rows: need at least {min_rows} for {:?}",
                rows.len(),
                p.cv
            )));
        }
        if x.cols == 0 || y.cols == 0 {
            return Err(Error::Shape(format!(
                "X is [{} × {}] and y [{} × {}]: need at least one feature and one target",
                x.rows, x.cols, y.rows, y.cols
            )));
        }
        let par = self.par();
        let (a_n, t_n) = (p.alphas.len(), y.cols);
        let design = Design::new(x, rows, p, par, matches!(p.cv, Cv::Loo))?;
        let yt = gather_y(y, rows);
        let out = design.sweep(yt.as_ref(), &p.alphas, matches!(p.cv, Cv::Loo));
        let (cv_mse, cv_r2) = match p.cv {
            Cv::Loo => (out.loo_mse.expect("requested"), None),
            Cv::KFold(k) => {
                let (mse, r2) = kfold(x, y, rows, k, p, par)?;
                (mse, Some(r2))
            }
        };
        let best = (0..t_n)
            .map(|t| {
                let score = |a: usize| match &cv_r2 {
                    Some(r2) => -r2[a][t],
                    None => cv_mse[a][t],
                };
                // First minimum in grid order; NaN counts as worst.
                (0..a_n).fold(0, |b, a| {
                    let (sa, sb) = (score(a), score(b));
                    if sa < sb || (sb.is_nan() && !sa.is_nan()) {
                        a
                    } else {
                        b
                    }
                })
            })
            .collect();
        Ok(RidgeCv {
            alphas: p.alphas.clone(),
            cv: p.cv,
            cv_mse,
            cv_r2,
            best,
            shape: (rows.len(), x.cols),
            coef: out.coef,
            intercept: out.intercept,
            n_targets: t_n,
        })
    }
}

/// k-fold CV: `([alpha][target] mean MSE, [alpha][target] mean R²)`.
type FoldScores = (Vec<Vec<f64>>, Vec<Vec<f64>>);

fn kfold<T: Element>(
    x: &Matrix<T>,
    y: &Matrix<f64>,
    rows: &[usize],
    k: usize,
    p: &RidgeParams,
    par: Par,
) -> Result<FoldScores> {
    let n = rows.len();
    if k > n {
        return Err(Error::param(
            "cv",
            format!("{k} folds for {n} training rows"),
        ));
    }
    let (a_n, t_n) = (p.alphas.len(), y.cols);
    let mut mse = vec![vec![0.0; t_n]; a_n];
    let mut r2 = vec![vec![0.0; t_n]; a_n];
    let mut start = 0;
    for f in 0..k {
        // sklearn's KFold: the first n % k folds have one extra row.
        let size = n / k + usize::from(f < n % k);
        let held = &rows[start..start + size];
        let train: Vec<usize> = rows[..start]
            .iter()
            .chain(&rows[start + size..])
            .copied()
            .collect();
        start += size;
        let design = Design::new(x, &train, p, par, false)?;
        let out = design.sweep(gather_y(y, &train).as_ref(), &p.alphas, false);
        let pred = predict_cols(x, held, out.coef.as_ref(), &out.intercept, par);
        for t in 0..t_n {
            let yt: Vec<f64> = held.iter().map(|&r| y.data[r * y.cols + t]).collect();
            for a in 0..a_n {
                let m = metrics(&yt, pred.col_as_slice(a * t_n + t));
                mse[a][t] += m.mse / k as f64;
                r2[a][t] += m.r2 / k as f64;
            }
        }
    }
    Ok((mse, r2))
}

/// `rows × targets` of `y`, column-major.
fn gather_y(y: &Matrix<f64>, rows: &[usize]) -> Mat<f64> {
    Mat::from_fn(rows.len(), y.cols, |i, t| y.data[rows[i] * y.cols + t])
}

/// `X[rows] · coef + intercept` for every column of `coef` (`d × c`).
fn predict_cols<T: Element>(
    x: &Matrix<T>,
    rows: &[usize],
    coef: MatRef<'_, f64>,
    intercept: &[f64],
    par: Par,
) -> Mat<f64> {
    let d = x.cols;
    // Row-major copy (a d × m column-major matrix): contiguous reads and writes.
    let mut xt = Mat::<f64>::zeros(d, rows.len());
    for (c, &r) in rows.iter().enumerate() {
        for (o, v) in xt.col_as_slice_mut(c).iter_mut().zip(x.row(r)) {
            *o = v.to_f64();
        }
    }
    let mut out = Mat::<f64>::from_fn(rows.len(), coef.ncols(), |_, c| intercept[c]);
    matmul(out.as_mut(), Accum::Add, xt.transpose(), coef, 1.0, par);
    out
}

/// The decomposition of one training design.
enum Basis {
    /// n ≤ d: eigenvectors `U` (n × n) of `Xs Xsᵀ`; `xt` is `Xsᵀ` (d × n) for
    /// `β = Xsᵀ U diag(1/(λ+α)) Uᵀ yc`; `skip` the column of `U` along the
    /// constant vector (see `Design::new`).
    Dual {
        xt: Mat<f64>,
        u: Mat<f64>,
        skip: Option<usize>,
    },
    /// n > d: eigenvectors `V` (d × d) of `XsᵀXs` and `Z = Xs V = U S` (n × d).
    Primal { v: Mat<f64>, z: Mat<f64> },
    /// n ≤ d, tridiagonal: `Wᵀ Xs Xsᵀ W = Q T Qᵀ`, `W` the first `m = n − 1`
    /// columns of the reflection `refl` with an intercept (`m = n`, `W = I`
    /// without). The first `m` columns of `bt` are `XsᵀW` (d × m); `p = W Q`
    /// (n × m, LOO only).
    TriDual {
        bt: Mat<f64>,
        tri: Tridiag,
        refl: Option<Reflector>,
        p: Option<Mat<f64>>,
    },
    /// n > d, tridiagonal: `XsᵀXs = Q T Qᵀ`; `a` is `Xs` (n × d), or `Y = Xs Q`
    /// when `rotated` (LOO).
    TriPrimal {
        tri: Tridiag,
        a: Mat<f64>,
        rotated: bool,
    },
    /// Thin SVD `Xs = U S Vᵀ`.
    Svd {
        u: Mat<f64>,
        s: Vec<f64>,
        v: Mat<f64>,
    },
}

struct Design {
    n: usize,
    mean: Vec<f64>,
    scale: Vec<f64>,
    fit_intercept: bool,
    /// `λ_j = s_j²`, clipped at 0.
    lam: Vec<f64>,
    basis: Basis,
    par: Par,
}

struct SweepOut {
    /// `d × (alphas · targets)` in original units.
    coef: Mat<f64>,
    intercept: Vec<f64>,
    /// `[alpha][target]`.
    loo_mse: Option<Vec<Vec<f64>>>,
}

fn sym_eig(g: Mat<f64>, par: Par) -> Result<(Vec<f64>, Mat<f64>)> {
    let n = g.nrows();
    let (lam, u) = Tridiag::new(g, par).eigen(par).map_err(|e| {
        Error::LinearAlgebra(format!(
            "eigendecomposition of a {n} × {n} Gram matrix: {e:?}"
        ))
    })?;
    Ok((lam.into_iter().map(|l| l.max(0.0)).collect(), u))
}

/// Training-row means (zero without an intercept) and scales (one without
/// standardisation) of the features.
fn moments<T: Element>(x: &Matrix<T>, rows: &[usize], p: &RidgeParams) -> (Vec<f64>, Vec<f64>) {
    let (mut mean, scale) = standard_moments(x, rows, p.standardize);
    if !p.fit_intercept {
        mean.iter_mut().for_each(|m| *m = 0.0);
    }
    (mean, scale)
}

/// Means and (with `standardize`) population standard deviations of the
/// features over `rows`, as sklearn's `StandardScaler` fits them: a
/// (numerically) constant feature keeps scale 1; without `standardize` every
/// scale is 1.
pub(crate) fn standard_moments<T: Element>(
    x: &Matrix<T>,
    rows: &[usize],
    standardize: bool,
) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = (rows.len(), x.cols);
    let mut mean = vec![0.0; d];
    for &r in rows {
        for (m, v) in mean.iter_mut().zip(x.row(r)) {
            *m += v.to_f64();
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut scale = vec![1.0; d];
    if standardize {
        let mut var = vec![0.0; d];
        for &r in rows {
            for ((v, m), s) in x.row(r).iter().zip(&mean).zip(var.iter_mut()) {
                let c = v.to_f64() - m;
                *s += c * c;
            }
        }
        for ((s, v), m) in scale.iter_mut().zip(&var).zip(&mean) {
            let sd = (v / n as f64).sqrt();
            // A (numerically) constant feature keeps scale 1, as sklearn's StandardScaler.
            *s = if sd > 10.0 * f64::EPSILON * m.abs().max(1.0) {
                sd
            } else {
                1.0
            };
        }
    }
    (mean, scale)
}

/// Runs `f(start, block)` on consecutive column blocks of `m` (64 wide), in
/// parallel when `par` allows (element-wise work: the same result either way).
fn for_col_blocks(m: &mut Mat<f64>, par: Par, f: impl Fn(usize, MatMut<'_, f64>) + Sync + Send) {
    const WIDTH: usize = 64;
    match par {
        Par::Rayon(_) => m
            .as_mut()
            .par_col_chunks_mut(WIDTH)
            .enumerate()
            .for_each(|(b, chunk)| f(b * WIDTH, chunk)),
        Par::Seq => {
            let n = m.ncols();
            for start in (0..n).step_by(WIDTH) {
                f(start, m.as_mut().subcols_mut(start, WIDTH.min(n - start)));
            }
        }
    }
}

/// `Xsᵀ` as a d × n column-major matrix: each training row is one contiguous column.
fn design_t<T: Element>(
    x: &Matrix<T>,
    rows: &[usize],
    mean: &[f64],
    scale: &[f64],
    par: Par,
) -> Mat<f64> {
    let mut xt = Mat::<f64>::zeros(x.cols, rows.len());
    let unit = scale.iter().all(|&s| s == 1.0);
    for_col_blocks(&mut xt, par, |start, mut block| {
        for c in 0..block.ncols() {
            let row = x.row(rows[start + c]);
            let col = block
                .rb_mut()
                .col_mut(c)
                .try_as_col_major_mut()
                .expect("column");
            let col = col.as_slice_mut();
            if unit {
                for ((o, v), m) in col.iter_mut().zip(row).zip(mean) {
                    *o = v.to_f64() - m;
                }
            } else {
                for (((o, v), m), s) in col.iter_mut().zip(row).zip(mean).zip(scale) {
                    *o = (v.to_f64() - m) / s;
                }
            }
        }
    });
    xt
}

/// `Xs` as an n × d column-major matrix (the layout in which faer's `XsᵀXs` and the
/// right application of `Q` are fastest when n > d): a transposing copy, 64
/// columns of the output at a time (in parallel when `par` allows), each filled
/// in runs of 64 rows so that reads and writes stay in cache.
fn design<T: Element>(
    x: &Matrix<T>,
    rows: &[usize],
    mean: &[f64],
    scale: &[f64],
    par: Par,
) -> Mat<f64> {
    const RUN: usize = 64;
    let (n, d) = (rows.len(), x.cols);
    let mut a = Mat::<f64>::zeros(n, d);
    for_col_blocks(&mut a, par, |j0, mut block| {
        for start in (0..n).step_by(RUN) {
            let run = &rows[start..n.min(start + RUN)];
            for c in 0..block.ncols() {
                let (j, m, s) = (j0 + c, mean[j0 + c], scale[j0 + c]);
                let col = block
                    .rb_mut()
                    .col_mut(c)
                    .try_as_col_major_mut()
                    .expect("column");
                let col = &mut col.as_slice_mut()[start..start + run.len()];
                for (o, &r) in col.iter_mut().zip(run) {
                    *o = (x.data[r * d + j].to_f64() - m) / s;
                }
            }
        }
    });
    a
}

/// Lower triangle of `lhs · rhs` (symmetric by construction).
fn gram_lower(lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    let k = lhs.nrows();
    let mut g = Mat::<f64>::zeros(k, k);
    tri::matmul(
        g.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        lhs,
        BlockStructure::Rectangular,
        rhs,
        BlockStructure::Rectangular,
        1.0,
        par,
    );
    g
}

impl Design {
    /// Centres (and scales) the training rows and decomposes them; `loo` prepares
    /// the leave-one-out hat values too.
    fn new<T: Element>(
        x: &Matrix<T>,
        rows: &[usize],
        p: &RidgeParams,
        par: Par,
        loo: bool,
    ) -> Result<Self> {
        let (n, d) = (rows.len(), x.cols);
        let (mean, scale) = moments(x, rows, p);
        let done = |lam: Vec<f64>, basis: Basis| Self {
            n,
            mean: mean.clone(),
            scale: scale.clone(),
            fit_intercept: p.fit_intercept,
            lam,
            basis,
            par,
        };
        let tridiag = matches!(p.solver, Solver::Auto | Solver::Tridiag);
        if tridiag && n > d {
            let mut a = design(x, rows, &mean, &scale, par);
            let tri = Tridiag::new(gram_lower(a.transpose(), a.as_ref(), par), par);
            if loo {
                tri.apply_q_right(a.as_mut(), par);
            }
            let basis = Basis::TriPrimal {
                tri,
                a,
                rotated: loo,
            };
            return Ok(done(vec![], basis));
        }
        let mut xt = design_t(x, rows, &mean, &scale, par);
        if tridiag {
            // With an intercept the centred rows sum to zero: rotate the constant
            // direction onto the last coordinate and drop it (`Reflector`), so the
            // intercept is handled exactly and `1 − h_i` needs no subtraction.
            let refl = (p.fit_intercept && n > 1).then(|| Reflector::new(n));
            let m = match &refl {
                Some(r) => {
                    r.apply_right(&mut xt, par);
                    n - 1
                }
                None => n,
            };
            let bt = xt.as_ref().subcols(0, m);
            let tri = Tridiag::new(gram_lower(bt.transpose(), bt, par), par);
            let p_mat = loo.then(|| {
                let q = tri.form_q(par);
                match &refl {
                    Some(r) => r.w(&q),
                    None => q,
                }
            });
            let basis = Basis::TriDual {
                bt: xt,
                tri,
                refl,
                p: p_mat,
            };
            return Ok(done(vec![], basis));
        }
        let (lam, basis) = match p.solver {
            Solver::Svd => {
                let k = n.min(d);
                let mut s = faer::diag::Diag::<f64>::zeros(k);
                let mut u = Mat::<f64>::zeros(n, k);
                let mut v = Mat::<f64>::zeros(d, k);
                // Sequential: faer's parallel SVD splits work by the thread count (its
                // bidiagonalisation sums per-thread partial products), which changes the
                // rounding. The SVD route is the slow cross-check anyway.
                let req = svd_scratch::<f64>(
                    n,
                    d,
                    ComputeSvdVectors::Thin,
                    ComputeSvdVectors::Thin,
                    Par::Seq,
                    Default::default(),
                );
                let mut buf = MemBuffer::new(req);
                svd(
                    xt.transpose(),
                    s.as_mut(),
                    Some(u.as_mut()),
                    Some(v.as_mut()),
                    Par::Seq,
                    MemStack::new(&mut buf),
                    Default::default(),
                )
                .map_err(|e| Error::LinearAlgebra(format!("thin SVD of [{n} × {d}]: {e:?}")))?;
                let s: Vec<f64> = s.column_vector().iter().copied().collect();
                (s.iter().map(|v| v * v).collect(), Basis::Svd { u, s, v })
            }
            Solver::Gram if n <= d => {
                let mut k = gram_lower(xt.transpose(), xt.as_ref(), par);
                // With an intercept the constant vector 1 is in the null space of the
                // centred Gram matrix, together with any other null directions (for
                // example repeated rows). Adding c·11ᵀ with c·n = 2·trace + 1 lifts it
                // to an isolated eigenvalue above all others, so its eigenvector is
                // 1/√n to rounding and can be left out of the penalised part; then
                // 1 − h_i = Σ_{j≠skip} U_ij² α/(λ_j+α) needs no subtraction (exact
                // even when h_i → 1). sklearn's `_RidgeGCV` does the same.
                if p.fit_intercept {
                    let trace: f64 = (0..n).map(|i| k[(i, i)]).sum();
                    let c = (2.0 * trace + 1.0) / n as f64;
                    for j in 0..n {
                        for i in j..n {
                            k[(i, j)] += c;
                        }
                    }
                }
                let (mut lam, u) = sym_eig(k, par)?;
                let skip = p.fit_intercept.then(|| {
                    (0..n)
                        .map(|j| (j, u.col_as_slice(j).iter().sum::<f64>().abs()))
                        .fold((0, f64::MIN), |b, c| if c.1 > b.1 { c } else { b })
                        .0
                });
                if let Some(j) = skip {
                    lam[j] = 0.0;
                }
                (lam, Basis::Dual { xt, u, skip })
            }
            Solver::Gram | Solver::Auto | Solver::Tridiag => {
                let g = gram_lower(xt.as_ref(), xt.transpose(), par);
                let (lam, v) = sym_eig(g, par)?;
                let mut z = Mat::<f64>::zeros(n, d);
                matmul(
                    z.as_mut(),
                    Accum::Replace,
                    xt.transpose(),
                    v.as_ref(),
                    1.0,
                    par,
                );
                (lam, Basis::Primal { v, z })
            }
        };
        Ok(done(lam, basis))
    }

    /// `1 − h_i` from the hat values `h` (`n × A`) of the centred fit, the
    /// intercept's `1/n` subtracted when there is one.
    fn one_minus_h(&self, h: &Mat<f64>) -> Mat<f64> {
        let base = if self.fit_intercept {
            1.0 / self.n as f64
        } else {
            0.0
        };
        Mat::<f64>::from_fn(h.nrows(), h.ncols(), |i, a| 1.0 - base - h[(i, a)])
    }

    /// Coefficients for every α and target, and (when `loo`) the mean squared
    /// leave-one-out error. `y` is `n × targets`.
    fn sweep(&self, y: MatRef<'_, f64>, alphas: &[f64], loo: bool) -> SweepOut {
        let (n, t_n, a_n) = (self.n, y.ncols(), alphas.len());
        let par = self.par;
        let ymean: Vec<f64> = (0..t_n)
            .map(|t| {
                if self.fit_intercept {
                    (0..n).map(|i| y[(i, t)]).sum::<f64>() / n as f64
                } else {
                    0.0
                }
            })
            .collect();
        let yc = Mat::<f64>::from_fn(n, t_n, |i, t| y[(i, t)] - ymean[t]);
        let lam = &self.lam;
        let k = lam.len();
        let c_n = a_n * t_n;
        // Column a·T + t of every n × (A·T) or k × (A·T) matrix below is (α_a, target t).
        let (coef_s, loo_parts) = match &self.basis {
            Basis::Dual { xt, u, skip } => {
                let mut q = Mat::<f64>::zeros(k, t_n);
                matmul(
                    q.as_mut(),
                    Accum::Replace,
                    u.transpose(),
                    yc.as_ref(),
                    1.0,
                    par,
                );
                let keep = |j: usize| Some(j) != *skip;
                // Dual coefficients a(α) = U diag(1/(λ+α)) Uᵀ yc.
                let wq = Mat::<f64>::from_fn(k, c_n, |j, c| {
                    if keep(j) {
                        q[(j, c % t_n)] / (lam[j] + alphas[c / t_n])
                    } else {
                        0.0
                    }
                });
                let mut dual = Mat::<f64>::zeros(n, c_n);
                matmul(
                    dual.as_mut(),
                    Accum::Replace,
                    u.as_ref(),
                    wq.as_ref(),
                    1.0,
                    par,
                );
                let mut coef = Mat::<f64>::zeros(xt.nrows(), c_n);
                matmul(
                    coef.as_mut(),
                    Accum::Replace,
                    xt.as_ref(),
                    dual.as_ref(),
                    1.0,
                    par,
                );
                let loo_parts = loo.then(|| {
                    // Residual e = yc − ŷc = Σ_{j≠skip} U_j α/(λ_j+α) q_j + U_skip q_skip
                    // = α·a(α) + U_skip q_skip (no cancellation for small α).
                    let resid = Mat::<f64>::from_fn(n, c_n, |i, c| {
                        let base = skip.map_or(0.0, |s| u[(i, s)] * q[(s, c % t_n)]);
                        alphas[c / t_n] * dual[(i, c)] + base
                    });
                    let u2 = Mat::<f64>::from_fn(n, k, |i, j| u[(i, j)] * u[(i, j)]);
                    let om = Mat::<f64>::from_fn(k, a_n, |j, a| {
                        if keep(j) {
                            alphas[a] / (lam[j] + alphas[a])
                        } else {
                            0.0
                        }
                    });
                    let mut omh = Mat::<f64>::zeros(n, a_n);
                    matmul(
                        omh.as_mut(),
                        Accum::Replace,
                        u2.as_ref(),
                        om.as_ref(),
                        1.0,
                        par,
                    );
                    (resid, omh)
                });
                (coef, loo_parts)
            }
            Basis::Primal { v, z } => {
                let mut q = Mat::<f64>::zeros(k, t_n);
                matmul(
                    q.as_mut(),
                    Accum::Replace,
                    z.transpose(),
                    yc.as_ref(),
                    1.0,
                    par,
                );
                let wq = Mat::<f64>::from_fn(k, c_n, |j, c| {
                    q[(j, c % t_n)] / (lam[j] + alphas[c / t_n])
                });
                let mut coef = Mat::<f64>::zeros(v.nrows(), c_n);
                matmul(
                    coef.as_mut(),
                    Accum::Replace,
                    v.as_ref(),
                    wq.as_ref(),
                    1.0,
                    par,
                );
                let loo_parts = loo.then(|| {
                    let resid = residuals(yc.as_ref(), z.as_ref(), wq.as_ref(), par);
                    let w = Mat::<f64>::from_fn(k, a_n, |j, a| 1.0 / (lam[j] + alphas[a]));
                    let h = hat_diag(z.as_ref(), w.as_ref(), par);
                    (resid, self.one_minus_h(&h))
                });
                (coef, loo_parts)
            }
            Basis::TriDual { bt, tri, refl, p } => {
                let m = tri.dim();
                // r = Qᵀ Wᵀ yc, S = (T + αI)⁻¹ r for every (α, target), then Q S.
                let mut r = match refl {
                    Some(w) => w.wt(yc.as_ref()),
                    None => yc.clone(),
                };
                tri.apply_qt(r.as_mut(), par);
                let ldl: Vec<Ldl> = alphas.iter().map(|&a| tri.ldl(a)).collect();
                let mut qs = solve_all(&ldl, r.as_ref(), m);
                tri.apply_q(qs.as_mut(), par);
                // Dual coefficients a(α) = (Xs Xsᵀ + αI)⁻¹ yc = W Q S, β = Xsᵀ a = (XsᵀW) Q S.
                let dual = match refl {
                    Some(w) => w.w(&qs),
                    None => qs.clone(),
                };
                let mut coef = Mat::<f64>::zeros(bt.nrows(), c_n);
                matmul(
                    coef.as_mut(),
                    Accum::Replace,
                    bt.as_ref().subcols(0, m),
                    qs.as_ref(),
                    1.0,
                    par,
                );
                let loo_parts = loo.then(|| {
                    // e = yc − ŷ = α a(α) and 1 − h_i = α p_iᵀ(T + αI)⁻¹p_i (p_i the rows
                    // of W Q; the intercept's 1/n is already out): no subtraction.
                    let p = p.as_ref().expect("the design was prepared for LOO");
                    let qf = quad_forms(p.as_ref(), &ldl, par);
                    let resid = Mat::<f64>::from_fn(n, c_n, |i, c| alphas[c / t_n] * dual[(i, c)]);
                    let omh = Mat::<f64>::from_fn(n, a_n, |i, a| alphas[a] * qf[(i, a)]);
                    (resid, omh)
                });
                (coef, loo_parts)
            }
            Basis::TriPrimal { tri, a, rotated } => {
                let m = tri.dim();
                // r = Qᵀ Xsᵀ yc (= Yᵀ yc once a holds Y = Xs Q).
                let mut r = Mat::<f64>::zeros(m, t_n);
                matmul(
                    r.as_mut(),
                    Accum::Replace,
                    a.transpose(),
                    yc.as_ref(),
                    1.0,
                    par,
                );
                if !rotated {
                    tri.apply_qt(r.as_mut(), par);
                }
                let ldl: Vec<Ldl> = alphas.iter().map(|&a| tri.ldl(a)).collect();
                let s = solve_all(&ldl, r.as_ref(), m);
                // β = (XsᵀXs + αI)⁻¹ Xsᵀ yc = Q S.
                let mut coef = s.clone();
                tri.apply_q(coef.as_mut(), par);
                let loo_parts = loo.then(|| {
                    assert!(*rotated, "the design was prepared for LOO");
                    // e = yc − Xs β = yc − Y S; h_i = 1/n + y_iᵀ(T + αI)⁻¹y_i.
                    let resid = residuals(yc.as_ref(), a.as_ref(), s.as_ref(), par);
                    let qf = quad_forms(a.as_ref(), &ldl, par);
                    (resid, self.one_minus_h(&qf))
                });
                (coef, loo_parts)
            }
            Basis::Svd { u, s, v } => {
                let mut q = Mat::<f64>::zeros(k, t_n);
                matmul(
                    q.as_mut(),
                    Accum::Replace,
                    u.transpose(),
                    yc.as_ref(),
                    1.0,
                    par,
                );
                let sq = Mat::<f64>::from_fn(k, c_n, |j, c| {
                    s[j] / (lam[j] + alphas[c / t_n]) * q[(j, c % t_n)]
                });
                let mut coef = Mat::<f64>::zeros(v.nrows(), c_n);
                matmul(
                    coef.as_mut(),
                    Accum::Replace,
                    v.as_ref(),
                    sq.as_ref(),
                    1.0,
                    par,
                );
                let loo_parts = loo.then(|| {
                    let phq = Mat::<f64>::from_fn(k, c_n, |j, c| {
                        lam[j] / (lam[j] + alphas[c / t_n]) * q[(j, c % t_n)]
                    });
                    let resid = residuals(yc.as_ref(), u.as_ref(), phq.as_ref(), par);
                    let phi = Mat::<f64>::from_fn(k, a_n, |j, a| lam[j] / (lam[j] + alphas[a]));
                    let h = hat_diag(u.as_ref(), phi.as_ref(), par);
                    (resid, self.one_minus_h(&h))
                });
                (coef, loo_parts)
            }
        };
        let (resid, one_minus_h) = loo_parts.unzip();
        let loo_mse = match (resid, one_minus_h) {
            (Some(e), Some(omh)) => Some(
                (0..a_n)
                    .map(|a| {
                        (0..t_n)
                            .map(|t| {
                                (0..n)
                                    .map(|i| {
                                        let r = e[(i, a * t_n + t)] / omh[(i, a)];
                                        r * r
                                    })
                                    .sum::<f64>()
                                    / n as f64
                            })
                            .collect()
                    })
                    .collect(),
            ),
            _ => None,
        };
        // Back to the input units: β = β_s / scale, intercept = ȳ − meanᵀβ.
        let d = coef_s.nrows();
        let coef = Mat::<f64>::from_fn(d, c_n, |j, c| coef_s[(j, c)] / self.scale[j]);
        let intercept = (0..c_n)
            .map(|c| ymean[c % t_n] - (0..d).map(|j| self.mean[j] * coef[(j, c)]).sum::<f64>())
            .collect();
        SweepOut {
            coef,
            intercept,
            loo_mse,
        }
    }
}

/// LOO residuals of every (α, target): column `a·T + t` is `yc[:, t] − basis ·
/// coefs[:, a·T + t]`.
fn residuals(
    yc: MatRef<'_, f64>,
    basis: MatRef<'_, f64>,
    coefs: MatRef<'_, f64>,
    par: Par,
) -> Mat<f64> {
    let t_n = yc.ncols();
    let mut resid = Mat::<f64>::from_fn(yc.nrows(), coefs.ncols(), |i, c| yc[(i, c % t_n)]);
    matmul(resid.as_mut(), Accum::Add, basis, coefs, -1.0, par);
    resid
}

/// `S[:, a·T + t] = (T + α_a I)⁻¹ r[:, t]` (`m × (A·T)`).
fn solve_all(ldl: &[Ldl], r: MatRef<'_, f64>, m: usize) -> Mat<f64> {
    let t_n = r.ncols();
    let mut s = Mat::<f64>::zeros(m, ldl.len() * t_n);
    for c in 0..ldl.len() * t_n {
        let col = s.col_as_slice_mut(c);
        for (i, o) in col.iter_mut().enumerate() {
            *o = r[(i, c % t_n)];
        }
        ldl[c / t_n].solve(col);
    }
    s
}

/// `h[i, a] = Σ_j L_ij² W_ja`, in blocks of rows so that `L∘L` is never held whole.
fn hat_diag(l: MatRef<'_, f64>, w: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    let (n, k) = l.shape();
    let mut h = Mat::<f64>::zeros(n, w.ncols());
    const BLOCK: usize = 512;
    let mut start = 0;
    while start < n {
        let m = BLOCK.min(n - start);
        let sq = Mat::<f64>::from_fn(m, k, |i, j| {
            let v = l[(start + i, j)];
            v * v
        });
        matmul(
            h.as_mut().subrows_mut(start, m),
            Accum::Replace,
            sq.as_ref(),
            w,
            1.0,
            par,
        );
        start += m;
    }
    h
}
