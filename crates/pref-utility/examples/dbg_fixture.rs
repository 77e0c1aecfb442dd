use pref_utility::{PairData, ThurstonianParams};
fn main() {
    let recs: Vec<pref_data::PairCounts> = pref_data::read_records(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/pair_counts.jsonl"
    ))
    .unwrap();
    let data = PairData::from_pair_counts(&recs).unwrap();
    let p = ThurstonianParams::default()
        .tol_cost(0.0)
        .tol_grad(1e-11)
        .max_iters(300);
    let m = p
        .check()
        .unwrap()
        .fit_with_progress(&data, |pr| eprintln!("{:?}", pr))
        .unwrap();
    println!("{:?}", m.stats);
}
