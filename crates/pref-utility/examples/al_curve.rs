//! Active learning vs random pairs at the same budget vs the full fit, on a
//! simulated respondent (held-out accuracy vs comparisons used).
//!
//! `cargo run --release -p pref-utility --example al_curve -- [N] [EDGE_MULTIPLIER] [SEED]`

use pref_utility::simulate::{item_ids, simulate_split};
use pref_utility::{
    ActiveLearningParams, Evaluation, PairData, SimulatedOracle, Strategy, ThurstonianParams,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map_or(Ok(500), |s| s.parse())?;
    let mult: f64 = args.get(1).map_or(Ok(6.0), |s| s.parse())?;
    let seed: u64 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let all = n * (n - 1) / 2;
    let m_test = 2000.min(all / 10);
    // The respondent; the test pairs are drawn first and kept out of every pool.
    let mut oracle = SimulatedOracle::random(n, -1.0, 0.5, 10, seed)?;
    let (_, test) = simulate_split(&mut oracle, 0, m_test, seed + 100)?;
    let held: std::collections::HashSet<(usize, usize)> = test
        .pairs()
        .map(|(a, b, _, _)| (a.min(b), a.max(b)))
        .collect();
    let pool: Vec<(usize, usize)> = (0..n)
        .flat_map(|a| ((a + 1)..n).map(move |b| (a, b)))
        .filter(|p| !held.contains(p))
        .collect();

    // Full fit: every pool pair once.
    let mut full = PairData::with_items(item_ids(n))?;
    for &(a, b) in &pool {
        let (ca, cb) = oracle.draw(a, b);
        full.push(a, b, ca, cb)?;
    }
    let params = ThurstonianParams::default();
    let full_model = params.fit(&full)?;
    let full_ev = full_model.evaluate_data(&test)?;
    println!(
        "N = {n}, {} test pairs, full fit on {} pairs ({} comparisons): accuracy {:.4}, majority {:.4}, log loss {:.4}",
        test.len(), full.len(), full.total_count(), full_ev.accuracy, full_ev.accuracy_majority, full_ev.log_loss
    );

    let mut curves: Vec<Vec<(usize, Evaluation)>> = Vec::new();
    for strategy in [Strategy::Uncertainty, Strategy::Random] {
        let al = ActiveLearningParams::default()
            .edge_multiplier(mult)
            .strategy(strategy)
            .seed(seed);
        let mut curve = Vec::new();
        let mut o = oracle.clone();
        al.run(item_ids(n), Some(&pool), &mut o, |r, m| {
            curve.push((r.n_pairs, m.evaluate_data(&test).expect("same items")));
        })?;
        curves.push(curve);
    }
    println!("| pairs | % of full | AL accuracy | random accuracy | AL majority acc | random majority acc | AL log loss | random log loss |");
    println!("|---|---|---|---|---|---|---|---|");
    for (a, r) in curves[0].iter().zip(&curves[1]) {
        println!(
            "| {} | {:.1}% | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
            a.0,
            100.0 * a.0 as f64 / full.len() as f64,
            a.1.accuracy,
            r.1.accuracy,
            a.1.accuracy_majority,
            r.1.accuracy_majority,
            a.1.log_loss,
            r.1.log_loss
        );
    }
    Ok(())
}
