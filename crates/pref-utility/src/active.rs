//! Active learning of Thurstonian utilities (the Utility Engineering procedure).
//!
//! Start from a random `d`-regular comparison graph; each round fit the model,
//! then query new pairs from the intersection of the lowest `P`% of `|Δμ|` (the
//! most uncertain comparisons) and the lowest `Q`% of degree sums (the least
//! compared items), widening `P` and `Q` by ×1.5 up to 5 times when the
//! intersection is too small; stop at `edge_multiplier · N · log2 N` pairs.
//!
//! Comparisons come from an [`Oracle`]: a binary plugs in real model queries; a
//! [`SimulatedOracle`] drives the tests and the measured curves.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Binomial, Distribution};
use serde::Serialize;

use crate::data::PairData;
use crate::error::{Error, Result};
use crate::normal::norm_cdf;
use crate::thurstonian::{FitStats, FittedThurstonian, ThurstonianParams, VARIANCE_FLOOR};

/// Answers pairwise questions. Pairs are item indices into the list given to
/// [`ActiveLearningParams::run`]; the answer for each pair is
/// `(count_a, count_b)`, how often each side was preferred (ties ½ each; for
/// example both presentation orders × K samples).
pub trait Oracle {
    /// Compares every pair and returns the counts in the same order.
    fn compare(&mut self, pairs: &[(usize, usize)]) -> Result<Vec<(f64, f64)>>;
}

impl<F> Oracle for F
where
    F: FnMut(&[(usize, usize)]) -> Result<Vec<(f64, f64)>>,
{
    fn compare(&mut self, pairs: &[(usize, usize)]) -> Result<Vec<(f64, f64)>> {
        self(pairs)
    }
}

/// A simulated respondent with known Thurstonian utilities: each query draws
/// `samples` independent choices with `P(a ≻ b) = Φ((μ_a − μ_b)/√(σ_a² + σ_b²))`.
#[derive(Debug, Clone)]
pub struct SimulatedOracle {
    mu: Vec<f64>,
    sigma2: Vec<f64>,
    samples: u64,
    rng: StdRng,
    queries: u64,
}

impl SimulatedOracle {
    /// A respondent with utilities `mu`, variances `sigma2`, `samples` draws per pair.
    pub fn new(mu: Vec<f64>, sigma2: Vec<f64>, samples: u64, seed: u64) -> Result<Self> {
        if mu.len() != sigma2.len() {
            return Err(Error::InvalidInput(format!(
                "mu has {} entries but sigma2 has {}",
                mu.len(),
                sigma2.len()
            )));
        }
        if samples == 0 {
            return Err(Error::param("samples", "must be ≥ 1"));
        }
        if sigma2.iter().any(|s| !(s.is_finite() && *s >= 0.0)) || mu.iter().any(|m| !m.is_finite())
        {
            return Err(Error::InvalidInput(
                "mu must be finite and sigma2 finite and ≥ 0".into(),
            ));
        }
        Ok(Self {
            mu,
            sigma2,
            samples,
            rng: StdRng::seed_from_u64(seed),
            queries: 0,
        })
    }

