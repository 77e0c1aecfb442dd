//! A resumable run: records keyed by deterministic ids, skipped when done.
//!
//! Run it twice: the second run finds every record done and does no work.
//!
//! ```text
//! cargo run -p pref-examples --example run_dir -- /tmp/pref-example-run
//! ```

use anyhow::Result;
use pref_data::{record_id, Choice, Comparison, Order, RunDir};

fn main() -> Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "runs/examples/run_dir".to_string());
    let config = toml_config();
    let run = match RunDir::open(&root) {
        Ok(run) => run,
        Err(_) => RunDir::create(&root, &config)?,
    };
    let mut log = run.records::<Comparison>("comparisons")?;
    let items = ["task-a", "task-b", "task-c"];
    let mut done = 0;
    for (i, a) in items.iter().enumerate() {
        for b in &items[i + 1..] {
            for order in [Order::Ab, Order::Ba] {
                let order_name = if order == Order::Ab { "ab" } else { "ba" };
                let id = record_id(&[*a, *b, order_name, "0"]);
                if log.contains(&id) {
                    continue; // done in an earlier (possibly killed) run
                }
                // A real study asks a model here; the example makes up an answer.
                let first_wins = (a.len() + b.len() + i) % 2 == 0;
                let choice = match (order, first_wins) {
                    (Order::Ab, true) | (Order::Ba, false) => Choice::A,
                    _ => Choice::B,
                };
                let rec = Comparison {
                    a: a.to_string(),
                    b: b.to_string(),
                    order,
                    choice: Some(choice),
                    raw: if first_wins { "A" } else { "B" }.to_string(),
                    logprob_a: None,
                    logprob_b: None,
                    model: "example".to_string(),
                    template: "example-v1".to_string(),
                    sample: 0,
                };
                log.append(&id, rec)?;
                done += 1;
            }
        }
    }
    let results = serde_like_results(log.len(), done);
    let path = run.write_json("results.json", &results)?;
    println!(
        "{done} new records, {} in total; results in {}",
        log.len(),
        path.display()
    );
    Ok(())
}

fn toml_config() -> std::collections::BTreeMap<&'static str, &'static str> {
    [("study", "example"), ("model", "none")]
        .into_iter()
        .collect()
}

fn serde_like_results(total: usize, new: usize) -> std::collections::BTreeMap<&'static str, usize> {
    [("records", total), ("new_this_run", new)]
        .into_iter()
        .collect()
}
