//! Ratings on 1,000,000 battles among 200 models (the performance targets):
//! load + aggregate + fit (JSONL and Parquet), aggregate + fit over a size grid,
//! 1,000 bootstrap replicates, and online Elo throughput.
//!
//! Data: strengths θ evenly spread over [−2, 2], battles between uniformly drawn pairs,
//! 10 % ties, otherwise a Bradley–Terry draw; generated with a fixed seed.
//!
//! `style_bt_fit`: System C (`pref_rank::style`) on 3 groups × 6 models × 2 style
//! features, 2,000 and 20,000 simulated observations (fit + Laplace standard errors).
//!
//! `cargo bench -p pref-rank --bench rank` (add `-- --quick` for a smoke run).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pref_data::{write_jsonl, BattleTable, Winner};
use pref_rank::{
    BootstrapParams, BtParams, EloParams, PairData, ParamGuard, StyleBtParams, StyleData,
    StyleObservation,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const MODELS: usize = 200;

fn battles(n: usize) -> BattleTable {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let theta: Vec<f64> = (0..MODELS)
        .map(|i| -2.0 + 4.0 * i as f64 / (MODELS - 1) as f64)
        .collect();
    let mut t = BattleTable::new();
    for i in 0..MODELS {
        t.intern(&format!("model-{i:03}-{}b-chat-v{}", 1 + i % 70, i % 4));
    }
    for _ in 0..n {
        let a = rng.random_range(0..MODELS);
        let b = (a + 1 + rng.random_range(0..MODELS - 1)) % MODELS;
        let w = if rng.random::<f64>() < 0.1 {
            Winner::Tie
        } else if rng.random::<f64>() < 1.0 / (1.0 + (theta[b] - theta[a]).exp()) {
            Winner::A
        } else {
            Winner::B
        };
        t.push_ids(a as u32, b as u32, w);
    }
    t
}

fn bench(c: &mut Criterion) {
    let n = 1_000_000;
    let table = battles(n);
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("battles.jsonl");
    let pq = dir.path().join("battles.parquet");
    write_jsonl(&jsonl, &table.to_battles()).unwrap();
    table.write_parquet(&pq).unwrap();
    let bt = BtParams::default().check().unwrap();

    let mut g = c.benchmark_group("bt_1M_battles_200_models");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    for (name, path) in [("jsonl", &jsonl), ("parquet", &pq)] {
        g.bench_function(format!("load_aggregate_fit/{name}"), |b| {
            b.iter(|| {
                let t = BattleTable::read(path).unwrap();
                let fit = bt.fit(&PairData::from_table(&t)).unwrap();
                assert!(fit.grad_norm <= 1e-10);
                fit
            })
        });
    }
    g.bench_function("aggregate", |b| b.iter(|| PairData::from_table(&table)));
    let data = PairData::from_table(&table);
    g.bench_function("fit", |b| b.iter(|| bt.fit(&data).unwrap()));
    g.finish();

    let mut g = c.benchmark_group("aggregate_fit_200_models");
    g.sample_size(10);
    for n in [10_000usize, 100_000, 1_000_000] {
        let t = battles(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| bt.fit(&PairData::from_table(&t)).unwrap())
        });
    }
    g.finish();

    let fit = bt.fit(&data).unwrap();
    let mut g = c.benchmark_group("bootstrap_1M_battles_200_models");
    g.sample_size(10);
    for reps in [100usize, 1000] {
        let boot = BootstrapParams::default()
            .replicates(reps)
            .seed(1)
            .check()
            .unwrap();
        g.bench_function(format!("{reps}_replicates"), |b| {
            b.iter(|| boot.run(&bt, &data, &fit).unwrap())
        });
    }
    g.finish();

    let elo = EloParams::default().check().unwrap();
    let mut g = c.benchmark_group("online_elo_1M_battles");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("fit", |b| {
        b.iter_batched(
            || vec![1000.0; MODELS],
            |mut r| {
                elo.update(&mut r, &table);
                r
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// 3 groups × 6 models × 2 features: θ evenly spread over [−1, 1], δ = 0.3 × a fixed
/// pattern, β per group, standard normal features, 10 % ties.
fn style_data(n: usize) -> StyleData {
    let (groups, models) = (3usize, 6usize);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let theta: Vec<f64> = (0..models).map(|m| -1.0 + 0.4 * m as f64).collect();
    let beta = [[0.4, -0.2], [0.0, 0.3], [-0.3, 0.1]];
    let obs = (0..n)
        .map(|_| {
            let g = rng.random_range(0..groups);
            let a = rng.random_range(0..models);
            let b = (a + 1 + rng.random_range(0..models - 1)) % models;
            let x: Vec<f64> = (0..2).map(|_| StandardNormal.sample(&mut rng)).collect();
            let delta = |m: usize| 0.3 * (((g + 1) * (m + 2)) % 5) as f64 - 0.6;
            let z =
                theta[a] + delta(a) - theta[b] - delta(b) + beta[g][0] * x[0] + beta[g][1] * x[1];
            let outcome = if rng.random::<f64>() < 0.1 {
                0.5
            } else if rng.random::<f64>() < 1.0 / (1.0 + (-z).exp()) {
                1.0
            } else {
                0.0
            };
            StyleObservation {
                group: g,
                a,
                b,
                outcome,
                features: x,
            }
        })
        .collect();
    let names = |p: &str, k: usize| (0..k).map(|i| format!("{p}{i}")).collect();
    StyleData::new(
        names("model-", models),
        names("persona-", groups),
        names("style-", 2),
        obs,
    )
    .unwrap()
}

fn style_bt_fit(c: &mut Criterion) {
    let params = StyleBtParams::default().check().unwrap();
    let mut g = c.benchmark_group("style_bt_fit_3_groups_6_models_2_features");
    for n in [2_000usize, 20_000] {
        let data = style_data(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| {
                let fit = params.fit(&data).unwrap();
                assert!(fit.covariance && fit.grad_norm <= 1e-9);
                fit
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, style_bt_fit);
criterion_main!(benches);
