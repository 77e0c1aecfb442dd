//! Embedded llama.cpp backend throughput on the default model (2 threads):
//! teacher forcing against llama.cpp's own batched decode of the same tokens,
//! prefix sharing, and choice log-probs.

use std::num::NonZeroU32;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use pref_llm::llama::{try_backend, LlamaConfig, LlamaLm};
use pref_llm::{LanguageModel, Message};

const ARTICLE: &str = "The town council of Millbrook voted on Tuesday to turn the disused railway line \
into a cycle path. The twelve-kilometre route will link three villages and is expected to open next \
spring. Councillors said the project would cost 2.4 million and be paid for by a regional grant. \
Residents who spoke at the meeting were mostly in favour, although two farmers whose fields border \
the line asked for new fences and a speed limit for cyclists. The council's engineer said the old \
bridges over the river were sound but would need new railings, and that the surface would be \
compacted gravel rather than tarmac to keep costs down and to drain better in winter. Work is due to \
start in the autumn once the ecological survey of the embankments is finished.";

fn words(n: usize) -> String {
    ARTICLE
        .split_whitespace()
        .cycle()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lm = LlamaLm::load(LlamaConfig::default()).expect("run `cargo xtask setup`");
    let prompt = vec![Message::user(format!(
        "Summarise this article:\n{}",
        words(150)
    ))];
    let continuation = words(150);
    let s = rt.block_on(lm.score(&prompt, &continuation)).unwrap();
    let n_cont = s.token_logprobs.len();

    // Raw llama.cpp: the same total token count decoded in one call with logits at
    // the continuation rows, no log-softmax, same context settings.
    let backend = try_backend().unwrap();
    let model = LlamaModel::load_from_file(
        backend,
        lm.info().path.clone(),
        &LlamaModelParams::default(),
    )
    .unwrap();
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(4096))
        .with_n_batch(4096)
        .with_n_ubatch(512)
        .with_n_threads(2)
        .with_n_threads_batch(2)
        .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED)
        .with_type_k(KvCacheType::F32)
        .with_type_v(KvCacheType::F32);
    let mut ctx = model.new_context(backend, params).unwrap();
    let text = format!(
        "<|im_start|>user\nSummarise this article:\n{}<|im_end|>\n<|im_start|>assistant\n{}",
        words(150),
        continuation
    );
    let tokens = model.vocab().tokenize(text.as_bytes(), true, true);
    let total = tokens.len();
    eprintln!("teacher forcing: {total} tokens in all, {n_cont} scored");

    let mut g = c.benchmark_group("llama_default_2_threads");
    g.sample_size(10);
    g.throughput(Throughput::Elements(total as u64));
    g.bench_function("score_prompt_plus_continuation", |b| {
        b.iter(|| rt.block_on(lm.score(&prompt, &continuation)).unwrap())
    });
    g.bench_function("raw_llama_cpp_decode_same_tokens", |b| {
        b.iter(|| {
            ctx.clear_kv_cache();
            let mut batch = LlamaBatch::new(total, 1);
            for (i, &t) in tokens.iter().enumerate() {
                batch.add(t, i as i32, &[0], i + n_cont >= total).unwrap();
            }
            ctx.decode(&mut batch).unwrap();
        })
    });

    // Prefix sharing: 4 continuations of one ~200-token prompt.
    let prompt200 = vec![Message::user(format!(
        "Summarise this article:\n{}",
        words(160)
    ))];
    let conts: Vec<String> = (0..4).map(|k| words(20 + 5 * k)).collect();
    g.throughput(Throughput::Elements(4));
    g.bench_function("four_continuations_separately", |b| {
        b.iter(|| {
            for cont in &conts {
                rt.block_on(lm.score(&prompt200, cont)).unwrap();
            }
        })
    });
    g.bench_function("four_continuations_prefix_shared", |b| {
        b.iter(|| rt.block_on(lm.score_shared(&prompt200, &conts)).unwrap())
    });

    // Choice log-probs for ~150-token prompts.
    let q = vec![Message::user(format!(
        "{}\nWhich summary is better, A or B? Answer A or B.",
        words(120)
    ))];
    let opts = vec!["A".to_string(), "B".to_string()];
    g.throughput(Throughput::Elements(1));
    g.bench_function("choice_logprobs_150_tokens", |b| {
        b.iter(|| rt.block_on(lm.choice_logprobs(&q, &opts)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
