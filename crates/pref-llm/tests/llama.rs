//! The embedded llama.cpp backend on the real local models (run `cargo xtask setup` first).
#![cfg(feature = "llama")]

use std::process::Command;
use std::sync::{Arc, OnceLock};

use pref_llm::llama::{LlamaConfig, LlamaLm};
use pref_llm::{CachedModel, FinishReason, LanguageModel, Message, ModelCache, SamplingParams};

fn smol() -> &'static LlamaLm {
    static M: OnceLock<LlamaLm> = OnceLock::new();
    M.get_or_init(|| LlamaLm::load(LlamaConfig::default()).expect("run `cargo xtask setup`"))
}

fn gemma() -> &'static LlamaLm {
    static M: OnceLock<LlamaLm> = OnceLock::new();
    M.get_or_init(|| {
        LlamaLm::load(LlamaConfig::for_model("gemma-3-270m")).expect("run `cargo xtask setup`")
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn ask(q: &str) -> Vec<Message> {
    vec![Message::user(q)]
}

const QUESTION: &str = "Which would you rather do?\nA: write a poem about the sea\nB: solve a hard integral\nAnswer with A or B.";

#[test]
fn models_load_with_the_expected_shapes() {
    let s = smol().info();
    assert_eq!((s.n_layer, s.n_embd, s.n_vocab), (30, 576, 49152));
    // SmolLM2's own Jinja template (sha256 of its source, first 16 hex digits).
    assert_eq!(s.chat_template, "jinja:872be49dbb638044");
    let g = gemma().info();
    assert_eq!((g.n_layer, g.n_embd), (18, 640));
    assert_eq!(g.n_vocab, 262144);
    assert_eq!(g.chat_template, "gemma");
    // Different vocabularies, different fingerprints (sha256 hex digests): the
    // arena-cje study refuses to teacher-force one model's text under the other.
    assert_eq!(s.tokenizer.len(), 64);
    assert_ne!(s.tokenizer, g.tokenizer);
    assert_eq!(smol().tokenizer_id().as_deref(), Some(s.tokenizer.as_str()));
    assert!(smol()
        .id()
        .to_string()
        .starts_with("llama.cpp:default@b179c9523d0e"));
}

/// A file that is not GGUF, a GGUF without a template and an unknown built-in
/// template name are errors naming the file or the setting (llama.cpp itself says
/// only `null result from llama cpp` or `ffi error -1`). Repeated options too.
#[test]
fn bad_model_files_and_template_names_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("notes.gguf");
    std::fs::write(&fake, b"these are not weights").unwrap();
    let e = LlamaLm::load(LlamaConfig::for_model(fake.to_str().unwrap()))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        format!(
            "invalid request: {}: not a GGUF model file (it does not start with the bytes \
             `GGUF`); the embedded backend loads llama.cpp GGUF files",
            fake.display()
        )
    );
    let cfg = LlamaConfig {
        chat_template: Some("chatml-but-wrong".into()),
        ..LlamaConfig::default()
    };
    let e = LlamaLm::load(cfg).err().unwrap().to_string();
    assert!(
        e.starts_with(
            "invalid request: chat_template `chatml-but-wrong` is not one of llama.cpp's \
             built-in templates ("
        ) && e.contains("chatml, ")
            && e.contains("gemma"),
        "{e}"
    );
    // Gemma-3-270M's GGUF has no template: given by its path (so without the
    // `gemma` default its short name brings) it is refused, naming the file.
    let gemma_path = pref_data::paths::models_dir().join("gemma-3-270m/gemma-3-270m-q4_k_m.gguf");
    let e = LlamaLm::load(LlamaConfig::for_model(gemma_path.to_str().unwrap()))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        format!(
            "invalid request: {} has no chat template: set chat_template to one of llama.cpp's \
             built-in templates (e.g. \"gemma\" or \"chatml\")",
            gemma_path.display()
        )
    );
    // A context smaller than llama.cpp's sequence count aborted inside llama.cpp
    // (GGML_ASSERT, exit 134); a prompt longer than the context is refused by its
    // token count before llama.cpp sees it.
    let cfg = LlamaConfig {
        n_ctx: 8,
        ..LlamaConfig::default()
    };
    let e = LlamaLm::load(cfg).err().unwrap().to_string();
    assert_eq!(
        e,
        "invalid request: n_ctx must be at least 16 (the context holds up to 16 sequences), got 8"
    );
    let cfg = LlamaConfig {
        n_ctx: 16,
        ..LlamaConfig::default()
    };
    let tiny = LlamaLm::load(cfg).unwrap();
    let n = rt()
        .block_on(tiny.prompt(&ask(QUESTION)))
        .unwrap()
        .tokens
        .len();
    assert!(n > 16, "{n}");
    let e = rt()
        .block_on(tiny.choice_logprobs(&ask(QUESTION), &["A".into(), "B".into()]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!("invalid request: {n} tokens do not fit in the context of 16 tokens (raise n_ctx)")
    );
    let opts = ["A".to_string(), "B".to_string(), "A".to_string()];
    let e = rt()
        .block_on(smol().choice_logprobs(&ask(QUESTION), &opts))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "invalid request: option `A` is given twice (options 0 and 2): options must differ"
    );
}

