//! Robustness statistics across elicitation runs: utility correlations between
//! runs and the regression of those correlations on "factor matches".
//!
//! For runs `r`, `s` (for example two prompt templates) the response is the
//! correlation of their utilities over the outcomes both runs scored; the
//! regressors are indicators `1[factor_k(r) = factor_k(s)]` plus an intercept.
//! A large coefficient for a factor means runs that agree on it agree more.

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::{DMatrix, DVector};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, FisherSnedecor, StudentsT};

use crate::error::{Error, Result};
use crate::thurstonian::FittedThurstonian;

/// Pearson correlation, Spearman correlation and average ranks (pref-stats' one
/// convention): unequal lengths, fewer than 2 points or a non-finite value are an
/// error; a constant input gives NaN, as scipy.
pub use pref_stats::{average_ranks as ranks, pearson, spearman};

/// Which correlation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorrelationMethod {
    /// Pearson on the utilities.
    Pearson,
    /// Spearman on the utilities' ranks (the design's default for run agreement).
    #[default]
    Spearman,
}

impl CorrelationMethod {
    /// Correlation of two equally long vectors of at least 2 finite values (NaN for a
    /// constant one; see [`pearson`]).
    pub fn correlate(self, x: &[f64], y: &[f64]) -> Result<f64> {
        Ok(match self {
            Self::Pearson => pearson(x, y)?,
            Self::Spearman => spearman(x, y)?,
        })
    }
}

/// Utilities of one elicitation run and the factor levels that define it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UtilityRun {
    /// Run name.
    pub name: String,
    /// Utility per outcome id.
    pub utilities: BTreeMap<String, f64>,
    /// Factor levels (for example `order → "ab"`, `format → "xml"`).
    pub factors: BTreeMap<String, String>,
}

impl UtilityRun {
    /// A run from a fitted model's utilities.
    pub fn from_model(
        name: impl Into<String>,
        model: &FittedThurstonian,
        factors: BTreeMap<String, String>,
    ) -> Self {
        Self {
            name: name.into(),
            utilities: model
                .items()
                .iter()
                .cloned()
                .zip(model.mu().iter().copied())
                .collect(),
            factors,
        }
    }
}

/// Correlations between every two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorrelationMatrix {
    /// Run names (rows and columns).
    pub runs: Vec<String>,
    /// The correlation used.
    pub method: CorrelationMethod,
    /// `values[r][s]`: correlation over the outcomes both runs have (NaN where
    /// undefined, see [`run_correlation`]).
    pub values: Vec<Vec<f64>>,
    /// `n_shared[r][s]`: number of shared outcomes.
    pub n_shared: Vec<Vec<usize>>,
}

/// Correlation of two runs over their shared outcomes, and how many they share. The
/// correlation is NaN where it is undefined: fewer than 2 shared outcomes, a run whose
/// shared utilities are constant, or a non-finite utility.
pub fn run_correlation(r: &UtilityRun, s: &UtilityRun, method: CorrelationMethod) -> (f64, usize) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (id, &u) in &r.utilities {
        if let Some(&v) = s.utilities.get(id) {
            x.push(u);
            y.push(v);
        }
    }
    let c = method.correlate(&x, &y).unwrap_or(f64::NAN);
    (c, x.len())
}

/// The correlation matrix between runs over shared outcomes.
pub fn correlation_matrix(runs: &[UtilityRun], method: CorrelationMethod) -> CorrelationMatrix {
    let k = runs.len();
    let mut values = vec![vec![f64::NAN; k]; k];
    let mut n_shared = vec![vec![0; k]; k];
    for r in 0..k {
        for s in r..k {
            let (c, m) = run_correlation(&runs[r], &runs[s], method);
            values[r][s] = c;
            values[s][r] = c;
            n_shared[r][s] = m;
            n_shared[s][r] = m;
        }
    }
    CorrelationMatrix {
        runs: runs.iter().map(|r| r.name.clone()).collect(),
        method,
        values,
        n_shared,
    }
}

