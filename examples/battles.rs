//! Read battles in any supported format and print per-model win rates.
//!
//! ```text
//! cargo run -p pref-examples --example battles -- fixtures/battles.jsonl
//! cargo run -p pref-examples --example battles -- fixtures/battles_fastchat.parquet
//! ```

use anyhow::Result;
use pref_data::{BattleTable, Winner};

fn main() -> Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixtures/battles.jsonl".to_string());
    let t = BattleTable::read(&path)?;
    // Wins count 1, ties ½, per model.
    let mut score = vec![(0.0f64, 0u64); t.models.len()];
    for i in 0..t.len() {
        let (a, b) = (t.a[i] as usize, t.b[i] as usize);
        let (sa, sb) = match t.winner[i] {
            Winner::A => (1.0, 0.0),
            Winner::B => (0.0, 1.0),
            Winner::Tie => (0.5, 0.5),
        };
        score[a].0 += sa;
        score[a].1 += 1;
        score[b].0 += sb;
        score[b].1 += 1;
    }
    let mut rows: Vec<(&str, f64, u64)> = t
        .models
        .iter()
        .zip(&score)
        .map(|(m, &(s, n))| (m.as_str(), s / n as f64, n))
        .collect();
    rows.sort_by(|x, y| y.1.total_cmp(&x.1));
    println!(
        "{} battles, {} models, {} pairs",
        t.len(),
        t.models.len(),
        t.pair_cells().len()
    );
    for (m, rate, n) in rows {
        println!("{m:>24}  win rate {rate:.3}  ({n} battles)");
    }
    Ok(())
}
