//! Active learning: budget, determinism, the pool, the selection rule, oracles.

use std::collections::HashSet;

use pref_utility::simulate::item_ids;
use pref_utility::{ActiveLearningParams, Error, SimulatedOracle, Strategy};

const N: usize = 120;

fn params() -> ActiveLearningParams {
    ActiveLearningParams::default().pairs_per_round(200).seed(5)
}

#[test]
fn reaches_the_budget_with_distinct_pairs() {
    let al = params();
    // ⌊2 · 120 · log2 120⌋ = ⌊1657.5⌋.
    let target = al.target_pairs(N);
    assert_eq!(target, (2.0 * 120.0 * 120f64.log2()).floor() as usize);
    let mut oracle = SimulatedOracle::random(N, -1.0, 0.5, 10, 1).unwrap();
    let res = al.run(item_ids(N), None, &mut oracle, |_, _| {}).unwrap();
    assert_eq!(res.data.len(), target);
    assert_eq!(oracle.queries() as usize, target);
    let pairs: HashSet<(usize, usize)> = res
        .data
        .pairs()
        .map(|(a, b, _, _)| (a.min(b), a.max(b)))
        .collect();
    assert_eq!(pairs.len(), target, "a pair was asked twice");
    // Round 0 is the 2-regular graph: N edges, every item twice.
    assert_eq!(res.rounds[0].n_added, N);
    let mut deg = vec![0; N];
    for k in 0..N {
        let (a, b, _, _) = res.data.pair(k);
        deg[a] += 1;
        deg[b] += 1;
    }
    assert!(deg.iter().all(|&d| d == 2));
    // ⌈(1657 − 120) / 200⌉ = 8 further rounds.
    assert_eq!(res.rounds.len(), 9);
    assert_eq!(res.rounds.last().unwrap().n_pairs, target);
    assert_eq!(
        res.rounds.last().unwrap().n_comparisons,
        10.0 * target as f64
    );
}

#[test]
fn is_deterministic_for_a_seed() {
    let run = |seed: u64| {
        let mut oracle = SimulatedOracle::random(N, -1.0, 0.5, 10, 1).unwrap();
        params()
            .seed(seed)
            .run(item_ids(N), None, &mut oracle, |_, _| {})
            .unwrap()
    };
    let (a, b, c) = (run(5), run(5), run(6));
    assert_eq!(a.data, b.data);
    assert_eq!(a.model.mu(), b.model.mu());
    assert_ne!(a.data, c.data);
}

#[test]
fn selects_close_and_rarely_compared_pairs() {
    use pref_utility::active::percentile;
    let mut oracle = SimulatedOracle::random(N, -1.0, 0.5, 10, 2).unwrap();
    let mut mus: Vec<Vec<f64>> = Vec::new();
    let res = params()
        .run(item_ids(N), None, &mut oracle, |_, m| {
            mus.push(m.mu().to_vec())
        })
        .unwrap();
    // Pairs added in round r were chosen with round r−1's utilities and degrees,
    // among the pairs not asked before: inside both percentile cut-offs, unless
    // the last widening attempt had to top up with random pairs.
    let mut scratch = Vec::new();
    for r in 1..res.rounds.len() {
        let (start, end) = (res.rounds[r - 1].n_pairs, res.rounds[r].n_pairs);
        let mu = &mus[r - 1];
        let mut deg = vec![0.0; N];
        let mut used = HashSet::new();
        for k in 0..start {
            let (a, b, _, _) = res.data.pair(k);
            deg[a] += 1.0;
            deg[b] += 1.0;
            used.insert((a.min(b), a.max(b)));
        }
        let (mut du, mut ds) = (Vec::new(), Vec::new());
        for a in 0..N {
            for b in (a + 1)..N {
                if !used.contains(&(a, b)) {
                    du.push((mu[a] - mu[b]).abs());
                    ds.push(deg[a] + deg[b]);
                }
            }
        }
        let rep = &res.rounds[r];
        assert!(rep.p_used >= 10.0 && rep.q_used >= 20.0);
        let cu = percentile(&du, rep.p_used, &mut scratch);
        let cs = percentile(&ds, rep.q_used, &mut scratch);
        let outside = (start..end)
            .filter(|&k| {
                let (a, b, _, _) = res.data.pair(k);
                (mu[a] - mu[b]).abs() > cu || deg[a] + deg[b] > cs
            })
            .count();
        let topped_up = rep.p_used >= 10.0 * 1.5f64.powi(4) - 1e-9;
        assert!(
            topped_up || outside == 0,
            "round {r}: {outside} pairs outside the cut-offs"
        );
        assert!(
            outside < (end - start) / 2,
            "round {r}: {outside} pairs outside the cut-offs"
        );
    }
    // Random selection reports no percentile filter.
    let mut oracle = SimulatedOracle::random(N, -1.0, 0.5, 10, 2).unwrap();
    let res = params()
        .strategy(Strategy::Random)
        .run(item_ids(N), None, &mut oracle, |_, _| {})
        .unwrap();
    assert_eq!((res.rounds[1].p_used, res.rounds[1].q_used), (100.0, 100.0));
}