/// An ordinary least-squares fit with intercept (named `const`, as statsmodels),
/// minimum-norm where the design is rank-deficient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OlsFit {
    /// Coefficient names: `const`, then the regressors.
    pub names: Vec<String>,
    /// Coefficients (the minimum-norm solution: identical columns share their
    /// estimable sum equally).
    pub coef: Vec<f64>,
    /// Standard errors from `pinv(XᵀX)·σ̂²` (classical, homoskedastic).
    pub se: Vec<f64>,
    /// t statistics.
    pub t: Vec<f64>,
    /// Two-sided p-values (Student t with `df_resid` degrees of freedom).
    pub p: Vec<f64>,
    /// Coefficient of determination.
    pub r2: f64,
    /// Adjusted R² (with `df_resid`).
    pub adj_r2: f64,
    /// F statistic of the regression against the intercept-only model, on
    /// `rank − 1` and `df_resid` degrees of freedom.
    pub f_stat: f64,
    /// p-value of the F statistic.
    pub f_p: f64,
    /// Residual standard error.
    pub sigma: f64,
    /// Observations.
    pub n: usize,
    /// Numerical rank of the design (singular values above `max(n, p)·ε·s_max`).
    pub rank: usize,
    /// Residual degrees of freedom `n − p` (p = columns, as the seed study
    /// computed them; `n − rank` would be less conservative when rank < p).
    pub df_resid: usize,
    /// `pinv(XᵀX)·σ̂²`, the coefficients' covariance (row-major, p × p).
    #[serde(skip)]
    pub cov: Vec<Vec<f64>>,
}

/// The minimum-norm least-squares solution of `design · β ≈ y` by SVD, with
/// the rank cutoff of numpy's `matrix_rank` (singular values at most
/// `max(n, p)·ε·s_max` are zero). LAPACK drivers' default cutoffs (`rcond = -1`
/// is machine precision alone) keep the spurious singular values of real
/// designs with identical columns, and their solutions reach ±1e12.
/// Returns β, the rank and `pinv(XᵀX)`.
fn min_norm(
    design: &DMatrix<f64>,
    y: &DVector<f64>,
) -> Result<(DVector<f64>, usize, DMatrix<f64>)> {
    let (n, p) = design.shape();
    let svd = design.clone().svd(true, true);
    let (u, vt) = match (&svd.u, &svd.v_t) {
        (Some(u), Some(vt)) => (u, vt),
        _ => return Err(Error::LinearAlgebra("the SVD did not converge".into())),
    };
    let s = &svd.singular_values;
    let s_max = s.iter().copied().fold(0.0f64, f64::max);
    let cutoff = n.max(p) as f64 * f64::EPSILON * s_max;
    let mut beta = DVector::zeros(p);
    let mut xtx_pinv = DMatrix::zeros(p, p);
    let mut rank = 0;
    for (i, &si) in s.iter().enumerate() {
        if si <= cutoff || si == 0.0 {
            continue;
        }
        rank += 1;
        let v = vt.row(i).transpose();
        let uy = u.column(i).dot(y);
        beta += &v * (uy / si);
        xtx_pinv += &v * v.transpose() / (si * si);
    }
    Ok((beta, rank, xtx_pinv))
}

