//! Bootstrap intervals for Bradley–Terry ratings.
//!
//! Resampling N battles with replacement only changes how often each (pair, outcome)
//! cell occurs, so a replicate is one multinomial draw of N over the cells with
//! probabilities count/N (as LMArena's `compute_bootstrap_bt`), drawn as a chain of
//! conditional binomials (as numpy's `multinomial`), and refitted from the full-data
//! estimate. Replicate r uses the ChaCha8 stream r of the seed
//! ([`pref_stats::replicate_rng`]), so results are identical whatever the number of
//! threads (rayon) or the order they run in.
//!
//! Intervals are percentiles with numpy's default linear interpolation
//! ([`pref_stats::percentile_sorted`]); the rank of a model is 1 + the number of models
//! whose lower bound lies above its upper bound (LMArena's rule).

use rand_distr::{Binomial, Distribution};
use rayon::prelude::*;

use crate::bt::{check_graph, BtFit, BtParams, BtProblem, PairData};
use crate::error::{Error, Result};
use crate::params::{Checked, ParamGuard};

/// Hyperparameters of the bootstrap.
///
/// | field | default | valid |
/// |---|---|---|
/// | `replicates` | 1000 | ≥ 1 |
/// | `seed` | 0 | any |
/// | `level` | 0.95 | (0, 1) |
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapParams {
    /// Number of bootstrap replicates B.
    pub replicates: usize,
    /// Seed; replicate r draws from ChaCha8 stream r of this seed.
    pub seed: u64,
    /// Confidence level of the percentile interval.
    pub level: f64,
}

impl Default for BootstrapParams {
    fn default() -> Self {
        Self {
            replicates: 1000,
            seed: 0,
            level: 0.95,
        }
    }
}

impl BootstrapParams {
    /// Sets B.
    pub fn replicates(mut self, b: usize) -> Self {
        self.replicates = b;
        self
    }
    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the confidence level.
    pub fn level(mut self, level: f64) -> Self {
        self.level = level;
        self
    }
}

impl ParamGuard for BootstrapParams {
    fn validate(&self) -> Result<()> {
        check_replicates_and_level("replicates", self.replicates, self.level)
    }
}

/// The checks every bootstrap's parameters share: at least one replicate (the
/// field is called `name`) and a level in (0, 1).
pub(crate) fn check_replicates_and_level(name: &'static str, b: usize, level: f64) -> Result<()> {
    if b == 0 {
        return Err(Error::param(name, "must be ≥ 1"));
    }
    Ok(pref_stats::open_unit_interval("level", level)?)
}

/// Percentile intervals and ranks from a bootstrap.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapResult {
    /// Model names.
    pub models: Vec<String>,
    /// Lower percentile (e.g. 2.5 %) of each model's rating.
    pub lower: Vec<f64>,
    /// Median of each model's rating over the replicates.
    pub median: Vec<f64>,
    /// Upper percentile (e.g. 97.5 %).
    pub upper: Vec<f64>,
    /// 1 + number of models whose lower bound exceeds this model's upper bound.
    pub rank: Vec<usize>,
    /// Ratings of every replicate: `samples[r][m]`.
    pub samples: Vec<Vec<f64>>,
}

/// numpy's `percentile(v, q)` with the default `linear` method, `q` in percent, of
/// values sorted ascending (pref-stats' one quantile convention).
pub use pref_stats::percentile_sorted;

/// LMArena's rank rule: 1 + the number of models whose lower bound is above this
/// model's upper bound.
pub fn ranks_from_intervals(lower: &[f64], upper: &[f64]) -> Vec<usize> {
    upper
        .iter()
        .map(|&u| 1 + lower.iter().filter(|&&l| l > u).count())
        .collect()
}

/// One (pair, outcome) category of the multinomial.
struct Category {
    pair: u32,
    /// 0: win of i, 1: win of j, 2: tie.
    kind: u8,
    count: u64,
}

/// Draws a multinomial(n, counts / Σcounts) sample by conditional binomials, as numpy.
pub fn multinomial<R: rand::Rng + ?Sized>(rng: &mut R, n: u64, counts: &[u64]) -> Vec<u64> {
    let mut out = vec![0u64; counts.len()];
    let mut left_n = n;
    let mut left_w: u64 = counts.iter().sum();
    for (c, o) in counts.iter().zip(out.iter_mut()) {
        if left_n == 0 || left_w == 0 {
            break;
        }
        let x = if *c >= left_w {
            left_n
        } else {
            let p = *c as f64 / left_w as f64;
            Binomial::new(left_n, p).expect("0 ≤ p ≤ 1").sample(rng)
        };
        *o = x;
        left_n -= x;
        left_w -= c;
    }
    out
}

