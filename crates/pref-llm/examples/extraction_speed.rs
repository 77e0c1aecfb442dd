//! Throughput of activation extraction (`LanguageModel::conversation_states`)
//! against plain llama.cpp decoding of the same tokens (one batch, logits of
//! the last row only, the same context settings), on the embedded default
//! model. Interleaves the variants so that machine load affects them alike;
//! prints tokens per second per variant and the ratio to plain decoding.
//!
//! `cargo run --release -p pref-llm --features llama --example extraction_speed [REPS]`

mod common;

use std::time::Instant;

use common::{context_params, words};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use pref_llm::llama::{try_backend, LlamaConfig, LlamaLm};
use pref_llm::{LanguageModel, Message, Position};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let lm = LlamaLm::load(LlamaConfig::default())?;
    let backend = try_backend()?;
    let model = LlamaModel::load_from_file(
        backend,
        lm.info().path.clone(),
        &LlamaModelParams::default(),
    )?;
    let mut ctx = model.new_context(backend, context_params(4096))?;

    // 8 conversations: a ~120-word task and a ~60-word answer each.
    let convs: Vec<(Vec<Message>, String)> = (0..8)
        .map(|k| {
            (
                vec![Message::user(format!(
                    "Summarise this article:\n{}",
                    words(120, k * 7)
                ))],
                words(60, k * 11),
            )
        })
        .collect();
    let mut token_lists = Vec::new();
    for (p, a) in &convs {
        let text = format!("{}{a}<|im_end|>\n", rt.block_on(lm.prompt(p))?.text);
        token_lists.push(model.vocab().tokenize(text.as_bytes(), true, true));
    }
    let total: usize = token_lists.iter().map(Vec::len).sum();
    println!("{} conversations, {total} tokens; {reps} reps", convs.len());
    let all = [Position::Last, Position::TurnBoundary, Position::AnswerMean];
    for r in 0..reps {
        let mut line = format!("rep {r}:");
        let mut plain = f64::NAN;
        for name in [
            "plain decode",
            "extract 15+22 (50%, 75%)",
            "extract 29 (last)",
        ] {
            let t = Instant::now();
            for ((p, a), tokens) in convs.iter().zip(&token_lists) {
                match name {
                    "plain decode" => {
                        ctx.clear_kv_cache();
                        let mut batch = LlamaBatch::new(tokens.len(), 1);
                        for (i, &tok) in tokens.iter().enumerate() {
                            batch.add(tok, i as i32, &[0], i + 1 == tokens.len())?;
                        }
                        ctx.decode(&mut batch)?;
                    }
                    "extract 29 (last)" => {
                        rt.block_on(lm.conversation_states(p, a, &[29], &all))?;
                    }
                    _ => {
                        rt.block_on(lm.conversation_states(p, a, &[15, 22], &all))?;
                    }
                }
            }
            let s = t.elapsed().as_secs_f64();
            let tps = total as f64 / s;
            if name == "plain decode" {
                plain = tps;
            }
            line += &format!("  {name}: {tps:.0} tok/s ({:.0}%)", 100.0 * tps / plain);
        }
        println!("{line}");
    }
    Ok(())
}
