//! Transitivity of elicited preferences over triads of items.
//!
//! For a triad `{i, j, k}` whose three pairs were all compared, let `p_xy` be
//! the observed share of comparisons preferring `x` over `y` (both orientations
//! and duplicate records pooled). A **hard cycle** is three strict majority
//! preferences that form a cycle (`i ≻ j ≻ k ≻ i` or the reverse); a uniformly
//! random tournament has a cyclic triad with probability ¼, the baseline. The
//! **soft cycle** measure is the probability of a cycle if the three pairs were
//! decided independently with probabilities `p_xy`:
//! `p_ij p_jk p_ki + p_ji p_kj p_ik`, averaged over observed triads (also ¼ for
//! coin flips, and 0 for a consistent deterministic order).

use std::collections::HashMap;

use rand_distr::{Binomial, Distribution};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::data::PairData;

/// Which triads to examine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriadSampling {
    /// Every triad whose three pairs were compared.
    All,
    /// Random item triples (drawn with replacement) until `n` observed triads
    /// are found or `max(100·n, 1000)` draws are spent, seeded.
    Random {
        /// Observed triads wanted.
        n: usize,
        /// Seed.
        seed: u64,
    },
}

/// Transitivity statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitivityReport {
    /// Triads whose three pairs have comparisons.
    pub n_triads: usize,
    /// Of those, triads whose three pairs all have a strict majority.
    pub n_decisive_triads: usize,
    /// Decisive triads whose majorities form a cycle.
    pub n_hard_cycles: usize,
    /// `n_hard_cycles / n_decisive_triads` (NaN when there is none).
    pub hard_cycle_rate: f64,
    /// `n_hard_cycles / n_triads`, the share of all observed triads (a pair at
    /// exactly ½ is never part of a cycle); NaN when there is no triad.
    pub hard_cycle_share: f64,
    /// The hard-cycle rate of a uniformly random tournament: 0.25.
    pub random_baseline: f64,
    /// Mean probability of a cycle under independent pair decisions (NaN when no triad).
    pub soft_cycle_rate: f64,
    /// Whether triads were sampled rather than enumerated.
    pub sampled: bool,
}

/// The pairs with comparisons, as `(lo, hi)` item indices, with the pooled
/// `P(lo ≻ hi)` and the number of comparisons.
struct Pooled {
    index: HashMap<(u32, u32), usize>,
    p: Vec<f64>,
    n: Vec<f64>,
}

fn pooled(data: &PairData) -> Pooled {
    let mut index = HashMap::new();
    let (mut wins, mut n) = (Vec::new(), Vec::new());
    for (a, b, ca, cb) in data.pairs() {
        let (lo, hi, wl, wh) = if a < b {
            (a, b, ca, cb)
        } else {
            (b, a, cb, ca)
        };
        let e = *index.entry((lo as u32, hi as u32)).or_insert_with(|| {
            wins.push(0.0);
            n.push(0.0);
            wins.len() - 1
        });
        wins[e] += wl;
        n[e] += wl + wh;
    }
    index.retain(|_, e| n[*e] > 0.0);
    let p = wins.iter().zip(&n).map(|(w, t)| w / t).collect();
    Pooled { index, p, n }
}

/// A triad as three pooled pairs: `P(i ≻ j)` is `p[ij]`, `P(j ≻ k)` is
/// `p[jk]`, `P(k ≻ i)` is `1 − p[ik]` (pairs stored as (lo, hi), i < j < k).
#[derive(Clone, Copy)]
struct Triad {
    ij: usize,
    jk: usize,
    ik: usize,
}

/// The triads to examine: every one whose three pairs were compared, or a
/// seeded random sample.
fn triads(t: &Pooled, n_items: usize, sampling: TriadSampling) -> Vec<Triad> {
    let edge = |x: u32, y: u32| t.index.get(&(x.min(y), x.max(y))).copied();
    let mut out = Vec::new();
    match sampling {
        TriadSampling::All => {
            let mut adj: Vec<Vec<u32>> = vec![Vec::new(); n_items];
            for &(a, b) in t.index.keys() {
                adj[a as usize].push(b);
            }
            for l in &mut adj {
                l.sort_unstable();
            }
            // Each triad i < j < k once: j ∈ adj[i], k ∈ adj[i] ∩ adj[j].
            for i in 0..n_items {
                let ni = &adj[i];
                for (pos, &j) in ni.iter().enumerate() {
                    let nj = &adj[j as usize];
                    let (mut x, mut y) = (pos + 1, 0);
                    while x < ni.len() && y < nj.len() {
                        match ni[x].cmp(&nj[y]) {
                            std::cmp::Ordering::Less => x += 1,
                            std::cmp::Ordering::Greater => y += 1,
                            std::cmp::Ordering::Equal => {
                                let (i, k) = (i as u32, ni[x]);
                                if let (Some(ij), Some(jk), Some(ik)) =
                                    (edge(i, j), edge(j, k), edge(i, k))
                                {
                                    out.push(Triad { ij, jk, ik });
                                }
                                x += 1;
                                y += 1;
                            }
                        }
                    }
                }
            }
        }
        TriadSampling::Random { n: want, seed } => {
            if n_items >= 3 {
                let mut rng = StdRng::seed_from_u64(seed);
                let mut draws = 0usize;
                while out.len() < want && draws < want.saturating_mul(100).max(1000) {
                    draws += 1;
                    let mut v = [0u32; 3];
                    for x in &mut v {
                        *x = rng.random_range(0..n_items as u32);
                    }
                    if v[0] == v[1] || v[1] == v[2] || v[0] == v[2] {
                        continue;
                    }
                    // Sorted: a triad's measures do not depend on the order drawn.
                    v.sort_unstable();
                    let [i, j, k] = v;
                    if let (Some(ij), Some(jk), Some(ik)) = (edge(i, j), edge(j, k), edge(i, k)) {
                        out.push(Triad { ij, jk, ik });
                    }
                }
            }
        }
    }
    out
}

