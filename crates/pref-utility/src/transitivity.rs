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
    /// The hard-cycle rate of a uniformly random tournament: 0.25.
    pub random_baseline: f64,
    /// Mean probability of a cycle under independent pair decisions (NaN when no triad).
    pub soft_cycle_rate: f64,
    /// Whether triads were sampled rather than enumerated.
    pub sampled: bool,
}

/// Pooled `P(min ≻ max)` per unordered pair with comparisons.
fn pooled(data: &PairData) -> HashMap<(u32, u32), f64> {
    let mut sums: HashMap<(u32, u32), (f64, f64)> = HashMap::new();
    for (a, b, ca, cb) in data.pairs() {
        let (lo, hi, wl, wh) = if a < b {
            (a, b, ca, cb)
        } else {
            (b, a, cb, ca)
        };
        let e = sums.entry((lo as u32, hi as u32)).or_insert((0.0, 0.0));
        e.0 += wl;
        e.1 += wh;
    }
    sums.into_iter()
        .filter(|(_, (x, y))| x + y > 0.0)
        .map(|(k, (x, y))| (k, x / (x + y)))
        .collect()
}

struct Acc {
    triads: usize,
    decisive: usize,
    cycles: usize,
    soft: f64,
}

impl Acc {
    /// `pij = P(i ≻ j)`, `pjk = P(j ≻ k)`, `pki = P(k ≻ i)`.
    fn add(&mut self, pij: f64, pjk: f64, pki: f64) {
        self.triads += 1;
        self.soft += pij * pjk * pki + (1.0 - pij) * (1.0 - pjk) * (1.0 - pki);
        if pij != 0.5 && pjk != 0.5 && pki != 0.5 {
            self.decisive += 1;
            let (x, y, z) = (pij > 0.5, pjk > 0.5, pki > 0.5);
            if x == y && y == z {
                self.cycles += 1;
            }
        }
    }
}

/// `P(x ≻ y)` from the pooled table.
fn pref(t: &HashMap<(u32, u32), f64>, x: u32, y: u32) -> Option<f64> {
    if x < y {
        t.get(&(x, y)).copied()
    } else {
        t.get(&(y, x)).map(|p| 1.0 - p)
    }
}

/// Hard- and soft-cycle rates over the triads of `data`.
pub fn transitivity(data: &PairData, sampling: TriadSampling) -> TransitivityReport {
    let table = pooled(data);
    let n = data.n_items();
    let mut acc = Acc {
        triads: 0,
        decisive: 0,
        cycles: 0,
        soft: 0.0,
    };
    let sampled = matches!(sampling, TriadSampling::Random { .. });
    match sampling {
        TriadSampling::All => {
            let mut adj: Vec<Vec<u32>> = vec![Vec::new(); n];
            for &(a, b) in table.keys() {
                adj[a as usize].push(b);
            }
            for l in &mut adj {
                l.sort_unstable();
            }
            // Each triad i < j < k once: j ∈ adj[i], k ∈ adj[i] ∩ adj[j].
            for i in 0..n {
                let ni = &adj[i];
                for (pos, &j) in ni.iter().enumerate() {
                    let nj = &adj[j as usize];
                    let (mut x, mut y) = (pos + 1, 0);
                    while x < ni.len() && y < nj.len() {
                        match ni[x].cmp(&nj[y]) {
                            std::cmp::Ordering::Less => x += 1,
                            std::cmp::Ordering::Greater => y += 1,
                            std::cmp::Ordering::Equal => {
                                let k = ni[x];
                                let i32_ = i as u32;
                                let pij = pref(&table, i32_, j).expect("edge");
                                let pjk = pref(&table, j, k).expect("edge");
                                let pki = pref(&table, k, i32_).expect("edge");
                                acc.add(pij, pjk, pki);
                                x += 1;
                                y += 1;
                            }
                        }
                    }
                }
            }
        }
        TriadSampling::Random { n: want, seed } => {
            if n >= 3 {
                let mut rng = StdRng::seed_from_u64(seed);
                let mut draws = 0usize;
                while acc.triads < want && draws < want.saturating_mul(100).max(1000) {
                    draws += 1;
                    let i = rng.random_range(0..n as u32);
                    let j = rng.random_range(0..n as u32);
                    let k = rng.random_range(0..n as u32);
                    if i == j || j == k || i == k {
                        continue;
                    }
                    if let (Some(pij), Some(pjk), Some(pki)) =
                        (pref(&table, i, j), pref(&table, j, k), pref(&table, k, i))
                    {
                        acc.add(pij, pjk, pki);
                    }
                }
            }
        }
    }
    TransitivityReport {
        n_triads: acc.triads,
        n_decisive_triads: acc.decisive,
        n_hard_cycles: acc.cycles,
        hard_cycle_rate: if acc.decisive > 0 {
            acc.cycles as f64 / acc.decisive as f64
        } else {
            f64::NAN
        },
        random_baseline: 0.25,
        soft_cycle_rate: if acc.triads > 0 {
            acc.soft / acc.triads as f64
        } else {
            f64::NAN
        },
        sampled,
    }
}