#[test]
fn missing_model_says_how_to_fix_it() {
    let e = LlamaLm::load(LlamaConfig::for_model("/nonexistent/model.gguf"))
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("/nonexistent/model.gguf") && msg.contains("cargo xtask setup"),
        "{msg}"
    );
}

#[test]
fn greedy_generation_is_deterministic_on_both_models() {
    let rt = rt();
    let p = SamplingParams {
        max_tokens: 24,
        ..SamplingParams::default()
    };
    for m in [smol(), gemma()] {
        let a = rt
            .block_on(m.generate(&ask("Name three colours."), &p))
            .unwrap();
        let b = rt
            .block_on(m.generate(&ask("Name three colours."), &p))
            .unwrap();
        assert_eq!(a, b);
        assert!(!a.text.trim().is_empty(), "{}: empty text", m.id());
        assert!(a.completion_tokens >= 1 && a.completion_tokens <= 24);
        if a.finish_reason == FinishReason::Length {
            assert_eq!(a.completion_tokens, 24);
        }
    }
}

#[test]
fn seeded_sampling_repeats_with_the_same_seed() {
    let rt = rt();
    let p = |seed| SamplingParams {
        max_tokens: 32,
        temperature: 1.0,
        seed,
        ..SamplingParams::default()
    };
    let q = ask("Tell me a story about a cat.");
    let a = rt.block_on(smol().generate(&q, &p(7))).unwrap();
    let b = rt.block_on(smol().generate(&q, &p(7))).unwrap();
    assert_eq!(a.text, b.text);
    let texts: std::collections::BTreeSet<String> = (0..4)
        .map(|s| rt.block_on(smol().generate(&q, &p(100 + s))).unwrap().text)
        .collect();
    assert!(
        texts.len() >= 2,
        "four seeds at temperature 1 gave one text: {texts:?}"
    );
}