#[test]
fn respects_the_pool() {
    let pool: Vec<(usize, usize)> = (0..N)
        .flat_map(|a| ((a + 1)..N).map(move |b| (a, b)))
        .filter(|(a, b)| (a + b) % 3 != 0)
        .collect();
    let allowed: HashSet<(usize, usize)> = pool.iter().copied().collect();
    let mut oracle = SimulatedOracle::random(N, -1.0, 0.5, 10, 3).unwrap();
    let res = params()
        .run(item_ids(N), Some(&pool), &mut oracle, |_, _| {})
        .unwrap();
    assert_eq!(res.data.len(), params().target_pairs(N));
    for (a, b, _, _) in res.data.pairs() {
        assert!(
            allowed.contains(&(a.min(b), a.max(b))),
            "({a}, {b}) is not in the pool"
        );
    }
}

#[test]
fn closures_are_oracles_and_their_errors_surface() {
    let mut truth = SimulatedOracle::random(N, -1.0, 0.5, 4, 4).unwrap();
    let mut calls = 0;
    let mut oracle = |pairs: &[(usize, usize)]| -> pref_utility::Result<Vec<(f64, f64)>> {
        calls += 1;
        Ok(pairs.iter().map(|&(a, b)| truth.draw(a, b)).collect())
    };
    let res = params()
        .max_rounds(Some(2))
        .run(item_ids(N), None, &mut oracle, |_, _| {})
        .unwrap();
    assert_eq!(res.rounds.len(), 3);
    assert_eq!(calls, 3);

    let mut short = |pairs: &[(usize, usize)]| -> pref_utility::Result<Vec<(f64, f64)>> {
        Ok(vec![(1.0, 0.0); pairs.len() - 1])
    };
    let err = params()
        .run(item_ids(N), None, &mut short, |_, _| {})
        .unwrap_err();
    assert!(matches!(err, Error::Oracle(_)), "{err}");
    assert!(
        err.to_string().contains("asked 120 pairs, got 119 answers"),
        "{err}"
    );

    let mut negative = |pairs: &[(usize, usize)]| -> pref_utility::Result<Vec<(f64, f64)>> {
        Ok(vec![(-1.0, 0.0); pairs.len()])
    };
    let err = params()
        .run(item_ids(N), None, &mut negative, |_, _| {})
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("count_a: must be a finite count ≥ 0"),
        "{err}"
    );
}

#[test]
fn invalid_parameters_are_named() {
    let mut oracle = SimulatedOracle::random(N, -1.0, 0.5, 4, 4).unwrap();
    let err = params()
        .p_percent(0.0)
        .run(item_ids(N), None, &mut oracle, |_, _| {})
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid parameter `p_percent`: must lie in (0, 100], got 0"
    );
    let err = params()
        .degree(N)
        .run(item_ids(N), None, &mut oracle, |_, _| {})
        .unwrap_err();
    assert!(
        err.to_string().starts_with("invalid parameter `degree`"),
        "{err}"
    );
}
