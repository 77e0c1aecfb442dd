//! Pieces the llama.cpp measurement examples share (included with `mod common;`).
// Each example uses some of these pieces.
#![allow(dead_code)]

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};

/// `n` words of a short news text, starting `skip` words in (cycled).
pub fn words(n: usize, skip: usize) -> String {
    let text = "The town council of Millbrook voted on Tuesday to turn the disused railway line \
        into a cycle path. The twelve-kilometre route will link three villages and is expected \
        to open next spring. Councillors said the project would cost 2.4 million.";
    text.split_whitespace()
        .cycle()
        .skip(skip)
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A raw context with the embedded backend's determinism settings: 4,096
/// tokens of context and batch, 2 threads, flash attention off, F32 K/V.
pub fn context_params(n_ubatch: u32) -> LlamaContextParams {
    LlamaContextParams::default()
        .with_n_ctx(std::num::NonZeroU32::new(4096))
        .with_n_batch(4096)
        .with_n_ubatch(n_ubatch)
        .with_n_threads(2)
        .with_n_threads_batch(2)
        .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED)
        .with_type_k(KvCacheType::F32)
        .with_type_v(KvCacheType::F32)
}
