//! Reading 1M battles from JSON Lines, gzip JSON Lines and Parquet, into the
//! columnar `BattleTable` (what rating fits use) and into `Vec<Battle>`.
//!
//! Data: 1,000,000 battles among 200 models with FastChat-like names, winners
//! a/b/tie, generated deterministically and written once per run.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pref_data::{read_records, write_jsonl, Battle, BattleTable, Winner};

const N: usize = 1_000_000;

fn make_table() -> BattleTable {
    let mut t = BattleTable::new();
    let names: Vec<String> = (0..200)
        .map(|i| format!("model-{i:03}-{}b-chat-v{}", 1 + i % 70, i % 4))
        .collect();
    let ids: Vec<u32> = names.iter().map(|n| t.intern(n)).collect();
    // A small LCG keeps the data deterministic without a rand dependency here.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as usize
    };
    for _ in 0..N {
        let a = next() % 200;
        let b = (a + 1 + next() % 199) % 200;
        let w = match next() % 10 {
            0 => Winner::Tie,
            1..=5 => Winner::A,
            _ => Winner::B,
        };
        t.push_ids(ids[a], ids[b], w);
    }
    t
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let table = make_table();
    let battles = table.to_battles();
    let jsonl = dir.path().join("battles.jsonl");
    let gz = dir.path().join("battles.jsonl.gz");
    let pq = dir.path().join("battles.parquet");
    write_jsonl(&jsonl, &battles).unwrap();
    write_jsonl(&gz, &battles).unwrap();
    table.write_parquet(&pq).unwrap();
    for p in [&jsonl, &gz, &pq] {
        eprintln!(
            "{}: {} bytes",
            p.display(),
            std::fs::metadata(p).unwrap().len()
        );
    }

    let mut g = c.benchmark_group("read_1M_battles");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    let cases: [(&str, &Path); 3] = [("jsonl", &jsonl), ("jsonl_gz", &gz), ("parquet", &pq)];
    for (name, path) in cases {
        g.bench_function(format!("table/{name}"), |b| {
            b.iter(|| {
                let t = BattleTable::read(path).unwrap();
                assert_eq!(t.len(), N);
                t
            })
        });
        g.bench_function(format!("records/{name}"), |b| {
            b.iter(|| {
                let v: Vec<Battle> = read_records(path).unwrap();
                assert_eq!(v.len(), N);
                v
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