impl Checked<BootstrapParams> {
    /// Runs the bootstrap around a full-data fit `fit` made with `bt` on `data`.
    /// Ratings of each replicate use the same scale and anchoring as `fit`.
    pub fn run(
        &self,
        bt: &Checked<BtParams>,
        data: &PairData,
        fit: &BtFit,
    ) -> Result<BootstrapResult> {
        let anchor = bt.anchor_index(data.models())?;
        let cells = data.cells();
        let (pi, pj): (Vec<u32>, Vec<u32>) = cells.iter().map(|c| (c.i, c.j)).unzip();
        let mut cats = Vec::with_capacity(cells.len() * 3);
        for (p, c) in cells.iter().enumerate() {
            for (kind, count) in [(0u8, c.wins_i), (1, c.wins_j), (2, c.ties)] {
                if count > 0 {
                    cats.push(Category {
                        pair: p as u32,
                        kind,
                        count,
                    });
                }
            }
        }
        let counts: Vec<u64> = cats.iter().map(|c| c.count).collect();
        // The full-data Hessian at the estimate, factored once: replicates start from
        // the estimate and take chord steps with it (falling back to Newton).
        let full = BtProblem::new(
            data.n_models(),
            &pi,
            &pj,
            cells.iter().map(|c| c.score_i()).collect(),
            cells.iter().map(|c| c.n() as f64).collect(),
            bt.prior_precision,
        );
        let factor = full.hessian_factor(&fit.theta)?;
        let n = data.n_battles();
        let k = data.n_models();
        let replicate = |r: usize| -> Result<Vec<f64>> {
            let mut rng = pref_stats::replicate_rng(self.seed, r as u64);
            let draw = multinomial(&mut rng, n, &counts);
            let mut w = vec![[0u64; 3]; cells.len()];
            for (cat, x) in cats.iter().zip(&draw) {
                w[cat.pair as usize][cat.kind as usize] += x;
            }
            let fail = |e: Error| Error::Bootstrap {
                replicate: r,
                source: Box::new(e),
            };
            if bt.prior_precision == 0.0 {
                let scored: Vec<(u32, u32, bool, bool)> = w
                    .iter()
                    .zip(pi.iter().zip(&pj))
                    .map(|(c, (&i, &j))| (i, j, c[0] + c[2] > 0, c[1] + c[2] > 0))
                    .collect();
                check_graph(data.models(), &scored).map_err(fail)?;
            }
            let s: Vec<f64> = w.iter().map(|c| c[0] as f64 + 0.5 * c[2] as f64).collect();
            let nn: Vec<f64> = w.iter().map(|c| (c[0] + c[1] + c[2]) as f64).collect();
            let problem = BtProblem::new(k, &pi, &pj, s, nn, bt.prior_precision);
            let solved = bt
                .solve_with(problem, fit.theta.clone(), Some(&factor))
                .map_err(fail)?;
            Ok(bt.to_elo(&solved.theta, anchor))
        };
        // Collect every result, then report the first failing replicate, so the error
        // too is the same whatever the thread count.
        let results: Vec<Result<Vec<f64>>> = (0..self.replicates)
            .into_par_iter()
            .map(replicate)
            .collect();
        let samples: Vec<Vec<f64>> = results.into_iter().collect::<Result<_>>()?;

        let (lo_pct, hi_pct) = pref_stats::central_percentiles(self.level);
        let mut lower = Vec::with_capacity(k);
        let mut median = Vec::with_capacity(k);
        let mut upper = Vec::with_capacity(k);
        let mut col = Vec::with_capacity(samples.len());
        for m in 0..k {
            col.clear();
            col.extend(samples.iter().map(|s| s[m]));
            col.sort_by(f64::total_cmp);
            lower.push(percentile_sorted(&col, lo_pct));
            median.push(percentile_sorted(&col, 50.0));
            upper.push(percentile_sorted(&col, hi_pct));
        }
        let rank = ranks_from_intervals(&lower, &upper);
        Ok(BootstrapResult {
            models: data.models().to_vec(),
            lower,
            median,
            upper,
            rank,
            samples,
        })
    }
}