    /// A respondent with random utilities: `μ ~ N(0, 1)` and
    /// `log σ² ~ N(log_sigma2_mean, log_sigma2_sd²)`.
    pub fn random(
        n: usize,
        log_sigma2_mean: f64,
        log_sigma2_sd: f64,
        samples: u64,
        seed: u64,
    ) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(0x9E37_79B9_7F4A_7C15));
        let normal = rand_distr::StandardNormal;
        let mu: Vec<f64> = (0..n).map(|_| normal.sample(&mut rng)).collect();
        let sigma2: Vec<f64> = (0..n)
            .map(|_| {
                let e: f64 = normal.sample(&mut rng);
                (log_sigma2_mean + log_sigma2_sd * e).exp()
            })
            .collect();
        Self::new(mu, sigma2, samples, seed)
    }

    /// True utilities.
    pub fn mu(&self) -> &[f64] {
        &self.mu
    }

    /// True variances.
    pub fn sigma2(&self) -> &[f64] {
        &self.sigma2
    }

    /// Number of pairs asked so far.
    pub fn queries(&self) -> u64 {
        self.queries
    }

    /// True `P(a ≻ b)`.
    pub fn probability(&self, a: usize, b: usize) -> f64 {
        let v = self.sigma2[a] + self.sigma2[b];
        let d = self.mu[a] - self.mu[b];
        if v > 0.0 {
            norm_cdf(d / v.sqrt())
        } else if d > 0.0 {
            1.0
        } else if d < 0.0 {
            0.0
        } else {
            0.5
        }
    }

    /// Draws `count_a` for one pair.
    pub fn draw(&mut self, a: usize, b: usize) -> (f64, f64) {
        let p = self.probability(a, b).clamp(0.0, 1.0);
        let wins = Binomial::new(self.samples, p)
            .expect("p in [0, 1]")
            .sample(&mut self.rng) as f64;
        (wins, self.samples as f64 - wins)
    }
}

impl Oracle for SimulatedOracle {
    fn compare(&mut self, pairs: &[(usize, usize)]) -> Result<Vec<(f64, f64)>> {
        let n = self.mu.len();
        pairs
            .iter()
            .map(|&(a, b)| {
                if a >= n || b >= n {
                    return Err(Error::Oracle(format!(
                        "pair ({a}, {b}) out of range for {n} items"
                    )));
                }
                self.queries += 1;
                Ok(self.draw(a, b))
            })
            .collect()
    }
}

/// How new pairs are chosen each round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Lowest `P`% of |Δμ| ∩ lowest `Q`% of degree sum (Utility Engineering).
    #[default]
    Uncertainty,
    /// Uniformly random new pairs (the baseline at the same budget).
    Random,
}

/// Hyperparameters of active learning (see the crate README for the table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveLearningParams {
    /// Degree of the initial random regular graph.
    pub degree: usize,
    /// Percentile of |Δμ| defining the uncertain pairs.
    pub p_percent: f64,
    /// Percentile of degree sums defining the under-sampled pairs.
    pub q_percent: f64,
    /// Factor by which P and Q widen when the intersection is too small.
    pub widen_factor: f64,
    /// Number of attempts (the last one tops up with random pairs).
    pub max_widen: usize,
    /// New pairs per round.
    pub pairs_per_round: usize,
    /// Stop at `edge_multiplier · N · log2 N` pairs.
    pub edge_multiplier: f64,
    /// Optional cap on the number of rounds.
    pub max_rounds: Option<usize>,
    /// When all `N(N−1)/2` pairs exceed this, each round scores a random sample
    /// of this many unused pairs instead of all of them.
    pub max_candidates: usize,
    /// Pair selection strategy.
    pub strategy: Strategy,
    /// Seed of the initial graph and of the sampling.
    pub seed: u64,
    /// Parameters of the fit run every round.
    pub thurstonian: ThurstonianParams,
}

impl Default for ActiveLearningParams {
    fn default() -> Self {
        Self {
            degree: 2,
            p_percent: 10.0,
            q_percent: 20.0,
            widen_factor: 1.5,
            max_widen: 5,
            pairs_per_round: 500,
            edge_multiplier: 2.0,
            max_rounds: None,
            max_candidates: 4_000_000,
            strategy: Strategy::Uncertainty,
            seed: 0,
            thurstonian: ThurstonianParams::default(),
        }
    }
}

/// One active-learning round, reported after its fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundReport {
    /// Round number (0 = the initial graph).
    pub round: usize,
    /// Distinct pairs queried so far.
    pub n_pairs: usize,
    /// Comparisons collected so far (sum of counts).
    pub n_comparisons: f64,
    /// Pairs added in this round.
    pub n_added: usize,
    /// P and Q actually used for this round's selection (after widening).
    pub p_used: f64,
    /// See `p_used`.
    pub q_used: f64,
    /// The fit of this round.
    pub fit: FitStats,
}

