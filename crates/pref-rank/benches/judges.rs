//! Judge statistics on the real 12,000-decision file
//! (`../shared/data/arena_battles/cnn_selfpref_llm_judge_battles.jsonl`; the bench
//! prints a note and measures nothing when the shared data folder is absent):
//! reading the file, `analyze` with 1000 cluster-bootstrap replicates, `self_bias`
//! and `judge_ratings` (Bradley–Terry refits) with 1000 replicates.
//!
//! `cargo bench -p pref-rank --bench judges`. Python reference:
//! `benches/judges_reference.py`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pref_data::paths::shared_data_dir;
use pref_rank::judges::{analyze, judge_ratings, read_judge_decisions, self_bias};
use pref_rank::JudgeAnalysisParams;

fn bench(c: &mut Criterion) {
    let Some(dir) = shared_data_dir() else { return };
    let path = dir.join("arena_battles/cnn_selfpref_llm_judge_battles.jsonl");
    let decisions = read_judge_decisions(&path).unwrap();
    let n = decisions.len() as u64;
    let p = JudgeAnalysisParams::default(); // 1000 replicates

    let mut g = c.benchmark_group("judges_12k_decisions");
    g.throughput(Throughput::Elements(n));
    g.bench_function("read_jsonl", |b| {
        b.iter(|| read_judge_decisions(&path).unwrap())
    });
    g.bench_function("analyze_1000_reps", |b| {
        b.iter(|| analyze(&decisions, &p).unwrap())
    });
    g.sample_size(10);
    g.bench_function("self_bias_1000_reps", |b| {
        b.iter(|| self_bias(&decisions, &p).unwrap())
    });
    g.bench_function("judge_ratings_1000_reps", |b| {
        b.iter(|| judge_ratings(&decisions, None, &p).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
