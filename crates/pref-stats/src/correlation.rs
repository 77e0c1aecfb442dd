//! Average ranks, Pearson's r and Spearman's ρ, as scipy defines them.
//!
//! Conventions (the same for every caller):
//! - Ranks are 1-based and tied values share their average rank
//!   (`scipy.stats.rankdata(method="average")`); a NaN among the values makes every
//!   rank NaN (scipy's default `nan_policy="propagate"`).
//! - The correlations need two inputs of equal length with at least two points, all
//!   finite; anything else is an [`Error`] (never a silent truncation).
//! - A constant input (every value equal, so zero variance) gives `Ok(NaN)`, as scipy
//!   (which warns `ConstantInputWarning` and returns NaN). Constancy is tested on the
//!   values themselves, so `[0.1, 0.1, 0.1]` is constant even though its computed
//!   variance need not be exactly 0.
//! - Pearson is computed as `numpy.corrcoef` computes it (covariance with 1/(n − 1),
//!   divided by each standard deviation, clipped to [−1, 1]), and Spearman is that
//!   Pearson on average ranks (as `scipy.stats.spearmanr`). Values agree with scipy to
//!   about 1e-15.

use crate::error::{Error, Result};

/// 1-based ranks with ties given their average rank, as
/// `scipy.stats.rankdata(v, method="average")`; all NaN if any value is NaN.
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    if v.iter().any(|a| a.is_nan()) {
        return vec![f64::NAN; n];
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        // Sorted positions i..=j (0-based) share the rank (i+1 + j+1)/2.
        let r = (i + j + 2) as f64 / 2.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// Pearson's correlation coefficient of paired values (see the module docs for the
/// conventions: errors on unequal lengths, fewer than 2 points or a non-finite value;
/// NaN for a constant input).
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    check("pearson", x, y)?;
    Ok(corrcoef(x, y))
}

/// Spearman's rank correlation ρ of paired values: Pearson's r of their average
/// ranks (same conventions as [`pearson`]).
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    check("spearman", x, y)?;
    Ok(corrcoef(&average_ranks(x), &average_ranks(y)))
}

/// Equal lengths, at least 2 points, every value finite.
fn check(what: &'static str, x: &[f64], y: &[f64]) -> Result<()> {
    if x.len() != y.len() {
        return Err(Error::LengthMismatch {
            x: x.len(),
            y: y.len(),
        });
    }
    if x.len() < 2 {
        return Err(Error::TooFew {
            what,
            needed: 2,
            got: x.len(),
        });
    }
    for (name, v) in [("x", x), ("y", y)] {
        if let Some(index) = v.iter().position(|a| !a.is_finite()) {
            return Err(Error::NonFinite { name, index });
        }
    }
    Ok(())
}

/// `numpy.corrcoef(x, y)[0, 1]` for checked input; NaN when either is constant.
fn corrcoef(x: &[f64], y: &[f64]) -> f64 {
    if x.iter().all(|&a| a == x[0]) || y.iter().all(|&b| b == y[0]) {
        return f64::NAN;
    }
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (da, db) = (a - mx, b - my);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    let f = 1.0 / (n - 1.0);
    ((sxy * f) / (sxx * f).sqrt() / (syy * f).sqrt()).clamp(-1.0, 1.0)
}
