//! How much faster is greedy generation of several sequences decoded together
//! (one llama.cpp batch per step, one row per sequence) than one sequence at a
//! time, on the embedded default model? The measurement behind the probe
//! study's design (completions dominate its run time). Prints tokens per second
//! for 1, 4 and 8 sequences per batch.
//!
//! `cargo run -p pref-llm --features llama --example batched_generation [STEPS]`

mod common;

use std::time::Instant;

use common::context_params;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use pref_llm::llama::{try_backend, LlamaConfig};

fn argmax(logits: &[f32]) -> LlamaToken {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    LlamaToken(best as i32)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(32);
    let backend = try_backend()?;
    let path = pref_data::paths::embedded_model("default")
        .ok_or("no default model")?
        .main_path();
    let _ = LlamaConfig::default();
    let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())?;
    let prompts: Vec<String> = (0..8)
        .map(|k| {
            format!(
                "<|im_start|>user\nWrite a short story about a {} who finds a key.<|im_end|>\n\
                 <|im_start|>assistant\n",
                ["cat", "pilot", "baker", "robot", "child", "sailor", "doctor", "farmer"][k]
            )
        })
        .collect();
    for width in [1usize, 4, 8] {
        let mut ctx = model.new_context(backend, context_params(512).with_n_seq_max(8))?;
        let t = Instant::now();
        let mut generated = 0usize;
        for group in prompts.chunks(width) {
            ctx.clear_kv_cache();
            // Prompts, one sequence each, then one row per sequence per step.
            let toks: Vec<Vec<LlamaToken>> = group
                .iter()
                .map(|p| model.vocab().tokenize(p.as_bytes(), true, true))
                .collect();
            let mut batch = LlamaBatch::new(4096, group.len() as i32);
            let mut rows = Vec::new();
            for (s, tk) in toks.iter().enumerate() {
                for (i, &x) in tk.iter().enumerate() {
                    batch.add(x, i as i32, &[s as i32], i + 1 == tk.len())?;
                }
                rows.push(batch.n_tokens() - 1);
            }
            ctx.decode(&mut batch)?;
            let mut pos: Vec<i32> = toks.iter().map(|t| t.len() as i32).collect();
            for _ in 0..steps {
                let next: Vec<LlamaToken> = rows
                    .iter()
                    .map(|&r| argmax(ctx.get_logits_ith(r)))
                    .collect();
                batch.clear();
                rows.clear();
                for (s, &x) in next.iter().enumerate() {
                    batch.add(x, pos[s], &[s as i32], true)?;
                    rows.push(s as i32);
                    pos[s] += 1;
                }
                ctx.decode(&mut batch)?;
                generated += next.len();
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "{width} sequence(s) per batch: {generated} tokens in {s:.1} s = {:.1} tokens/s",
            generated as f64 / s
        );
    }
    Ok(())
}