/// OLS of `y` on the columns of `x` (given as rows of regressors) plus an intercept.
///
/// A design of full rank gives statsmodels' `OLS` fit. A rank-deficient design
/// (a regressor that is constant or a combination of others) is fitted all the
/// same, by the minimum-norm solution, with its numerical rank reported: the
/// coefficients of aliased columns are then not separately identified (only
/// their estimable combinations are; see [`factor_regression`]).
pub fn ols(names: &[String], x: &[Vec<f64>], y: &[f64]) -> Result<OlsFit> {
    let n = y.len();
    if x.len() != n {
        return Err(Error::InvalidInput(format!(
            "{} rows of regressors for {n} responses",
            x.len()
        )));
    }
    let k = names.len();
    if let Some((i, row)) = x.iter().enumerate().find(|(_, r)| r.len() != k) {
        return Err(Error::InvalidInput(format!(
            "row {i} has {} regressors, expected {k}",
            row.len()
        )));
    }
    let p = k + 1;
    if n <= p {
        return Err(Error::InvalidInput(format!(
            "{n} observations cannot identify {p} coefficients (need more than {p})"
        )));
    }
    if y.iter().chain(x.iter().flatten()).any(|v| !v.is_finite()) {
        return Err(Error::InvalidInput(
            "non-finite value in the regression data".into(),
        ));
    }
    let design = DMatrix::from_fn(n, p, |r, c| if c == 0 { 1.0 } else { x[r][c - 1] });
    let yv = DVector::from_column_slice(y);
    let (beta, rank, xtx_pinv) = min_norm(&design, &yv)?;
    let mut all_names = vec!["const".to_string()];
    all_names.extend(names.iter().cloned());
    let resid = &yv - &design * &beta;
    let rss = resid.norm_squared();
    let ybar = y.iter().sum::<f64>() / n as f64;
    let tss: f64 = y.iter().map(|v| (v - ybar).powi(2)).sum();
    let df = n - p;
    let s2 = rss / df as f64;
    let tdist = StudentsT::new(0.0, 1.0, df as f64)
        .map_err(|e| Error::LinearAlgebra(format!("t distribution: {e}")))?;
    let two_sided = |t: f64| {
        if t.is_nan() {
            f64::NAN
        } else {
            2.0 * tdist.sf(t.abs())
        }
    };
    let cov = xtx_pinv * s2;
    let (mut se, mut t, mut pv) = (Vec::new(), Vec::new(), Vec::new());
    for j in 0..p {
        let s = cov[(j, j)].max(0.0).sqrt();
        let tj = beta[j] / s;
        se.push(s);
        t.push(tj);
        pv.push(two_sided(tj));
    }
    let r2 = if tss > 0.0 { 1.0 - rss / tss } else { f64::NAN };
    let adj_r2 = 1.0 - (1.0 - r2) * (n as f64 - 1.0) / df as f64;
    let df_model = rank.saturating_sub(1);
    let (f_stat, f_p) = if df_model > 0 && tss > 0.0 {
        let f = ((tss - rss) / df_model as f64) / s2;
        let fd = FisherSnedecor::new(df_model as f64, df as f64)
            .map_err(|e| Error::LinearAlgebra(format!("F distribution: {e}")))?;
        (f, if f.is_finite() { fd.sf(f) } else { 0.0 })
    } else {
        (f64::NAN, f64::NAN)
    };
    Ok(OlsFit {
        names: all_names,
        coef: beta.iter().copied().collect(),
        se,
        t,
        p: pv,
        r2,
        adj_r2,
        f_stat,
        f_p,
        sigma: s2.sqrt(),
        n,
        rank,
        df_resid: df,
        cov: (0..p)
            .map(|i| (0..p).map(|j| cov[(i, j)]).collect())
            .collect(),
    })
}

impl OlsFit {
    /// The estimate, standard error and two-sided p-value of the sum of the
    /// coefficients at `columns` (indices into `names`).
    pub fn sum_of(&self, columns: &[usize]) -> Estimate {
        let estimate: f64 = columns.iter().map(|&j| self.coef[j]).sum();
        let var: f64 = columns
            .iter()
            .flat_map(|&a| columns.iter().map(move |&b| (a, b)))
            .map(|(a, b)| self.cov[a][b])
            .sum();
        let se = var.max(0.0).sqrt();
        let t = estimate / se;
        let p = StudentsT::new(0.0, 1.0, self.df_resid as f64)
            .map(|d| 2.0 * d.sf(t.abs()))
            .unwrap_or(f64::NAN);
        Estimate {
            estimate,
            se,
            p: if t.is_nan() { f64::NAN } else { p },
        }
    }
}

/// An estimate with its standard error and two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The estimate.
    pub estimate: f64,
    /// Its standard error.
    pub se: f64,
    /// Two-sided p-value of estimate = 0.
    pub p: f64,
}

/// Factors whose match indicators are identical over the run pairs: only their
/// sum is estimable (the minimum-norm fit gives each an equal share).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasedGroup {
    /// The factors, by name.
    pub factors: Vec<String>,
    /// The sum of their coefficients.
    pub sum: Estimate,
}