/// The outcome of an active-learning run.
#[derive(Debug, Clone)]
pub struct ActiveLearningResult {
    /// The final fit.
    pub model: FittedThurstonian,
    /// Every pair queried, with its counts.
    pub data: PairData,
    /// Per-round reports.
    pub rounds: Vec<RoundReport>,
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident: $t:ty) => {
        $(#[$m])*
        pub fn $name(mut self, v: $t) -> Self {
            self.$name = v;
            self
        }
    };
}

impl ActiveLearningParams {
    setter!(
        /// Sets [`ActiveLearningParams::degree`].
        degree: usize
    );
    setter!(
        /// Sets [`ActiveLearningParams::p_percent`].
        p_percent: f64
    );
    setter!(
        /// Sets [`ActiveLearningParams::q_percent`].
        q_percent: f64
    );
    setter!(
        /// Sets [`ActiveLearningParams::pairs_per_round`].
        pairs_per_round: usize
    );
    setter!(
        /// Sets [`ActiveLearningParams::edge_multiplier`].
        edge_multiplier: f64
    );
    setter!(
        /// Sets [`ActiveLearningParams::max_rounds`].
        max_rounds: Option<usize>
    );
    setter!(
        /// Sets [`ActiveLearningParams::max_candidates`].
        max_candidates: usize
    );
    setter!(
        /// Sets [`ActiveLearningParams::strategy`].
        strategy: Strategy
    );
    setter!(
        /// Sets [`ActiveLearningParams::seed`].
        seed: u64
    );
    setter!(
        /// Sets [`ActiveLearningParams::thurstonian`].
        thurstonian: ThurstonianParams
    );

    /// Validates the parameters.
    pub fn check(&self) -> Result<()> {
        if self.degree == 0 {
            return Err(Error::param("degree", "must be ≥ 1"));
        }
        for (name, v) in [("p_percent", self.p_percent), ("q_percent", self.q_percent)] {
            if !(v > 0.0 && v <= 100.0) {
                return Err(Error::param(name, format!("must lie in (0, 100], got {v}")));
            }
        }
        pref_stats::at_least("widen_factor", self.widen_factor, 1.0)?;
        if self.max_widen == 0 {
            return Err(Error::param("max_widen", "must be ≥ 1"));
        }
        if self.pairs_per_round == 0 {
            return Err(Error::param("pairs_per_round", "must be ≥ 1"));
        }
        pref_stats::positive("edge_multiplier", self.edge_multiplier)?;
        if self.max_candidates == 0 {
            return Err(Error::param("max_candidates", "must be ≥ 1"));
        }
        self.thurstonian.check()?;
        Ok(())
    }

    /// Target number of pairs: `⌊edge_multiplier · N · log2 N⌋`, at most all pairs.
    pub fn target_pairs(&self, n: usize) -> usize {
        let all = n * n.saturating_sub(1) / 2;
        let t = (self.edge_multiplier * n as f64 * (n as f64).log2()).floor();
        (t.max(0.0) as usize).min(all)
    }

