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

/// An ordinary least-squares fit with intercept (named `const`, as statsmodels).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OlsFit {
    /// Coefficient names: `const`, then the regressors.
    pub names: Vec<String>,
    /// Coefficients.
    pub coef: Vec<f64>,
    /// Standard errors (classical, homoskedastic).
    pub se: Vec<f64>,
    /// t statistics.
    pub t: Vec<f64>,
    /// Two-sided p-values (Student t with `df_resid` degrees of freedom).
    pub p: Vec<f64>,
    /// Coefficient of determination.
    pub r2: f64,
    /// Adjusted R².
    pub adj_r2: f64,
    /// F statistic of the regression against the intercept-only model.
    pub f_stat: f64,
    /// p-value of the F statistic.
    pub f_p: f64,
    /// Residual standard error.
    pub sigma: f64,
    /// Observations.
    pub n: usize,
    /// Residual degrees of freedom `n − p`.
    pub df_resid: usize,
}

/// OLS of `y` on the columns of `x` (given as rows of regressors) plus an intercept.
///
/// Solved by a QR decomposition of the design matrix; a design of deficient rank
/// (a regressor that is constant or a combination of others) is an error naming it.
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
    let qr = design.clone().qr();
    let r = qr.r();
    let rmax = (0..p).map(|j| r[(j, j)].abs()).fold(0.0f64, f64::max);
    let mut all_names = vec!["const".to_string()];
    all_names.extend(names.iter().cloned());
    for j in 0..p {
        if r[(j, j)].abs() <= 1e-10 * rmax.max(1.0) {
            return Err(Error::LinearAlgebra(format!(
                "regressor `{}` is constant or collinear with the regressors before it",
                all_names[j]
            )));
        }
    }
    let qty = qr.q().transpose() * &yv;
    let beta = r
        .solve_upper_triangular(&qty)
        .ok_or_else(|| Error::LinearAlgebra("singular R in the QR solve".into()))?;
    let rinv = r
        .solve_upper_triangular(&DMatrix::identity(p, p))
        .ok_or_else(|| Error::LinearAlgebra("singular R in the QR solve".into()))?;
    let xtx_inv = &rinv * rinv.transpose();
    let resid = &yv - &design * &beta;
    let rss = resid.norm_squared();
    let ybar = y.iter().sum::<f64>() / n as f64;
    let tss: f64 = y.iter().map(|v| (v - ybar).powi(2)).sum();
    let df = n - p;
    let s2 = rss / df as f64;
    let tdist = StudentsT::new(0.0, 1.0, df as f64)
        .map_err(|e| Error::LinearAlgebra(format!("t distribution: {e}")))?;
    let mut se = Vec::with_capacity(p);
    let mut t = Vec::with_capacity(p);
    let mut pv = Vec::with_capacity(p);
    for j in 0..p {
        let s = (s2 * xtx_inv[(j, j)]).sqrt();
        let tj = beta[j] / s;
        se.push(s);
        t.push(tj);
        pv.push(if tj.is_nan() {
            f64::NAN
        } else {
            2.0 * tdist.sf(tj.abs())
        });
    }
    let r2 = if tss > 0.0 { 1.0 - rss / tss } else { f64::NAN };
    let adj_r2 = 1.0 - (1.0 - r2) * (n as f64 - 1.0) / df as f64;
    let (f_stat, f_p) = if k > 0 && tss > 0.0 {
        let f = ((tss - rss) / k as f64) / s2;
        let fd = FisherSnedecor::new(k as f64, df as f64)
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
        df_resid: df,
    })
}

/// The regression of run-pair correlations on factor-match indicators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorRegression {
    /// The OLS fit (`const` + one coefficient per factor kept).
    pub fit: OlsFit,
    /// Factors left out because their match indicator is constant over the run
    /// pairs (for example a factor every run shares), with the constant value.
    pub dropped: Vec<(String, f64)>,
    /// The run pairs `(r, s)` used, in the order of the observations.
    pub pairs: Vec<(usize, usize)>,
    /// The response: correlation of each run pair.
    pub y: Vec<f64>,
    /// Run pairs skipped because their correlation is undefined (< 2 shared outcomes,
    /// constant or non-finite utilities).
    pub n_skipped: usize,
}

/// Regresses the correlation of every two runs on `1[factor_k(r) = factor_k(s)]`.
///
/// Factors are the union of the runs' factor names (a factor missing from a run
/// never matches). Indicators that are constant over the run pairs cannot be
/// estimated next to the intercept and are reported in `dropped`.
pub fn factor_regression(
    runs: &[UtilityRun],
    method: CorrelationMethod,
) -> Result<FactorRegression> {
    let factors: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.factors.keys().map(String::as_str))
        .collect();
    let factors: Vec<&str> = factors.into_iter().collect();
    let mut pairs = Vec::new();
    let mut y = Vec::new();
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut n_skipped = 0;
    for r in 0..runs.len() {
        for s in (r + 1)..runs.len() {
            let (c, _) = run_correlation(&runs[r], &runs[s], method);
            if !c.is_finite() {
                n_skipped += 1;
                continue;
            }
            pairs.push((r, s));
            y.push(c);
            rows.push(
                factors
                    .iter()
                    .map(
                        |f| match (runs[r].factors.get(*f), runs[s].factors.get(*f)) {
                            (Some(a), Some(b)) if a == b => 1.0,
                            _ => 0.0,
                        },
                    )
                    .collect(),
            );
        }
    }
    let mut keep = Vec::new();
    let mut dropped = Vec::new();
    for (j, f) in factors.iter().enumerate() {
        let first = rows.first().map_or(0.0, |r| r[j]);
        if rows.iter().all(|r| r[j] == first) {
            dropped.push((f.to_string(), first));
        } else {
            keep.push(j);
        }
    }
    let names: Vec<String> = keep.iter().map(|&j| factors[j].to_string()).collect();
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| keep.iter().map(|&j| r[j]).collect())
        .collect();
    let fit = ols(&names, &x, &y)?;
    Ok(FactorRegression {
        fit,
        dropped,
        pairs,
        y,
        n_skipped,
    })
}