/// The regression of run-pair correlations on factor-match indicators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorRegression {
    /// The fit: `const` + one coefficient per non-constant factor (sorted by name).
    pub fit: OlsFit,
    /// Factors left out because their match indicator is constant over the run
    /// pairs (for example a factor every run shares), with the constant value.
    pub constant: Vec<(String, f64)>,
    /// Groups of factors with identical indicators (sorted by name within and
    /// across groups), each with its estimable sum.
    pub aliased: Vec<AliasedGroup>,
    /// The run pairs `(r, s)` used, in the order of the observations.
    pub pairs: Vec<(usize, usize)>,
    /// The response: correlation of each run pair.
    pub y: Vec<f64>,
    /// Run pairs skipped because they share fewer than `min_shared` outcomes.
    pub n_skipped: usize,
    /// Run pairs skipped because their correlation is undefined (constant or
    /// non-finite utilities over the shared outcomes).
    pub n_undefined: usize,
}

/// The correlation of every two runs `r < s` that share at least `min_shared`
/// outcomes (and whose correlation is defined), with the counts of the others:
/// `(pairs, correlations, n_skipped, n_undefined)`.
fn pair_correlations(
    runs: &[UtilityRun],
    method: CorrelationMethod,
    min_shared: usize,
) -> (Vec<(usize, usize)>, Vec<f64>, usize, usize) {
    let (mut pairs, mut y, mut skipped, mut undefined) = (Vec::new(), Vec::new(), 0, 0);
    for r in 0..runs.len() {
        for s in (r + 1)..runs.len() {
            let (c, shared) = run_correlation(&runs[r], &runs[s], method);
            if shared < min_shared.max(2) {
                skipped += 1;
            } else if !c.is_finite() {
                undefined += 1;
            } else {
                pairs.push((r, s));
                y.push(c);
            }
        }
    }
    (pairs, y, skipped, undefined)
}

/// The factor names of `runs` (their union, sorted).
fn factor_names(runs: &[UtilityRun]) -> Vec<String> {
    let names: BTreeSet<&String> = runs.iter().flat_map(|r| r.factors.keys()).collect();
    names.into_iter().cloned().collect()
}

/// `1[factor(r) = factor(s)]` (a factor missing from a run never matches).
fn matches(runs: &[UtilityRun], r: usize, s: usize, factor: &str) -> f64 {
    match (runs[r].factors.get(factor), runs[s].factors.get(factor)) {
        (Some(a), Some(b)) if a == b => 1.0,
        _ => 0.0,
    }
}

/// Regresses the correlation of every two runs sharing at least `min_shared`
/// outcomes on `1[factor_k(r) = factor_k(s)]` plus an intercept.
///
/// Factors are the union of the runs' factor names. Indicators that are constant
/// over the run pairs cannot be estimated next to the intercept: they are left
/// out and reported in `constant`. Factors whose indicators are identical (real
/// designs change several factors together) are reported in `aliased`, with the
/// estimable sum of their coefficients; the fit is the minimum-norm solution
/// (see [`ols`]).
pub fn factor_regression(
    runs: &[UtilityRun],
    method: CorrelationMethod,
    min_shared: usize,
) -> Result<FactorRegression> {
    let (pairs, y, n_skipped, n_undefined) = pair_correlations(runs, method, min_shared);
    let factors = factor_names(runs);
    let columns: Vec<Vec<f64>> = factors
        .iter()
        .map(|f| pairs.iter().map(|&(r, s)| matches(runs, r, s, f)).collect())
        .collect();
    let mut keep = Vec::new();
    let mut constant = Vec::new();
    for (j, col) in columns.iter().enumerate() {
        let first = col.first().copied().unwrap_or(0.0);
        if col.iter().all(|&v| v == first) {
            constant.push((factors[j].clone(), first));
        } else {
            keep.push(j);
        }
    }
    let names: Vec<String> = keep.iter().map(|&j| factors[j].clone()).collect();
    let x: Vec<Vec<f64>> = (0..pairs.len())
        .map(|i| keep.iter().map(|&j| columns[j][i]).collect())
        .collect();
    let fit = ols(&names, &x, &y)?;
    // Identical columns, grouped in name order (`fit` column = kept index + 1).
    let mut grouped = vec![false; keep.len()];
    let mut aliased = Vec::new();
    for a in 0..keep.len() {
        if grouped[a] {
            continue;
        }
        let members: Vec<usize> = (a..keep.len())
            .filter(|&b| columns[keep[b]] == columns[keep[a]])
            .collect();
        if members.len() > 1 {
            for &m in &members {
                grouped[m] = true;
            }
            let cols: Vec<usize> = members.iter().map(|&m| m + 1).collect();
            aliased.push(AliasedGroup {
                factors: members.iter().map(|&m| names[m].clone()).collect(),
                sum: fit.sum_of(&cols),
            });
        }
    }
    Ok(FactorRegression {
        fit,
        constant,
        aliased,
        pairs,
        y,
        n_skipped,
        n_undefined,
    })
}