#[test]
fn generation_logprobs_agree_with_teacher_forcing() {
    // Independent paths through llama.cpp: token-by-token decoding during
    // generation versus one teacher-forced decode of the same text.
    let rt = rt();
    let p = SamplingParams {
        max_tokens: 12,
        logprobs: true,
        top_logprobs: 3,
        ..SamplingParams::default()
    };
    let q = ask("What is the capital of France?");
    let g = rt.block_on(smol().generate(&q, &p)).unwrap();
    let lps = g.logprobs.clone().unwrap();
    // Greedy: the chosen token is the top alternative, and alternatives are sorted.
    for t in &lps {
        assert_eq!(t.top[0].1, t.logprob);
        assert!(t.top.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(t.logprob <= 0.0);
    }
    let s = rt.block_on(smol().score(&q, &g.text)).unwrap();
    let gen: Vec<f64> = lps.iter().map(|t| t.logprob).collect();
    let n = s.token_logprobs.len().min(gen.len());
    assert!(
        n >= 3,
        "too few tokens to compare: {:?} vs {:?}",
        s.tokens,
        lps
    );
    for k in 0..n {
        if s.tokens[k] != lps[k].token {
            break; // retokenisation differs from generation from here on
        }
        // Generation decodes one row per call, which llama.cpp computes with its
        // few-row kernels; those move a log p by up to 0.2 nats (README, "prompt
        // blocks"). With SmolLM2's own template (default system prompt) the largest
        // difference here is 0.09 nats; a wrong position would be off by nats.
        assert!(
            (s.token_logprobs[k] - gen[k]).abs() < 0.2,
            "token {k} {:?}: score {} vs generation {}",
            s.tokens[k],
            s.token_logprobs[k],
            gen[k]
        );
    }
}

#[test]
fn scoring_is_bit_identical_within_a_process() {
    let rt = rt();
    for m in [smol(), gemma()] {
        let q = ask("Summarise: the cat sat on the mat.");
        let a = rt.block_on(m.score(&q, "A cat sat on a mat.")).unwrap();
        let b = rt.block_on(m.score(&q, "A cat sat on a mat.")).unwrap();
        assert_eq!(
            a.token_logprobs
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>(),
            b.token_logprobs
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        );
        assert!((a.sum_logprob - a.token_logprobs.iter().sum::<f64>()).abs() < 1e-12);
        assert!(a.token_logprobs.iter().all(|&x| x <= 0.0 && x.is_finite()));
        assert_eq!(a.tokens.concat().trim_start(), "A cat sat on a mat.");
    }
}

const CHILD: &str = "PREF_LLM_TEST_SCORE_CHILD";

#[test]
fn score_child() {
    if std::env::var(CHILD).is_err() {
        return;
    }
    let s = rt()
        .block_on(smol().score(
            &ask("Summarise: the cat sat on the mat."),
            "A cat sat on a mat.",
        ))
        .unwrap();
    let bits: Vec<String> = s
        .token_logprobs
        .iter()
        .map(|x| x.to_bits().to_string())
        .collect();
    println!("BITS {}", bits.join(","));
}

#[test]
fn scoring_is_bit_identical_across_processes() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "score_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // libtest prints "test score_child ... " on the same line before our output.
    let line = stdout
        .lines()
        .find_map(|l| l.find("BITS ").map(|i| &l[i..]))
        .unwrap_or_else(|| {
            panic!(
                "child printed no scores: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let here = rt()
        .block_on(smol().score(
            &ask("Summarise: the cat sat on the mat."),
            "A cat sat on a mat.",
        ))
        .unwrap();
    let bits: Vec<String> = here
        .token_logprobs
        .iter()
        .map(|x| x.to_bits().to_string())
        .collect();
    assert_eq!(line, format!("BITS {}", bits.join(",")));
}

#[test]
fn choice_logprobs_match_scoring_the_label() {
    let rt = rt();
    let opts = vec!["A".to_string(), "B".to_string()];
    for m in [smol(), gemma()] {
        let c = rt
            .block_on(m.choice_logprobs(&ask(QUESTION), &opts))
            .unwrap();
        assert!((c.normalised.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(c.logprobs.iter().all(|&l| l < 0.0));
        // The same log-probability through teacher forcing of the one-token label.
        for (k, o) in opts.iter().enumerate() {
            let s = rt.block_on(m.score(&ask(QUESTION), o)).unwrap();
            assert_eq!(
                s.token_logprobs.len(),
                1,
                "{} tokenises `{o}` as one token",
                m.id()
            );
            assert!(
                (s.sum_logprob - c.logprobs[k]).abs() < 1e-3,
                "{}: {} vs {}",
                m.id(),
                s.sum_logprob,
                c.logprobs[k]
            );
        }
    }
    // Multi-token options: the log p of teacher forcing. Options sharing all
    // but their last token are read in one pass over the shared tokens (the
    // label's position in a format such as `<choice>Task A`); others are
    // teacher-forced one by one. Same values up to the kernels' rounding (the
    // one-pass sequence is one token shorter, so its last block differs).
    for long in [
        ["the poem".to_string(), "the integral".to_string()],
        ["<choice>Task A".to_string(), "<choice>Task B".to_string()],
        ["A poem".to_string(), "Integrals".to_string()],
    ] {
        let c = rt
            .block_on(smol().choice_logprobs(&ask(QUESTION), &long))
            .unwrap();
        for (k, o) in long.iter().enumerate() {
            let s = rt.block_on(smol().score(&ask(QUESTION), o)).unwrap();
            assert!(
                (c.logprobs[k] - s.sum_logprob).abs() < 1e-3,
                "{o}: {} vs {}",
                c.logprobs[k],
                s.sum_logprob
            );
        }
    }
    // Bad requests are errors, not panics.
    assert!(rt
        .block_on(smol().choice_logprobs(&ask(QUESTION), &opts[..1]))
        .is_err());
    assert!(rt
        .block_on(smol().generate(&[], &SamplingParams::default()))
        .is_err());
}

#[test]
fn a_second_identical_request_is_served_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(ModelCache::open(dir.path()).unwrap());
    let lm = CachedModel::new(
        LlamaLm::load(LlamaConfig::default()).unwrap(),
        cache.clone(),
    );
    let rt = rt();
    let p = SamplingParams {
        max_tokens: 8,
        ..SamplingParams::default()
    };
    let a = rt.block_on(lm.generate(&ask("Say hi."), &p)).unwrap();
    let b = rt.block_on(lm.generate(&ask("Say hi."), &p)).unwrap();
    assert_eq!(a, b);
    let opts = vec!["A".to_string(), "B".to_string()];
    rt.block_on(lm.choice_logprobs(&ask(QUESTION), &opts))
        .unwrap();
    rt.block_on(lm.choice_logprobs(&ask(QUESTION), &opts))
        .unwrap();
    // A different seed at temperature > 0 is a different entry.
    let s = |seed| SamplingParams {
        temperature: 0.8,
        seed,
        ..p.clone()
    };
    rt.block_on(lm.generate(&ask("Say hi."), &s(1))).unwrap();
    rt.block_on(lm.generate(&ask("Say hi."), &s(2))).unwrap();
    let st = lm.stats();
    assert_eq!((st.made, st.cached), (4, 2));
    assert_eq!(cache.len().unwrap(), 4);
    // A rerun with a fresh wrapper over the same cache makes zero model calls.
    let again = CachedModel::new(
        LlamaLm::load(LlamaConfig::default()).unwrap(),
        cache.clone(),
    );
    rt.block_on(again.generate(&ask("Say hi."), &p)).unwrap();
    rt.block_on(again.choice_logprobs(&ask(QUESTION), &opts))
        .unwrap();
    assert_eq!(again.stats().made, 0);
    // Errors are not cached.
    assert!(rt
        .block_on(again.choice_logprobs(&ask(QUESTION), &opts[..1]))
        .is_err());
    assert_eq!(cache.len().unwrap(), 4);
}

#[test]
fn prefix_shared_scoring_agrees_with_unshared() {
    let rt = rt();
    let prompt = ask("Summarise: the council voted to turn the old railway into a cycle path that opens next spring.");
    let conts: Vec<String> = [
        "The council approved a cycle path on the old railway.",
        "A new cycle path opens next spring.",
        "Railway becomes cycle path.",
        "x",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let shared = rt.block_on(smol().score_shared(&prompt, &conts)).unwrap();
    let again = rt.block_on(smol().score_shared(&prompt, &conts)).unwrap();
    assert_eq!(shared, again, "shared scoring is deterministic");
    let mut worst = 0.0f64;
    for (c, s) in conts.iter().zip(&shared) {
        let u = rt.block_on(smol().score(&prompt, c)).unwrap();
        assert_eq!(u.tokens, s.tokens);
        for (a, b) in u.token_logprobs.iter().zip(&s.token_logprobs) {
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!("prefix sharing vs unshared: max |Δ log p| per token = {worst:.2e} nats");
    assert!(
        worst < 1e-3,
        "shared and unshared scoring differ by {worst} nats per token"
    );
}

/// A judging-style prompt: a long shared article (several prompt blocks), then a tail.
fn judged(tail: &str) -> Vec<Message> {
    let article = "The city council voted on Tuesday to turn the disused railway line between \
        the old mill and the harbour into a cycle path. Residents had campaigned for six years; \
        the plan will cost 2.4 million pounds, half of it from a national fund, and the first \
        section is due to open next spring. Opponents said the money should repair roads first. "
        .repeat(4);
    vec![
        Message::system("You are a careful judge of summaries."),
        Message::user(format!(
            "Article:\n{article}\n\n{tail}\nWhich summary is better? Answer A or B."
        )),
    ]
}

fn bits(xs: &[f64]) -> Vec<u64> {
    xs.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn results_do_not_depend_on_earlier_requests() {
    for model in ["default", "gemma-3-270m"] {
        history_independence(model);
    }
}

fn history_independence(model: &str) {
    // The worker keeps the KV cells of the previous prompt's whole blocks and
    // decodes only from the first block that differs. Every answer must be the
    // same bits as the first request of a freshly loaded model (nothing reused).
    let rt = rt();
    let opts = vec!["A".to_string(), "B".to_string()];
    let p1 = judged("Summary A: The council approved a cycle path.\nSummary B: Roads come first.");
    let p2 = judged("Summary A: Roads come first.\nSummary B: The council approved a cycle path.");
    let greedy = SamplingParams {
        max_tokens: 8,
        logprobs: true,
        ..SamplingParams::default()
    };
    let fresh = || LlamaLm::load(LlamaConfig::for_model(model)).unwrap();
    let want_choice = rt.block_on(fresh().choice_logprobs(&p2, &opts)).unwrap();
    let want_score = rt.block_on(fresh().score(&p2, "A, because")).unwrap();
    let want_gen = rt.block_on(fresh().generate(&p2, &greedy)).unwrap();

    let lm = fresh();
    // History: another prompt with the same article, a generation that leaves its
    // tokens in the cache, an unrelated short prompt, then the article again.
    rt.block_on(lm.choice_logprobs(&p1, &opts)).unwrap();
    rt.block_on(lm.generate(&p1, &greedy)).unwrap();
    let c = rt.block_on(lm.choice_logprobs(&p2, &opts)).unwrap();
    assert_eq!(bits(&c.logprobs), bits(&want_choice.logprobs), "{model}");
    rt.block_on(lm.choice_logprobs(&ask(QUESTION), &opts))
        .unwrap();
    rt.block_on(lm.choice_logprobs(&p1, &opts)).unwrap();
    let s = rt.block_on(lm.score(&p2, "A, because")).unwrap();
    assert_eq!(bits(&s.token_logprobs), bits(&want_score.token_logprobs));
    let g = rt.block_on(lm.generate(&p2, &greedy)).unwrap();
    assert_eq!(g.text, want_gen.text);
    let lp = |g: &pref_llm::Completion| {
        g.logprobs
            .as_ref()
            .unwrap()
            .iter()
            .map(|t| t.logprob)
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&lp(&g)), bits(&lp(&want_gen)));
    // The same prompt twice in a row (everything but the last block reused).
    let again = rt.block_on(lm.choice_logprobs(&p2, &opts)).unwrap();
    assert_eq!(bits(&again.logprobs), bits(&want_choice.logprobs));
}

#[test]
fn prompt_blocks_give_the_bits_of_one_call() {
    // llama.cpp computes a row differently in calls of a few rows (measured: calls
    // of 1–4 rows moved SmolLM2's and Gemma's label log-probs by up to 0.2 nats),
    // so the last block takes the remainder and no call has fewer than
    // `prompt_block` rows. Then blocks of 8, 32 or one call for the whole prompt
    // (4096) give the same bits, on a long prompt (several blocks plus a
    // remainder) and a short one, on both models.
    let rt = rt();
    let opts = vec!["A".to_string(), "B".to_string()];
    let long =
        judged("Summary A: The council approved a cycle path.\nSummary B: Roads come first.");
    let short = ask(QUESTION);
    for model in ["default", "gemma-3-270m"] {
        let mut seen: Option<Vec<u64>> = None;
        for block in [8, 32, 4096] {
            let lm = LlamaLm::load(LlamaConfig {
                prompt_block: block,
                ..LlamaConfig::for_model(model)
            })
            .unwrap();
            assert!(lm.id().to_string().contains(&format!("split=block{block}")));
            let mut b = Vec::new();
            for prompt in [&long, &short] {
                let c = rt.block_on(lm.choice_logprobs(prompt, &opts)).unwrap();
                b.extend(bits(&c.logprobs));
            }
            match &seen {
                Some(s) => assert_eq!(&b, s, "{model}, block {block}"),
                None => seen = Some(b),
            }
        }
    }
    let bad = LlamaLm::load(LlamaConfig {
        prompt_block: 0,
        ..LlamaConfig::default()
    });
    assert!(matches!(bad, Err(e) if e.to_string().contains("prompt_block")));
}
