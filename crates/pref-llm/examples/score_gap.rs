//! Diagnostic: where does teacher forcing through `LlamaLm::score` spend its time
//! compared with a raw llama.cpp decode of the same tokens? Interleaves the
//! variants so that machine load affects them alike, and prints wall and
//! process-CPU seconds per call.
//!
//! `cargo run -p pref-llm --features llama --example score_gap [REPS]`

mod common;

use std::time::Instant;

use common::{context_params, words};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use pref_llm::llama::{try_backend, LlamaConfig, LlamaLm, MAX_SHARED};
use pref_llm::{LanguageModel, Message};

fn cpu_seconds() -> f64 {
    // utime + stime of this process from /proc/self/stat (clock ticks of 1/100 s).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

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
    let prompt = vec![Message::user(format!(
        "Summarise this article:\n{}",
        words(150, 0)
    ))];
    let continuation = words(150, 0);
    let n_cont = rt.block_on(lm.score(&prompt, &continuation))?.tokens.len();

    let backend = try_backend()?;
    let model = LlamaModel::load_from_file(
        backend,
        lm.info().path.clone(),
        &LlamaModelParams::default(),
    )?;
    let mut single = model.new_context(backend, context_params(512))?;
    let mut multi = model.new_context(
        backend,
        context_params(512)
            .with_n_seq_max(MAX_SHARED + 1)
            .with_kv_unified(true),
    )?;
    let text = format!(
        "<|im_start|>user\nSummarise this article:\n{}<|im_end|>\n<|im_start|>assistant\n{}",
        words(150, 0),
        continuation
    );
    let tokens = model.vocab().tokenize(text.as_bytes(), true, true);
    let total = tokens.len();
    println!("{total} tokens, {n_cont} scored; {reps} reps");

    let raw = |ctx: &mut llama_cpp_2::context::LlamaContext| {
        ctx.clear_kv_cache();
        let mut batch = LlamaBatch::new(total, 1);
        for (i, &t) in tokens.iter().enumerate() {
            batch.add(t, i as i32, &[0], i + n_cont >= total).unwrap();
        }
        ctx.decode(&mut batch).unwrap();
    };
    for r in 0..reps {
        let mut line = format!("rep {r}:");
        for name in ["score", "raw n_seq=1", "raw n_seq=16 unified"] {
            let (t, c) = (Instant::now(), cpu_seconds());
            match name {
                "score" => {
                    rt.block_on(lm.score(&prompt, &continuation))?;
                }
                "raw n_seq=1" => raw(&mut single),
                _ => raw(&mut multi),
            }
            line += &format!(
                "  {name}: {:.2} s wall {:.2} s cpu",
                t.elapsed().as_secs_f64(),
                cpu_seconds() - c
            );
        }
        println!("{line}");
    }
    Ok(())
}
