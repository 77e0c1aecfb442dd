//! Fits simulated data of a given size and reports time, held-out metrics and
//! peak memory; optionally writes the data for the Python reference.
//!
//! `cargo run --release -p pref-utility --example fit_sim -- N M_TRAIN M_TEST [DIR]`

use std::time::Instant;

use pref_utility::simulate::simulate_split;
use pref_utility::{SeMethod, SimulatedOracle, ThurstonianParams};

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).map_or(Ok(d), |s| s.parse::<usize>());
    let (n, m_train, m_test) = (num(0, 500)?, num(1, 8000)?, num(2, 2000)?);
    let mut oracle = SimulatedOracle::random(n, -1.0, 0.5, 10, 1)?;
    let t = Instant::now();
    let (train, test) = simulate_split(&mut oracle, m_train, m_test, 2)?;
    let sim_s = t.elapsed().as_secs_f64();
    if let Some(dir) = args.get(3) {
        std::fs::create_dir_all(dir)?;
        pref_data::write_records(format!("{dir}/train.jsonl"), &train.to_pair_counts())?;
        pref_data::write_records(format!("{dir}/test.jsonl"), &test.to_pair_counts())?;
        let truth: Vec<String> = (0..n)
            .map(|i| format!("{} {}", oracle.mu()[i], oracle.sigma2()[i]))
            .collect();
        std::fs::write(format!("{dir}/truth.txt"), truth.join("\n"))?;
    }
    let rss_data = peak_rss_mib();
    let model = ThurstonianParams::default().fit(&train)?;
    let rss_fit = peak_rss_mib();
    let ev_train = model.evaluate_data(&train)?;
    let ev_test = model.evaluate_data(&test)?;
    let r = pref_utility::pearson(model.mu(), oracle.mu())?;
    println!(
        "N={n} M={m_train}: simulate {sim_s:.2} s; fit {:.3} s, {} iterations, {} passes, converged={} ({})",
        model.stats.seconds,
        model.stats.iterations,
        model.stats.evaluations,
        model.stats.converged,
        model.stats.termination
    );
    println!(
        "train log loss {:.4} acc {:.4}; test log loss {:.4} acc {:.4} acc_majority {:.4} (n={}); corr(mu, truth) {r:.4}",
        ev_train.log_loss,
        ev_train.accuracy,
        ev_test.log_loss,
        ev_test.accuracy,
        ev_test.accuracy_majority,
        ev_test.n_pairs
    );
    let t = Instant::now();
    let se = model.mu_standard_errors(&train, SeMethod::Auto)?;
    let mean_se = se.mu_se.iter().sum::<f64>() / n as f64;
    println!(
        "standard errors ({:?}): {:.3} s, mean {mean_se:.4}",
        se.method,
        t.elapsed().as_secs_f64()
    );
    if se.method == SeMethod::Exact {
        let t = Instant::now();
        let diag = model.mu_standard_errors(&train, SeMethod::Diagonal)?;
        let mut r: Vec<f64> = diag
            .mu_se
            .iter()
            .zip(&se.mu_se)
            .map(|(d, e)| d / e)
            .collect();
        r.sort_by(f64::total_cmp);
        println!(
            "diagonal approximation: {:.3} s; diagonal/exact min {:.3} median {:.3} max {:.3}",
            t.elapsed().as_secs_f64(),
            r[0],
            r[r.len() / 2],
            r[r.len() - 1]
        );
    }
    if let (Some(a), Some(b), Some(c)) = (rss_data, rss_fit, peak_rss_mib()) {
        println!("peak RSS: after data {a:.0} MiB, after fit {b:.0} MiB, after SEs {c:.0} MiB");
    }
    Ok(())
}
