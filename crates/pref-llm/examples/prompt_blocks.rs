//! Prompt-decoding cost by block size, and what prefix reuse saves.
//!
//! `cargo run --release -p pref-llm --features llama --example prompt_blocks -- [ARTICLE_WORDS] [REPS]`
//!
//! For each `prompt_block`, times `choice_logprobs` on `REPS` judging-style prompts
//! that share a long article and differ in their last lines, once with every prompt
//! distinct from the start (no reuse possible) and once sharing the article (reuse),
//! and reports how far the answers move with the block size (bit-identical expected).
use std::time::Instant;

use pref_llm::llama::{LlamaConfig, LlamaLm};
use pref_llm::{LanguageModel, Message};

fn main() {
    let mut args = std::env::args().skip(1);
    let words: usize = args
        .next()
        .map_or(500, |s| s.parse().expect("ARTICLE_WORDS"));
    let reps: usize = args.next().map_or(8, |s| s.parse().expect("REPS"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let vocab = [
        "council",
        "railway",
        "voted",
        "spring",
        "cycle",
        "path",
        "residents",
        "said",
        "the",
        "plan",
        "would",
        "cost",
        "million",
        "pounds",
        "and",
        "open",
        "next",
        "year",
    ];
    let article: String = (0..words)
        .map(|i| vocab[(i * 7 + i / 3) % vocab.len()])
        .collect::<Vec<_>>()
        .join(" ");
    let opts = vec!["A".to_string(), "B".to_string()];
    let prompt = |head: usize, tail: usize| {
        vec![Message::user(format!(
            "Note {head}.\n{article}\n\nSummary A: version {tail} of the plan.\nSummary B: the council said no.\nWhich summary is better? Answer A or B."
        ))]
    };
    let mut first: Option<Vec<f64>> = None;
    for block in [16u32, 32, 64, 128, 256, 512, 4096] {
        let lm = LlamaLm::load(LlamaConfig {
            prompt_block: block,
            ..LlamaConfig::default()
        })
        .unwrap();
        // Warm-up.
        rt.block_on(lm.choice_logprobs(&prompt(999, 0), &opts))
            .unwrap();
        let t = Instant::now();
        for r in 0..reps {
            rt.block_on(lm.choice_logprobs(&prompt(r, r), &opts))
                .unwrap();
        }
        let distinct = t.elapsed().as_secs_f64() / reps as f64;
        let t = Instant::now();
        let mut lp = Vec::new();
        for r in 0..reps {
            let c = rt
                .block_on(lm.choice_logprobs(&prompt(1000, r), &opts))
                .unwrap();
            lp.extend(c.logprobs);
        }
        let shared = t.elapsed().as_secs_f64() / reps as f64;
        let diff = first.as_ref().map_or(0.0, |f| {
            f.iter()
                .zip(&lp)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        });
        let same_bits = first
            .as_ref()
            .is_none_or(|f| f.iter().zip(&lp).all(|(a, b)| a.to_bits() == b.to_bits()));
        if first.is_none() {
            first = Some(lp);
        }
        println!(
            "block {block:>5}: distinct prompts {:.3} s/prompt, shared article {:.3} s/prompt; max |Δ log p| vs block 16 {diff:.2e} (bit-identical: {same_bits})",
            distinct, shared
        );
    }
}
