//! The probe study in one call: fit with α selection on the training rows,
//! held-out metrics for every α, and the two noise baselines (shuffled labels,
//! random Gaussian activations), both through the same α selection.

use pref_data::Matrix;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::Serialize;

use crate::data::{Element, Split};
use crate::error::{Error, Result};
use crate::ridge::{Metrics, RidgeCv, ValidRidgeParams};

/// How the shuffled-labels baseline permutes the training targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shuffle {
    /// `y_shuffled[i] = y_train[perm[i]]` (a permutation of `0..n_train`).
    Permutation(Vec<usize>),
    /// A ChaCha8 permutation from this seed.
    Seed(u64),
}

/// Which baselines to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baselines {
    /// Shuffled training labels (`None`: skip).
    pub shuffle: Option<Shuffle>,
    /// Seed of the random Gaussian activations (`None`: skip).
    pub random_seed: Option<u64>,
}

/// One α of the table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlphaRow {
    /// α.
    pub alpha: f64,
    /// Held-out R².
    pub test_r2: f64,
    /// Held-out MSE.
    pub test_mse: f64,
    /// Cross-validated MSE on the training rows.
    pub cv_mse: f64,
    /// k-fold only: mean fold R².
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cv_r2: Option<f64>,
}

/// A baseline's held-out score at its own CV-chosen α.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BaselineScore {
    /// α chosen by the same CV on the baseline's training data.
    pub best_alpha: f64,
    /// Held-out R² (against the true test targets).
    pub test_r2: f64,
    /// Held-out MSE.
    pub test_mse: f64,
}

/// Baseline results.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BaselineScores {
    /// Shuffled training labels.
    pub shuffled: Option<BaselineScore>,
    /// Random Gaussian activations of the same shape.
    pub random: Option<BaselineScore>,
}

/// The report of one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReport {
    /// Per-α table.
    pub alphas: Vec<AlphaRow>,
    /// α chosen by CV.
    pub best_alpha: f64,
    /// Held-out R² at the chosen α.
    pub test_r2: f64,
    /// Held-out MSE at the chosen α.
    pub test_mse: f64,
    /// Noise baselines.
    pub baselines: BaselineScores,
}

/// The probe study's output: one report per target, and the fitted probes.
#[derive(Debug, Clone)]
pub struct ProbeStudy {
    /// One report per target column of y.
    pub targets: Vec<TargetReport>,
    /// The real fit (all α; targets `0..T`).
    pub fit: RidgeCv,
}

fn score(fit: &RidgeCv, test: &[Vec<Metrics>], t: usize) -> BaselineScore {
    let a = fit.best[t];
    BaselineScore {
        best_alpha: fit.alphas[a],
        test_r2: test[a][t].r2,
        test_mse: test[a][t].mse,
    }
}

