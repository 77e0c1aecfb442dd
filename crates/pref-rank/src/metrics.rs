//! Ranking agreement metrics: Kendall τ-b and Spearman ρ with their p-values computed
//! the way scipy 1.17 computes them (`scipy.stats.kendalltau`, `scipy.stats.spearmanr`,
//! two-sided), pairwise ordering accuracy and top-k hit rates.
//!
//! Conventions: `x` holds the predicted scores (higher = better), `y` the reference
//! (ground-truth) scores. Ties get average ranks. Constant input (or fewer than two
//! items) gives NaN statistics, as scipy; NaN serialises as JSON `null`.

use std::cmp::Ordering;

use serde::{Deserialize, Deserializer, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::erf::erfc;

use crate::error::{Error, Result};

/// A correlation coefficient and its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// The coefficient (NaN when undefined; `null` in JSON).
    #[serde(deserialize_with = "f64_or_nan")]
    pub statistic: f64,
    /// Two-sided p-value (NaN when undefined; `null` in JSON).
    #[serde(deserialize_with = "f64_or_nan")]
    pub pvalue: f64,
}

/// Reads a number written by serde_json, where NaN was written as `null`.
pub(crate) fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

const UNDEFINED: Correlation = Correlation {
    statistic: f64::NAN,
    pvalue: f64::NAN,
};

fn check(x: &[f64], y: &[f64]) -> Result<()> {
    if x.len() != y.len() {
        return Err(Error::InvalidInput(format!(
            "x has {} values but y has {}",
            x.len(),
            y.len()
        )));
    }
    for (name, v) in [("x", x), ("y", y)] {
        if let Some(i) = v.iter().position(|a| !a.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "{name}[{i}] is not a finite number"
            )));
        }
    }
    Ok(())
}

/// Sizes of groups of equal values (only groups of size > 1).
fn tie_groups(v: &[f64]) -> Vec<u64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mut out = Vec::new();
    let mut run = 1u64;
    for w in s.windows(2) {
        if w[0] == w[1] {
            run += 1;
        } else {
            if run > 1 {
                out.push(run);
            }
            run = 1;
        }
    }
    if run > 1 && !s.is_empty() {
        out.push(run);
    }
    out
}

/// Kendall's τ-b with scipy's p-value: exact null distribution when there are no
/// ties and n ≤ 33 (or at most one discordant/concordant pair), otherwise the normal
/// approximation with the tie-corrected variance.
///
/// Counting pairs is O(n²) (exact integer counts; fine up to n ≈ 10⁴, far beyond the
/// number of models in any leaderboard).
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<Correlation> {
    check(x, y)?;
    let n = x.len();
    if n < 2 {
        return Ok(UNDEFINED);
    }
    let (mut dis, mut xtie, mut ytie, mut ntie) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[i].total_cmp(&x[j]);
            let dy = y[i].total_cmp(&y[j]);
            let tx = x[i] == x[j];
            let ty = y[i] == y[j];
            if tx {
                xtie += 1;
            }
            if ty {
                ytie += 1;
            }
            if tx && ty {
                ntie += 1;
            }
            if !tx && !ty && dx != dy {
                dis += 1;
            }
        }
    }
    let tot = (n as u64) * (n as u64 - 1) / 2;
    if xtie == tot || ytie == tot {
        return Ok(UNDEFINED);
    }
    let stats = |g: Vec<u64>| -> (f64, f64) {
        let x0: u64 = g.iter().map(|c| c * (c - 1) * (c - 2)).sum();
        let x1: u64 = g.iter().map(|c| c * (c - 1) * (2 * c + 5)).sum();
        (x0 as f64, x1 as f64)
    };
    let (x0, x1) = stats(tie_groups(x));
    let (y0, y1) = stats(tie_groups(y));
    let con_minus_dis = tot as i64 - xtie as i64 - ytie as i64 + ntie as i64 - 2 * dis as i64;
    let tau = (con_minus_dis as f64 / ((tot - xtie) as f64).sqrt() / ((tot - ytie) as f64).sqrt())
        .clamp(-1.0, 1.0);
    let pvalue = if xtie == 0 && ytie == 0 && (n <= 33 || dis.min(tot - dis) <= 1) {
        kendall_p_exact(n as u64, tot - dis)
    } else {
        let size = n as f64;
        let m = size * (size - 1.0);
        let var = (m * (2.0 * size + 5.0) - x1 - y1) / 18.0
            + (2 * xtie * ytie) as f64 / m
            + x0 * y0 / (9.0 * m * (size - 2.0));
        let z = con_minus_dis as f64 / var.sqrt();
        // 2·Φ(−|z|) = erfc(|z|/√2)
        erfc(z.abs() / std::f64::consts::SQRT_2)
    };
    Ok(Correlation {
        statistic: tau,
        pvalue,
    })
}

/// Two-sided exact p-value of Kendall's statistic with `c` concordant pairs out of
/// n(n−1)/2, without ties (Kendall 1970; the recurrence scipy uses).
pub fn kendall_p_exact(n: u64, c: u64) -> f64 {
    let tot = n * (n.saturating_sub(1)) / 2;
    let c = c.min(tot.saturating_sub(c));
    let factorial = |m: u64| (1..=m).fold(1.0f64, |a, b| a * b as f64);
    let prob = if n <= 2 {
        1.0
    } else if c == 0 {
        if n < 171 {
            2.0 / factorial(n)
        } else {
            0.0
        }
    } else if c == 1 {
        if n < 172 {
            2.0 / factorial(n - 1)
        } else {
            0.0
        }
    } else if 4 * c == n * (n - 1) {
        1.0
    } else {
        let c = c as usize;
        let mut new = vec![0.0f64; c + 1];
        new[0] = 1.0;
        new[1] = 1.0;
        for j in 3..=n as usize {
            let mut acc = 0.0;
            for v in new.iter_mut() {
                acc += *v;
                *v = acc;
            }
            if n >= 171 {
                new.iter_mut().for_each(|v| *v /= j as f64);
            }
            if j <= c {
                let old = new.clone();
                for t in j..=c {
                    new[t] -= old[t - j];
                }
            }
        }
        let sum: f64 = new.iter().sum();
        if n < 171 {
            2.0 * sum / factorial(n)
        } else {
            sum
        }
    };
    prob.clamp(0.0, 1.0)
}

