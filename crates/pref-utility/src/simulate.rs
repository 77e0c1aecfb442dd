//! Simulated pair data from a respondent with known utilities, for tests,
//! benchmarks and studies of the estimators (learning curves, coverage).

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::active::SimulatedOracle;
use crate::data::PairData;
use crate::error::{Error, Result};

/// Item ids `o0`, `o1`, … used by the simulations.
pub fn item_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("o{i}")).collect()
}

/// Draws `m_train + m_test` distinct unordered pairs uniformly at random, asks
/// `oracle` about each, and splits them into a training and a test set (no
/// pair in both). Pairs are oriented at random.
pub fn simulate_split(
    oracle: &mut SimulatedOracle,
    m_train: usize,
    m_test: usize,
    seed: u64,
) -> Result<(PairData, PairData)> {
    let n = oracle.mu().len();
    let all = n * n.saturating_sub(1) / 2;
    let m = m_train + m_test;
    if n < 2 || m > all {
        return Err(Error::InvalidInput(format!(
            "cannot draw {m} distinct pairs from {n} items ({all} pairs)"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen: HashSet<(u32, u32)> = HashSet::with_capacity(m);
    let mut train = PairData::with_items(item_ids(n))?;
    let mut test = PairData::with_items(item_ids(n))?;
    while seen.len() < m {
        let a = rng.random_range(0..n as u32);
        let b = rng.random_range(0..n as u32);
        if a == b || !seen.insert((a.min(b), a.max(b))) {
            continue;
        }
        let (ca, cb) = oracle.draw(a as usize, b as usize);
        let target = if seen.len() <= m_train {
            &mut train
        } else {
            &mut test
        };
        target.push(a as usize, b as usize, ca, cb)?;
    }
    Ok((train, test))
}
