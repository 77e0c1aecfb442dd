//! `personal::evaluate` on simulated personas whose orders are known in closed
//! form: two personas with opposite orders of four models, global ratings in
//! the first persona's order. Kendall τ of the global ranking is then exactly
//! +1 for the first persona and −1 for the second; System C (persona offsets)
//! recovers both; System A with FastChat's K = 4 cannot move a 100-point gap
//! with this few comparisons. Also: determinism over thread counts, bad input.
#![cfg(feature = "candle")]

use pref_data::Matrix;
use pref_rank::personal::{evaluate, verdict, Judged, PersonalData, PersonalParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const M: usize = 4;

/// 6 prompts per persona, every pair of models on each prompt once, the winner
/// the better model in the persona's order (u0: 0 > 1 > 2 > 3, u1 reversed).
fn data() -> PersonalData {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let per = 6;
    let prompt_persona: Vec<usize> = (0..2 * per).map(|p| p / per).collect();
    let mut judged = Vec::new();
    for (p, &u) in prompt_persona.iter().enumerate() {
        for a in 0..M {
            for b in a + 1..M {
                // u0 prefers lower indices, u1 higher ones.
                let a_wins = (u == 0) == (a < b);
                judged.push(Judged {
                    persona: u,
                    prompt: p,
                    a,
                    b,
                    outcome: if a_wins { 1.0 } else { 0.0 },
                });
            }
        }
    }
    let rows = prompt_persona.len() * M;
    let dim = 8;
    let mut emb = Vec::with_capacity(rows * dim);
    for r in 0..rows {
        let model = r % M;
        for k in 0..dim {
            let signal = if k == model { 1.0 } else { 0.0 };
            emb.push(signal + 0.05 * rng.random::<f32>());
        }
    }
    let style = (0..rows)
        .map(|_| {
            vec![
                rng.random_range(10.0..100.0),
                rng.random_range(0.0..3.0f64).floor(),
            ]
        })
        .collect();
    PersonalData {
        personas: vec!["u0".into(), "u1".into()],
        models: (0..M).map(|m| format!("m{m}")).collect(),
        prompt_persona,
        judged,
        global: vec![1300.0, 1200.0, 1100.0, 1000.0],
        embeddings: Matrix {
            rows,
            cols: dim,
            data: emb,
        },
        style,
        style_names: vec!["tokens".into(), "bold".into()],
    }
}

fn params() -> PersonalParams {
    PersonalParams {
        seeds: 3,
        heldout: 2,
        sizes: vec![6],
        ..PersonalParams::default()
    }
}

#[test]
fn closed_form_rankings_and_recovered_persona_orders() {
    let ev = evaluate(&data(), &params()).unwrap();
    // 4 training prompts × 6 pairs per persona.
    assert_eq!(ev.train_comparisons, 24);
    assert_eq!(ev.curve.len(), 2);
    assert_eq!(ev.curve[0].size, 6);
    assert!(ev.curve[1].all);
    let tau = |u: &str, s: &str| ev.by_persona[u][s]["kendall_tau"];
    // The global order is u0's and the reverse of u1's: τ = +1 and −1 in every
    // repetition, so both intervals have width 0.
    assert_eq!(tau("u0", "global").mean, 1.0);
    assert_eq!(tau("u0", "global").ci, [1.0, 1.0]);
    assert_eq!(tau("u1", "global").mean, -1.0);
    // K = 4: 24 comparisons move an offset by at most 12 · 4 = 48 < 100 points.
    assert_eq!(tau("u1", "A").mean, -1.0);
    // C's persona offsets recover both orders.
    assert_eq!(tau("u0", "C").mean, 1.0);
    assert_eq!(tau("u1", "C").mean, 1.0);
    // Persona-averaged: global 0, C 1; their paired difference is exactly 1.
    let c_vs_global = ev
        .paired
        .iter()
        .find(|p| p.a == "C" && p.b == "global" && p.metric == "kendall_tau")
        .unwrap();
    assert_eq!(c_vs_global.difference.mean, 1.0);
    assert_eq!(c_vs_global.difference.ci, [1.0, 1.0]);
    let v = verdict(&ev, "kendall_tau");
    assert!(
        v.starts_with("C ranks best") || v.starts_with("no winner"),
        "{v}"
    );
    // Leaving a model out: A and global keep the global order.
    let loo = ev.leave_one_out.as_ref().unwrap();
    assert!(loo["global"]["kendall_tau"].mean.abs() < 1e-12);
}

#[test]
fn identical_for_a_seed_whatever_the_thread_count() {
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| serde_json::to_string(&evaluate(&data(), &params()).unwrap()).unwrap())
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(1));
}

#[test]
fn bad_input_is_named() {
    let mut d = data();
    d.judged[3].b = 9;
    let e = evaluate(&d, &params()).unwrap_err().to_string();
    assert!(
        e.contains("comparison 3: model or prompt index out of range"),
        "{e}"
    );
    let mut d = data();
    d.judged[0].prompt = 7; // persona u1's prompt
    let e = evaluate(&d, &params()).unwrap_err().to_string();
    assert!(
        e.contains("comparison 0: prompt 7 is not persona 0's"),
        "{e}"
    );
    let mut d = data();
    d.global.pop();
    assert!(evaluate(&d, &params())
        .unwrap_err()
        .to_string()
        .contains("global ratings"));
    let e = evaluate(
        &data(),
        &PersonalParams {
            seeds: 1,
            ..params()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("seeds"), "{e}");
    let e = evaluate(
        &data(),
        &PersonalParams {
            sizes: vec![6, 3],
            ..params()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("sizes"), "{e}");
    let e = evaluate(
        &data(),
        &PersonalParams {
            heldout: 6,
            ..params()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("persona `u0` has 6 prompts"), "{e}");
}