    /// Runs active learning over `items`, asking `oracle` for comparisons.
    ///
    /// `pool` restricts the pairs that may be asked (for example to keep held-out
    /// pairs out); `None` allows every pair. `on_round` is called after every
    /// round's fit (for progress or learning curves).
    pub fn run(
        &self,
        items: Vec<String>,
        pool: Option<&[(usize, usize)]>,
        oracle: &mut dyn Oracle,
        mut on_round: impl FnMut(&RoundReport, &FittedThurstonian),
    ) -> Result<ActiveLearningResult> {
        self.check()?;
        let n = items.len();
        if n < 3 {
            return Err(Error::InvalidInput(format!(
                "active learning needs at least 3 items, got {n}"
            )));
        }
        if self.degree >= n {
            return Err(Error::param(
                "degree",
                format!(
                    "must be below the number of items ({n}), got {}",
                    self.degree
                ),
            ));
        }
        let fit_params = self.thurstonian.check()?;
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut data = PairData::with_items(items)?;
        let pool: Option<Vec<(u32, u32)>> = match pool {
            None => None,
            Some(p) => {
                let mut seen = HashSet::with_capacity(p.len());
                let mut out = Vec::with_capacity(p.len());
                for &(a, b) in p {
                    if a >= n || b >= n || a == b {
                        return Err(Error::InvalidInput(format!(
                            "pool pair ({a}, {b}) is not a pair of distinct items among {n}"
                        )));
                    }
                    let key = (a.min(b) as u32, a.max(b) as u32);
                    if seen.insert(key) {
                        out.push(key);
                    }
                }
                Some(out)
            }
        };
        let available = pool.as_ref().map_or(n * (n - 1) / 2, Vec::len);
        let target = self.target_pairs(n).min(available);

        let mut used: HashSet<(u32, u32)> = HashSet::new();
        let mut degree = vec![0u32; n];
        let initial = match &pool {
            None => random_regular_graph(n, self.degree, &mut rng),
            Some(p) => {
                // The initial graph must come from the pool: random pool pairs.
                let want = (n * self.degree / 2).min(p.len());
                let mut idx: Vec<usize> = (0..p.len()).collect();
                idx.shuffle(&mut rng);
                idx.truncate(want);
                idx.sort_unstable();
                idx.into_iter().map(|k| p[k]).collect()
            }
        };
        let mut rounds = Vec::new();
        let mut pending = initial;
        let mut p_used = 0.0;
        let mut q_used = 0.0;
        let mut model: Option<FittedThurstonian> = None;
        let mut round = 0usize;
        loop {
            // Ask the oracle about the pending pairs.
            let query: Vec<(usize, usize)> = pending
                .iter()
                .map(|&(a, b)| (a as usize, b as usize))
                .collect();
            let answers = oracle.compare(&query)?;
            if answers.len() != query.len() {
                return Err(Error::Oracle(format!(
                    "asked {} pairs, got {} answers",
                    query.len(),
                    answers.len()
                )));
            }
            for (&(a, b), &(ca, cb)) in pending.iter().zip(&answers) {
                data.push(a as usize, b as usize, ca, cb)
                    .map_err(|e| Error::Oracle(format!("answer for pair ({a}, {b}): {e}")))?;
                used.insert((a, b));
                degree[a as usize] += 1;
                degree[b as usize] += 1;
            }
            let fitted = match &model {
                Some(prev) => fit_params.fit_from(&data, prev)?,
                None => fit_params.fit(&data)?,
            };
            let report = RoundReport {
                round,
                n_pairs: data.len(),
                n_comparisons: data.total_count(),
                n_added: pending.len(),
                p_used,
                q_used,
                fit: fitted.stats.clone(),
            };
            on_round(&report, &fitted);
            rounds.push(report);
            model = Some(fitted);
            round += 1;
            if data.len() >= target || self.max_rounds.is_some_and(|m| round > m) {
                break;
            }
            let want = self.pairs_per_round.min(target - data.len());
            let cands = candidates(n, pool.as_deref(), &used, self.max_candidates, &mut rng);
            if cands.is_empty() {
                break;
            }
            let m = model.as_ref().expect("fitted above");
            let (chosen, p, q) = match self.strategy {
                Strategy::Random => {
                    let mut c = cands;
                    c.shuffle(&mut rng);
                    c.truncate(want);
                    (c, 100.0, 100.0)
                }
                Strategy::Uncertainty => self.select(m.mu(), &degree, cands, want, &mut rng),
            };
            p_used = p;
            q_used = q;
            if chosen.is_empty() {
                break;
            }
            pending = chosen;
        }
        Ok(ActiveLearningResult {
            model: model.expect("at least one round"),
            data,
            rounds,
        })
    }

