//! Probe comparison: cosine similarity of probe directions and the
//! cross-generalisation matrix (train on signal/layer A, test on B).

use pref_data::Matrix;

use crate::data::Element;
use crate::error::{Error, Result};
use crate::ridge::{metrics, Metrics};

/// One probe: `ŷ = intercept + x · direction`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Probe {
    /// A name for reports (signal, layer).
    pub name: String,
    /// Coefficients in activation units.
    pub direction: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
}

impl Probe {
    /// Target `t` of a fitted [`crate::LinearModel`].
    pub fn from_model(name: impl Into<String>, m: &crate::LinearModel, t: usize) -> Self {
        Self {
            name: name.into(),
            direction: m.coef[t].clone(),
            intercept: m.intercept[t],
        }
    }
}

/// Cosine similarity `a·b / (|a| |b|)`; 0 when either vector is zero.
pub fn cosine_similarity(a: &[f64], b: &[f64]) -> Result<f64> {
    if a.len() != b.len() {
        return Err(Error::Shape(format!(
            "probe directions of {} and {} features",
            a.len(),
            b.len()
        )));
    }
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    Ok(if na > 0.0 && nb > 0.0 {
        dot / (na * nb)
    } else {
        0.0
    })
}

/// `[i][j]` = cosine similarity of probes i and j.
pub fn cosine_matrix(probes: &[Probe]) -> Result<Vec<Vec<f64>>> {
    probes
        .iter()
        .map(|a| {
            probes
                .iter()
                .map(|b| cosine_similarity(&a.direction, &b.direction))
                .collect()
        })
        .collect()
}

/// A held-out set to test probes on: activations `[m × d]` and one target per row.
#[derive(Debug, Clone, Copy)]
pub struct TestSet<'a, T> {
    /// Name (signal, layer).
    pub name: &'a str,
    /// Activations.
    pub x: &'a Matrix<T>,
    /// Targets, one per row of `x`.
    pub y: &'a [f64],
}

/// `[a][b]` = metrics of probe `a` on test set `b`. Diagonal entries are the
/// ordinary held-out scores when probe a was trained on the training part of b.
pub fn cross_generalisation<T: Element>(
    probes: &[Probe],
    tests: &[TestSet<'_, T>],
) -> Result<Vec<Vec<Metrics>>> {
    for s in tests {
        if s.x.rows != s.y.len() {
            return Err(Error::Shape(format!(
                "test set `{}`: X is [{} × {}] but y has {} values",
                s.name,
                s.x.rows,
                s.x.cols,
                s.y.len()
            )));
        }
    }
    probes
        .iter()
        .map(|p| {
            tests
                .iter()
                .map(|s| {
                    if s.x.cols != p.direction.len() {
                        return Err(Error::Shape(format!(
                            "probe `{}` has {} features but test set `{}` X is [{} × {}]",
                            p.name,
                            p.direction.len(),
                            s.name,
                            s.x.rows,
                            s.x.cols
                        )));
                    }
                    let pred: Vec<f64> = (0..s.x.rows)
                        .map(|i| {
                            p.intercept
                                + s.x
                                    .row(i)
                                    .iter()
                                    .zip(&p.direction)
                                    .map(|(a, w)| a.to_f64() * w)
                                    .sum::<f64>()
                        })
                        .collect();
                    Ok(metrics(s.y, &pred))
                })
                .collect()
        })
        .collect()
}
