//! All eight estimators with influence-function intervals (and the oracle
//! jackknife) on simulated data: 2,000 rows × 3 policies (the reference library's
//! timing case), 100k rows × 4 policies and 1M rows × 4 policies.
//! Run: `flock /tmp/pref-bench.lock cargo bench -p pref-cje --bench cje -- --warm-up-time 1 --measurement-time 5`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pref_cje::{simulate, CjeParams, SimParams, SimPolicy};

fn policies(k: usize) -> Vec<SimPolicy> {
    [
        SimPolicy::new("clone", 0.0, 0.0),
        SimPolicy::new("better", 1.5, 0.5),
        SimPolicy::new("heavy", 1.0, 1.3),
        SimPolicy::new("worse", -1.0, 0.4),
    ][..k]
        .to_vec()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cje_all_estimators");
    g.sample_size(10);
    let params = CjeParams::default().check().unwrap();
    for (n, k) in [(2_000usize, 3usize), (100_000, 4), (1_000_000, 4)] {
        let sim = simulate(&SimParams {
            n_prompts: n,
            policies: policies(k),
            seed: 7,
            ..SimParams::default()
        });
        let data = sim.to_data().unwrap();
        drop(sim);
        g.bench_with_input(
            BenchmarkId::new("fit", format!("{n}x{k}")),
            &data,
            |b, d| b.iter(|| params.fit(d).unwrap()),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
