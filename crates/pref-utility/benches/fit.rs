//! Thurstonian fit over the size grid of issue 6 (N items × M pairs, 10 draws per
//! pair, simulated respondent with μ ~ N(0, 1), log σ² ~ N(−1, 0.5²)); default
//! hyperparameters. Reference: emergent-values' full-batch Adam (lr 0.01, 1000
//! epochs, PyTorch, one thread) takes ≈ 2.9 s at 500 × 8k and ≈ 9.9 s at 2k × 60k.
//!
//! `cargo bench -p pref-utility --bench fit` (filter with e.g. `-- 500x8k`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use pref_utility::simulate::simulate_split;
use pref_utility::{SimulatedOracle, ThurstonianParams};

const GRID: [(usize, usize, &str); 4] = [
    (500, 8_000, "500x8k"),
    (2_000, 60_000, "2kx60k"),
    (20_000, 600_000, "20kx600k"),
    (100_000, 3_000_000, "100kx3M"),
];

fn bench_fit(c: &mut Criterion) {
    let mut group = c.benchmark_group("thurstonian_fit");
    group.sampling_mode(SamplingMode::Flat);
    for &(n, m, name) in &GRID {
        let mut oracle = SimulatedOracle::random(n, -1.0, 0.5, 10, 1).unwrap();
        let (train, _) = simulate_split(&mut oracle, m, 0, 2).unwrap();
        group.sample_size(10);
        if m >= 600_000 {
            group.measurement_time(std::time::Duration::from_secs(1));
        } else {
            group.measurement_time(std::time::Duration::from_secs(5));
        }
        let params = ThurstonianParams::default();
        group.bench_with_input(BenchmarkId::from_parameter(name), &train, |b, d| {
            b.iter(|| params.fit(d).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_fit);
criterion_main!(benches);