/// Runs the study on `x` (`[n × d]`) and `y` (`[n × targets]`) with the given split.
pub fn probe_study<T: Element>(
    params: &ValidRidgeParams,
    x: &Matrix<T>,
    y: &Matrix<f64>,
    split: &Split,
    baselines: &Baselines,
) -> Result<ProbeStudy> {
    if x.rows != y.rows {
        return Err(Error::Shape(format!(
            "X is [{} × {}] but y is [{} × {}]: they need the same number of rows",
            x.rows, x.cols, y.rows, y.cols
        )));
    }
    let t_n = y.cols;
    let n_train = split.train.len();
    // A target constant on the training rows leaves the probe nothing to learn,
    // and one constant on the test rows makes R² undefined (sklearn's r2_score
    // then reports 1.0 or 0.0 by convention): refuse both, naming the target.
    for t in 0..t_n {
        for (rows, which) in [(&split.train, "training"), (&split.test, "test")] {
            let mut values = rows.iter().map(|&i| y.data[i * t_n + t]);
            if let Some(first) = values.next() {
                if values.all(|v| v == first) {
                    return Err(Error::InvalidInput(format!(
                        "target {t} is constant ({first}) on the {} {which} rows: R² is \
                         undefined and a probe has nothing to learn",
                        rows.len()
                    )));
                }
            }
        }
    }
    // The shuffled baseline is T extra target columns over the same design: it
    // reuses the decomposition (and the folds), and selects α per column.
    let y_aug = match &baselines.shuffle {
        None => y.clone(),
        Some(sh) => {
            let perm = match sh {
                Shuffle::Permutation(p) => crate::data::check_permutation(
                    &p.iter().map(|&v| v as i64).collect::<Vec<_>>(),
                    n_train,
                )?,
                Shuffle::Seed(s) => {
                    let mut p: Vec<usize> = (0..n_train).collect();
                    p.shuffle(&mut ChaCha8Rng::seed_from_u64(*s));
                    p
                }
            };
            let mut data = Vec::with_capacity(y.rows * 2 * t_n);
            for i in 0..y.rows {
                data.extend_from_slice(y.row(i));
                data.extend_from_slice(y.row(i));
            }
            for (i, &p) in perm.iter().enumerate() {
                let (dst, src) = (split.train[i], split.train[p]);
                for t in 0..t_n {
                    data[dst * 2 * t_n + t_n + t] = y.data[src * t_n + t];
                }
            }
            Matrix::new(y.rows, 2 * t_n, data).expect("shape")
        }
    };
    let fit = params.fit_rows(x, &y_aug, &split.train)?;
    let test = fit.evaluate(x, &y_aug, &split.test)?;
    let random = match baselines.random_seed {
        None => None,
        Some(seed) => {
            let xr = gaussian_like(x, &split.train, seed);
            let fit_r = params.fit_rows(&xr, y, &split.train)?;
            let test_r = fit_r.evaluate(&xr, y, &split.test)?;
            Some((fit_r, test_r))
        }
    };
    let targets = (0..t_n)
        .map(|t| {
            let alphas = (0..fit.alphas.len())
                .map(|a| AlphaRow {
                    alpha: fit.alphas[a],
                    test_r2: test[a][t].r2,
                    test_mse: test[a][t].mse,
                    cv_mse: fit.cv_mse[a][t],
                    cv_r2: fit.cv_r2.as_ref().map(|r| r[a][t]),
                })
                .collect();
            let best = score(&fit, &test, t);
            TargetReport {
                alphas,
                best_alpha: best.best_alpha,
                test_r2: best.test_r2,
                test_mse: best.test_mse,
                baselines: BaselineScores {
                    shuffled: baselines
                        .shuffle
                        .is_some()
                        .then(|| score(&fit, &test, t_n + t)),
                    random: random.as_ref().map(|(f, s)| score(f, s, t)),
                },
            }
        })
        .collect();
    // Keep only the real targets in the returned fit.
    let fit = fit.first_targets(t_n);
    Ok(ProbeStudy { targets, fit })
}

/// Random activations of the shape of `x`: i.i.d. N(0, σ²) with σ the pooled
/// standard deviation of the training rows of `x` (so the α grid means the same
/// thing for both). Rows are drawn in blocks of 64, block b from ChaCha8
/// (`seed`, stream b: [`pref_stats::replicate_rng`]), so the result does not depend
/// on the thread count.
pub fn gaussian_like<T: Element>(x: &Matrix<T>, train: &[usize], seed: u64) -> Matrix<f64> {
    let (n, d) = (x.rows, x.cols);
    let mut mean = vec![0.0; d];
    for &r in train {
        for (m, v) in mean.iter_mut().zip(x.row(r)) {
            *m += v.to_f64();
        }
    }
    mean.iter_mut().for_each(|m| *m /= train.len() as f64);
    let mut ss = 0.0;
    for &r in train {
        ss += x
            .row(r)
            .iter()
            .zip(&mean)
            .map(|(v, m)| (v.to_f64() - m).powi(2))
            .sum::<f64>();
    }
    let sigma = (ss / (train.len() * d) as f64).sqrt();
    let sigma = if sigma > 0.0 { sigma } else { 1.0 };
    const BLOCK: usize = 64;
    let mut data = vec![0.0; n * d];
    data.par_chunks_mut(BLOCK * d.max(1))
        .enumerate()
        .for_each(|(b, chunk)| {
            let mut rng = pref_stats::replicate_rng(seed, b as u64);
            for v in chunk.iter_mut() {
                let z: f64 = StandardNormal.sample(&mut rng);
                *v = sigma * z;
            }
        });
    Matrix::new(n, d, data).expect("shape")
}
