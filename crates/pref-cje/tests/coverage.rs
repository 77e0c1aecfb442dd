//! Coverage of the 95% intervals on simulated data with known truth
//! (`pref_cje::simulate`: log-normal-heavy weights, judge a monotone transform of
//! the expected reward, noisy oracle labels on 10% of rows, 1000 prompts).
//!
//! `coverage_short` (in the suite): 100 replications, wide tolerance.
//! `coverage_long` (`cargo test -p pref-cje --release --test coverage -- --ignored --nocapture`):
//! 500 replications, prints the table of the crate README.

use std::collections::BTreeMap;

use pref_cje::{simulate, CjeParams, GateStatus, SimParams};

#[derive(Default, Debug, Clone)]
struct Cell {
    n: usize,
    covered: usize,
    n_ok: usize,
    covered_ok: usize,
    sum_err: f64,
    sum_sq_err: f64,
    sum_se: f64,
}

type Table = BTreeMap<(String, String), Cell>;

fn run(reps: u64, seed0: u64) -> (Table, BTreeMap<String, [usize; 3]>) {
    let params = CjeParams::default().check().unwrap();
    let mut table = Table::new();
    let mut gates: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    for rep in 0..reps {
        let sim = simulate(&SimParams {
            seed: seed0 + rep,
            ..SimParams::default()
        });
        let data = sim.to_data().unwrap();
        let res = params.fit(&data).unwrap();
        for (policy, pr) in &res.policies {
            let truth = sim.truth[policy];
            let ok = pr.gate.status == GateStatus::Ok;
            gates.entry(policy.clone()).or_default()[pr.gate.status as usize] += 1;
            for (est, e) in &pr.estimates {
                let c = table.entry((policy.clone(), est.clone())).or_default();
                let hit = e.ci_lower <= truth && truth <= e.ci_upper;
                c.n += 1;
                c.covered += hit as usize;
                if ok {
                    c.n_ok += 1;
                    c.covered_ok += hit as usize;
                }
                c.sum_err += e.estimate - truth;
                c.sum_sq_err += (e.estimate - truth).powi(2);
                c.sum_se += e.se;
            }
        }
    }
    (table, gates)
}

fn print(table: &Table, gates: &BTreeMap<String, [usize; 3]>) {
    println!(
        "| policy | estimator | coverage (all) | coverage (gate ok) | bias | RMSE | mean se |"
    );
    println!("|---|---|---|---|---|---|---|");
    for ((p, e), c) in table {
        let ok = if c.n_ok > 0 {
            format!(
                "{:.1}% of {}",
                100.0 * c.covered_ok as f64 / c.n_ok as f64,
                c.n_ok
            )
        } else {
            "— (never ok)".into()
        };
        println!(
            "| {p} | {e} | {:.1}% | {ok} | {:+.4} | {:.4} | {:.4} |",
            100.0 * c.covered as f64 / c.n as f64,
            c.sum_err / c.n as f64,
            (c.sum_sq_err / c.n as f64).sqrt(),
            c.sum_se / c.n as f64
        );
    }
    for (p, g) in gates {
        println!("gate {p}: ok {} warn {} refuse {}", g[0], g[1], g[2]);
    }
}

#[test]
fn coverage_short() {
    let (table, gates) = run(100, 1_000);
    print(&table, &gates);
    // The acceptance criterion of the issue on the estimators it names, with a
    // tolerance for 100 replications (binomial sd ≈ 2.2 points at 95%).
    for ((p, e), c) in &table {
        if matches!(
            e.as_str(),
            "snips" | "calibrated-ips" | "dr" | "tmle" | "stacked-dr"
        ) && c.n_ok >= 50
        {
            let cov = c.covered_ok as f64 / c.n_ok as f64;
            assert!(
                (0.88..=1.0).contains(&cov),
                "{p} {e}: coverage {cov} over {} ok replications",
                c.n_ok
            );
        }
    }
    // The simulator's policies: a clone and a mild shift pass the gate, the heavy one does not.
    assert_eq!(gates["clone"][0], 100);
    assert!(gates["better"][0] >= 90, "{gates:?}");
    assert!(gates["heavy"][0] <= 10, "{gates:?}");
}

#[test]
#[ignore = "long: 500 replications (the README table)"]
fn coverage_long() {
    let (table, gates) = run(500, 1_000_000);
    print(&table, &gates);
    for ((p, e), c) in &table {
        // Only cells with enough gate-ok replications to measure a coverage.
        if matches!(e.as_str(), "snips" | "calibrated-ips" | "dr") && c.n_ok >= 100 {
            let cov = c.covered_ok as f64 / c.n_ok as f64;
            assert!((0.92..=0.98).contains(&cov), "{p} {e}: coverage {cov}");
        }
    }
}