/// Run-level bootstrap intervals of a [`FactorRegression`].
///
/// Run pairs share runs, so the pairs are not independent observations and the
/// classical standard errors are optimistic. Each replicate draws the runs with
/// replacement, regresses the correlations of every two draws of different
/// runs on the same factors, and keeps the coefficients; the intervals are the
/// percentiles 2.5 and 97.5 over replicates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegressionBootstrap {
    /// Replicates fitted.
    pub replicates: usize,
    /// Replicates that could not be fitted (too few distinct run pairs).
    pub failed: usize,
    /// 95% interval of R².
    pub r2: [f64; 2],
    /// 95% interval of each coefficient of the fit (`const` first), by name.
    pub coefficients: BTreeMap<String, [f64; 2]>,
    /// 95% interval of each aliased group's sum, in the order of `aliased`.
    pub aliased_sums: Vec<[f64; 2]>,
}

/// The run-level bootstrap of `fitted` (the regression of `runs`, whose run
/// pairs and correlations it reuses): `n_boot` replicates, replicate `b` drawn
/// from [`pref_stats::replicate_rng`]`(seed, b)`.
///
/// A factor constant within a replicate is fitted there by the minimum-norm
/// rule like an aliased one (an all-ones column shares the intercept's value),
/// which widens its interval rather than hiding the replicate.
pub fn bootstrap_regression(
    runs: &[UtilityRun],
    fitted: &FactorRegression,
    n_boot: usize,
    seed: u64,
) -> RegressionBootstrap {
    use rand::Rng;
    use rayon::prelude::*;
    let k = runs.len();
    let names = &fitted.fit.names[1..];
    // Correlation of every two runs (NaN where the pair is not used) and their
    // match indicators, from the fit.
    let mut corr = vec![vec![f64::NAN; k]; k];
    for (&(r, s), &c) in fitted.pairs.iter().zip(&fitted.y) {
        corr[r][s] = c;
        corr[s][r] = c;
    }
    let rows: Vec<Vec<Vec<f64>>> = (0..k)
        .map(|r| {
            (0..k)
                .map(|s| names.iter().map(|f| matches(runs, r, s, f)).collect())
                .collect()
        })
        .collect();
    let fits: Vec<Option<OlsFit>> = (0..n_boot)
        .into_par_iter()
        .map(|b| {
            let mut rng = pref_stats::replicate_rng(seed, b as u64);
            let draw: Vec<usize> = (0..k).map(|_| rng.random_range(0..k)).collect();
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for a in 0..k {
                for c in (a + 1)..k {
                    let (r, s) = (draw[a], draw[c]);
                    if r != s && corr[r][s].is_finite() {
                        xs.push(rows[r][s].clone());
                        ys.push(corr[r][s]);
                    }
                }
            }
            ols(names, &xs, &ys).ok()
        })
        .collect();
    let ok: Vec<&OlsFit> = fits.iter().flatten().collect();
    let mut scratch = Vec::new();
    let mut interval =
        |values: Vec<f64>| pref_stats::percentile_interval(&values, 0.95, &mut scratch);
    let coefficients = fitted
        .fit
        .names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            (
                name.clone(),
                interval(ok.iter().map(|f| f.coef[j]).collect()),
            )
        })
        .collect();
    let aliased_sums = fitted
        .aliased
        .iter()
        .map(|g| {
            let cols: Vec<usize> = g
                .factors
                .iter()
                .filter_map(|f| fitted.fit.names.iter().position(|n| n == f))
                .collect();
            interval(
                ok.iter()
                    .map(|f| cols.iter().map(|&j| f.coef[j]).sum())
                    .collect(),
            )
        })
        .collect();
    RegressionBootstrap {
        replicates: ok.len(),
        failed: n_boot - ok.len(),
        r2: interval(ok.iter().map(|f| f.r2).collect()),
        coefficients,
        aliased_sums,
    }
}