    /// Lowest-P% |Δμ| ∩ lowest-Q% degree-sum selection with widening.
    fn select(
        &self,
        mu: &[f64],
        degree: &[u32],
        cands: Vec<(u32, u32)>,
        want: usize,
        rng: &mut StdRng,
    ) -> (Vec<(u32, u32)>, f64, f64) {
        let du: Vec<f64> = cands
            .iter()
            .map(|&(a, b)| (mu[a as usize] - mu[b as usize]).abs())
            .collect();
        let ds: Vec<f64> = cands
            .iter()
            .map(|&(a, b)| (degree[a as usize] + degree[b as usize]) as f64)
            .collect();
        let mut scratch = Vec::with_capacity(cands.len());
        let (mut p, mut q) = (self.p_percent, self.q_percent);
        for attempt in 0..self.max_widen {
            let cu = percentile(&du, p, &mut scratch);
            let cs = percentile(&ds, q, &mut scratch);
            let hit: Vec<usize> = (0..cands.len())
                .filter(|&k| du[k] <= cu && ds[k] <= cs)
                .collect();
            if hit.len() >= want {
                let pick = rand::seq::index::sample(rng, hit.len(), want);
                let mut out: Vec<(u32, u32)> = pick.iter().map(|k| cands[hit[k]]).collect();
                out.sort_unstable();
                return (out, p, q);
            }
            if attempt + 1 < self.max_widen {
                p = (p * self.widen_factor).min(100.0);
                q = (q * self.widen_factor).min(100.0);
            } else {
                // Top up with random candidates outside the intersection.
                let inside: HashSet<usize> = hit.iter().copied().collect();
                let mut rest: Vec<usize> =
                    (0..cands.len()).filter(|k| !inside.contains(k)).collect();
                rest.shuffle(rng);
                rest.truncate(want - hit.len());
                let mut out: Vec<(u32, u32)> =
                    hit.iter().chain(rest.iter()).map(|&k| cands[k]).collect();
                out.sort_unstable();
                return (out, p, q);
            }
        }
        unreachable!("max_widen ≥ 1 is validated")
    }
}

/// The unused pairs a round may choose from (canonical `a < b`).
fn candidates(
    n: usize,
    pool: Option<&[(u32, u32)]>,
    used: &HashSet<(u32, u32)>,
    max_candidates: usize,
    rng: &mut StdRng,
) -> Vec<(u32, u32)> {
    if let Some(p) = pool {
        return p.iter().copied().filter(|k| !used.contains(k)).collect();
    }
    let all = n * (n - 1) / 2;
    if all <= max_candidates {
        let mut out = Vec::with_capacity(all - used.len());
        for a in 0..n as u32 {
            for b in (a + 1)..n as u32 {
                if !used.contains(&(a, b)) {
                    out.push((a, b));
                }
            }
        }
        return out;
    }
    // Too many to score: a random sample of unused pairs.
    let free = all - used.len();
    let want = max_candidates.min(free);
    let mut seen: HashSet<(u32, u32)> = HashSet::with_capacity(want);
    let mut out = Vec::with_capacity(want);
    while out.len() < want {
        let a = rng.random_range(0..n as u32);
        let b = rng.random_range(0..n as u32);
        if a == b {
            continue;
        }
        let key = (a.min(b), a.max(b));
        if !used.contains(&key) && seen.insert(key) {
            out.push(key);
        }
    }
    out
}

/// NumPy's default percentile (linear interpolation between order statistics) of
/// unsorted values, `pct` in percent (pref-stats' one quantile convention).
pub use pref_stats::percentile;