/// Average ranks (1-based), as `scipy.stats.rankdata(method="average")`
/// (pref-stats' one ranking convention).
pub use pref_stats::average_ranks;

/// Spearman's ρ (Pearson correlation of average ranks) with scipy's p-value: t =
/// ρ √((n−2)/((1+ρ)(1−ρ))) against Student's t with n−2 degrees of freedom.
pub fn spearman_rho(x: &[f64], y: &[f64]) -> Result<Correlation> {
    check(x, y)?;
    let n = x.len();
    if n < 2 {
        return Ok(UNDEFINED);
    }
    // NaN for a constant input (pref-stats' convention, as scipy).
    let rs = pref_stats::spearman(x, y)?;
    if rs.is_nan() {
        return Ok(UNDEFINED);
    }
    let dof = n as f64 - 2.0;
    let pvalue = if dof <= 0.0 {
        f64::NAN
    } else {
        let t = rs * (dof / ((rs + 1.0) * (1.0 - rs))).max(0.0).sqrt();
        if t.is_infinite() {
            0.0
        } else {
            let st = StudentsT::new(0.0, 1.0, dof).expect("dof > 0");
            2.0 * st.cdf(-t.abs())
        }
    };
    Ok(Correlation {
        statistic: rs,
        pvalue,
    })
}

/// Share of item pairs ordered as the reference orders them: over pairs with
/// `y_i ≠ y_j`, 1 when `x` orders them the same way, ½ when `x` ties them, 0
/// otherwise. NaN when `y` orders no pair.
pub fn pairwise_accuracy(x: &[f64], y: &[f64]) -> Result<f64> {
    check(x, y)?;
    let n = x.len();
    let (mut pairs, mut score) = (0u64, 0.0f64);
    for i in 0..n {
        for j in i + 1..n {
            let dy = y[i].partial_cmp(&y[j]).expect("finite");
            if dy == Ordering::Equal {
                continue;
            }
            pairs += 1;
            let dx = x[i].partial_cmp(&x[j]).expect("finite");
            if dx == dy {
                score += 1.0;
            } else if dx == Ordering::Equal {
                score += 0.5;
            }
        }
    }
    Ok(if pairs == 0 {
        f64::NAN
    } else {
        score / pairs as f64
    })
}

/// Top-k hit: whether a best item of the reference (any item with the maximal `y`) is
/// among the k highest-scored items of `x`. Ties in `x` are broken uniformly at
/// random and the expected hit is returned (so a constant `x` over n items scores
/// k/n for a unique best). NaN for empty input.
pub fn top_k_hit(x: &[f64], y: &[f64], k: usize) -> Result<f64> {
    check(x, y)?;
    let n = x.len();
    if n == 0 {
        return Ok(f64::NAN);
    }
    if k == 0 {
        return Ok(0.0);
    }
    let ymax = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| x[b].total_cmp(&x[a]));
    let mut above = 0usize;
    let mut g = 0;
    while g < n {
        let mut e = g;
        while e + 1 < n && x[idx[e + 1]] == x[idx[g]] {
            e += 1;
        }
        let t = e - g + 1;
        let u = idx[g..=e].iter().filter(|&&i| y[i] == ymax).count();
        if above + t <= k {
            if u > 0 {
                return Ok(1.0);
            }
            above += t;
        } else {
            // m of the t tied items are drawn into the top k: P(no best item drawn).
            let m = k - above;
            let mut miss = 1.0;
            for i in 0..m {
                miss *= (t - u).saturating_sub(i) as f64 / (t - i) as f64;
            }
            return Ok(1.0 - miss);
        }
        if above >= k {
            break;
        }
        g = e + 1;
    }
    Ok(0.0)
}

/// All the ranking metrics of `pref rank-metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankingMetrics {
    /// Kendall's τ-b.
    pub kendall_tau_b: f64,
    /// Its two-sided p-value.
    pub kendall_tau_b_pvalue: f64,
    /// Spearman's ρ.
    pub spearman_rho: f64,
    /// Its two-sided p-value.
    pub spearman_pvalue: f64,
    /// Pairwise ordering accuracy.
    pub pairwise_accuracy: f64,
    /// Top-1 hit.
    pub top1: f64,
    /// Top-3 hit.
    pub top3: f64,
}

/// Computes every metric of predicted scores `x` against reference scores `y`.
pub fn ranking_metrics(x: &[f64], y: &[f64]) -> Result<RankingMetrics> {
    let k = kendall_tau_b(x, y)?;
    let s = spearman_rho(x, y)?;
    Ok(RankingMetrics {
        kendall_tau_b: k.statistic,
        kendall_tau_b_pvalue: k.pvalue,
        spearman_rho: s.statistic,
        spearman_pvalue: s.pvalue,
        pairwise_accuracy: pairwise_accuracy(x, y)?,
        top1: top_k_hit(x, y, 1)?,
        top3: top_k_hit(x, y, 3)?,
    })
}