#[derive(Default)]
struct Acc {
    triads: usize,
    decisive: usize,
    cycles: usize,
    soft: f64,
}

/// The cycle counts of `triads` under pair probabilities `p`.
fn count(triads: &[Triad], p: &[f64]) -> Acc {
    let mut acc = Acc::default();
    for t in triads {
        let (pij, pjk, pki) = (p[t.ij], p[t.jk], 1.0 - p[t.ik]);
        acc.triads += 1;
        acc.soft += pij * pjk * pki + (1.0 - pij) * (1.0 - pjk) * (1.0 - pki);
        if pij != 0.5 && pjk != 0.5 && pki != 0.5 {
            acc.decisive += 1;
            let (x, y, z) = (pij > 0.5, pjk > 0.5, pki > 0.5);
            if x == y && y == z {
                acc.cycles += 1;
            }
        }
    }
    acc
}

fn ratio(a: f64, b: usize) -> f64 {
    if b > 0 {
        a / b as f64
    } else {
        f64::NAN
    }
}

/// Hard- and soft-cycle rates over the triads of `data`.
pub fn transitivity(data: &PairData, sampling: TriadSampling) -> TransitivityReport {
    let t = pooled(data);
    let acc = count(&triads(&t, data.n_items(), sampling), &t.p);
    TransitivityReport {
        n_triads: acc.triads,
        n_decisive_triads: acc.decisive,
        n_hard_cycles: acc.cycles,
        hard_cycle_rate: ratio(acc.cycles as f64, acc.decisive),
        hard_cycle_share: ratio(acc.cycles as f64, acc.triads),
        random_baseline: 0.25,
        soft_cycle_rate: ratio(acc.soft, acc.triads),
        sampled: matches!(sampling, TriadSampling::Random { .. }),
    }
}

/// Bootstrap intervals (95%, percentile) of the transitivity measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitivityIntervals {
    /// Replicates.
    pub replicates: usize,
    /// Of `hard_cycle_share`.
    pub hard_cycle_share: [f64; 2],
    /// Of `hard_cycle_rate`.
    pub hard_cycle_rate: [f64; 2],
    /// Of `soft_cycle_rate`.
    pub soft_cycle_rate: [f64; 2],
}

/// Bootstrap of [`transitivity`] over the comparisons: each replicate redraws
/// every pair's comparisons with replacement (a binomial draw of its `n`, rounded,
/// with its pooled share; the triads stay those observed) and recounts. The
/// interval is the sampling noise of the measured choices; replicate `b` draws
/// from [`pref_stats::replicate_rng`]`(seed, b)`.
pub fn transitivity_intervals(
    data: &PairData,
    sampling: TriadSampling,
    n_boot: usize,
    seed: u64,
) -> TransitivityIntervals {
    use rayon::prelude::*;
    let t = pooled(data);
    let tri = triads(&t, data.n_items(), sampling);
    let reps: Vec<Acc> = (0..n_boot)
        .into_par_iter()
        .map(|b| {
            let mut rng = pref_stats::replicate_rng(seed, b as u64);
            let p: Vec<f64> =
                t.p.iter()
                    .zip(&t.n)
                    .map(|(&p, &n)| {
                        let m = n.round() as u64;
                        match Binomial::new(m, p) {
                            Ok(d) if m > 0 => d.sample(&mut rng) as f64 / m as f64,
                            _ => p,
                        }
                    })
                    .collect();
            count(&tri, &p)
        })
        .collect();
    let mut scratch = Vec::new();
    let mut interval = |v: Vec<f64>| {
        let v: Vec<f64> = v.into_iter().filter(|x| !x.is_nan()).collect();
        pref_stats::percentile_interval(&v, 0.95, &mut scratch)
    };
    TransitivityIntervals {
        replicates: n_boot,
        hard_cycle_share: interval(
            reps.iter()
                .map(|a| ratio(a.cycles as f64, a.triads))
                .collect(),
        ),
        hard_cycle_rate: interval(
            reps.iter()
                .map(|a| ratio(a.cycles as f64, a.decisive))
                .collect(),
        ),
        soft_cycle_rate: interval(reps.iter().map(|a| ratio(a.soft, a.triads)).collect()),
    }
}