/// A random `d`-regular graph on `n` vertices (pairing model with restarts; when
/// `n·d` is odd one vertex gets degree `d − 1`). Edges are canonical `a < b`.
pub fn random_regular_graph(n: usize, d: usize, rng: &mut StdRng) -> Vec<(u32, u32)> {
    let mut stubs: Vec<u32> = (0..n as u32)
        .flat_map(|v| std::iter::repeat_n(v, d))
        .collect();
    if stubs.len() % 2 == 1 {
        stubs.pop();
    }
    for _ in 0..100 {
        if let Some(edges) = try_pairing(&stubs, rng) {
            return edges;
        }
    }
    // Practically unreachable for small d; fall back to a greedy simple graph.
    let mut edges = HashSet::new();
    let target = stubs.len() / 2;
    let mut deg = vec![0usize; n];
    let mut tries = 0usize;
    while edges.len() < target && tries < 100 * target + 1000 {
        tries += 1;
        let a = rng.random_range(0..n);
        let b = rng.random_range(0..n);
        if a == b || deg[a] >= d || deg[b] >= d {
            continue;
        }
        if edges.insert((a.min(b) as u32, a.max(b) as u32)) {
            deg[a] += 1;
            deg[b] += 1;
        }
    }
    let mut out: Vec<(u32, u32)> = edges.into_iter().collect();
    out.sort_unstable();
    out
}

/// One attempt of the pairing model: repeatedly join two random free stubs
/// that form a new simple edge; give up when stuck.
fn try_pairing(stubs: &[u32], rng: &mut StdRng) -> Option<Vec<(u32, u32)>> {
    let mut free = stubs.to_vec();
    let mut edges = HashSet::with_capacity(free.len() / 2);
    while free.len() >= 2 {
        let mut ok = false;
        for _ in 0..50 {
            let i = rng.random_range(0..free.len());
            let j = rng.random_range(0..free.len());
            let (a, b) = (free[i], free[j]);
            if i == j || a == b {
                continue;
            }
            let key = (a.min(b), a.max(b));
            if edges.contains(&key) {
                continue;
            }
            edges.insert(key);
            let (hi, lo) = (i.max(j), i.min(j));
            free.swap_remove(hi);
            free.swap_remove(lo);
            ok = true;
            break;
        }
        if !ok {
            return None;
        }
    }
    let mut out: Vec<(u32, u32)> = edges.into_iter().collect();
    out.sort_unstable();
    Some(out)
}

/// `P(a ≻ b)` of a fitted model, exposed for oracles that want model-based answers.
pub fn model_probability(model: &FittedThurstonian, a: usize, b: usize) -> f64 {
    let v = model.sigma2()[a] + model.sigma2()[b] + VARIANCE_FLOOR;
    norm_cdf((model.mu()[a] - model.mu()[b]) / v.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy() {
        // numpy 2.4.6: np.percentile([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0], [10, 20, 50, 73.5, 100])
        // -> [1.0, 1.4000000000000001, 3.5, 5.145, 9.0]
        let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let mut s = Vec::new();
        let want = [
            (10.0, 1.0),
            (20.0, 1.4),
            (50.0, 3.5),
            (73.5, 5.145),
            (100.0, 9.0),
        ];
        for (p, v) in want {
            assert!((percentile(&x, p, &mut s) - v).abs() < 1e-12, "p{p}");
        }
    }

    #[test]
    fn regular_graph_is_simple_and_regular() {
        let mut rng = StdRng::seed_from_u64(3);
        for &(n, d) in &[(10usize, 2usize), (51, 2), (40, 3), (7, 4)] {
            let g = random_regular_graph(n, d, &mut rng);
            let mut deg = vec![0; n];
            let mut seen = HashSet::new();
            for &(a, b) in &g {
                assert!(a < b);
                assert!(seen.insert((a, b)), "duplicate edge");
                deg[a as usize] += 1;
                deg[b as usize] += 1;
            }
            assert_eq!(g.len(), n * d / 2);
            assert!(deg
                .iter()
                .all(|&k| k == d || (n * d % 2 == 1 && k == d - 1)));
        }
    }
}
