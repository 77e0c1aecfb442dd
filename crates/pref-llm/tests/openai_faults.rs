//! Fault injection for the OpenAI-compatible backend with a mock HTTP server
//! (wiremock): 429 with and without `Retry-After`, 500, 503, timeouts, malformed
//! JSON, 401, 404 — the number of attempts, the waits and the final error — and
//! key hygiene. The real path is tested against llama.cpp's own server in
//! `tests/openai_server.rs`; these mocks exist only to inject faults.
#![cfg(feature = "openai")]

use std::sync::Arc;
use std::time::Duration;

use pref_llm::openai::{ApiKey, Limits, OpenAiConfig, OpenAiLm};
use pref_llm::{CachedModel, Error, LanguageModel, Message, ModelCache, SamplingParams};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-pref-FAKE-7f3a9c1e-do-not-leak";

fn ok_body(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000u32, "model": "mock",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    })
}

fn lm(server: &MockServer, limits: Limits) -> OpenAiLm {
    let mut cfg = OpenAiConfig::new(format!("{}/v1", server.uri()), "mock-model");
    cfg.api_key = Some(ApiKey::new(KEY));
    cfg.limits = limits;
    OpenAiLm::new(cfg).unwrap()
}

fn fast() -> Limits {
    Limits {
        backoff_base_ms: 20,
        backoff_max_ms: 200,
        max_retries: 3,
        timeout_ms: 2_000,
        ..Limits::default()
    }
}

async fn mount(server: &MockServer, template: ResponseTemplate, times: Option<u64>, priority: u8) {
    let m = Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(template)
        .with_priority(priority);
    match times {
        Some(n) => m.up_to_n_times(n).mount(server).await,
        None => m.mount(server).await,
    }
}

fn hello() -> Vec<Message> {
    vec![Message::user("Say hello.")]
}

#[tokio::test]
async fn retry_after_is_honoured_and_halves_concurrency() {
    let server = MockServer::start().await;
    let t429 = ResponseTemplate::new(429)
        .insert_header("Retry-After", "1")
        .set_body_json(json!({"error": {"message": "slow down"}}));
    mount(&server, t429, Some(1), 1).await;
    mount(
        &server,
        ResponseTemplate::new(200).set_body_json(ok_body("hi")),
        None,
        2,
    )
    .await;
    let m = lm(&server, fast());
    let c = m
        .generate(&hello(), &SamplingParams::default())
        .await
        .unwrap();
    assert_eq!(c.text, "hi");
    let s = m.stats();
    assert_eq!((s.attempts, s.rate_limited, s.succeeded), (2, 1, 1));
    assert_eq!(s.waits.len(), 1);
    // Retry-After (1 s) exceeds the backoff (≤ 20 ms): the wait is the server's.
    assert_eq!(s.waits[0], Duration::from_secs(1));
    assert_eq!(s.min_concurrency_limit, 8.0, "16 halved on the 429");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn rate_limit_without_retry_after_backs_off_exponentially() {
    let server = MockServer::start().await;
    mount(&server, ResponseTemplate::new(429), Some(2), 1).await;
    mount(
        &server,
        ResponseTemplate::new(200).set_body_json(ok_body("hi")),
        None,
        2,
    )
    .await;
    let m = lm(
        &server,
        Limits {
            backoff_base_ms: 40,
            ..fast()
        },
    );
    m.generate(&hello(), &SamplingParams::default())
        .await
        .unwrap();
    let s = m.stats();
    assert_eq!(s.attempts, 3);
    // Equal jitter: retry k waits in [base·2^k / 2, base·2^k].
    let ms: Vec<f64> = s.waits.iter().map(|w| w.as_secs_f64() * 1e3).collect();
    assert!((20.0..=40.0).contains(&ms[0]), "{ms:?}");
    assert!((40.0..=80.0).contains(&ms[1]), "{ms:?}");
    assert_eq!(s.min_concurrency_limit, 4.0);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let server = MockServer::start().await;
    mount(&server, ResponseTemplate::new(500), Some(1), 1).await;
    mount(&server, ResponseTemplate::new(503), Some(1), 2).await;
    mount(
        &server,
        ResponseTemplate::new(200).set_body_json(ok_body("ok")),
        None,
        3,
    )
    .await;
    let m = lm(&server, fast());
    assert_eq!(
        m.generate(&hello(), &SamplingParams::default())
            .await
            .unwrap()
            .text,
        "ok"
    );
    let s = m.stats();
    assert_eq!((s.attempts, s.server_errors, s.waits.len()), (3, 2, 2));
}

#[tokio::test]
async fn persistent_503_exhausts_the_retries() {
    let server = MockServer::start().await;
    mount(
        &server,
        ResponseTemplate::new(503).set_body_string("overloaded"),
        None,
        1,
    )
    .await;
    let m = lm(
        &server,
        Limits {
            max_retries: 2,
            ..fast()
        },
    );
    let e = m
        .generate(&hello(), &SamplingParams::default())
        .await
        .unwrap_err();
    match &e {
        Error::Http {
            status,
            attempts,
            message,
            ..
        } => {
            assert_eq!((*status, *attempts), (Some(503), 3));
            assert!(
                message.contains("server error") && message.contains("overloaded"),
                "{e}"
            );
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    assert!(e.to_string().contains("HTTP 503, 3 attempt(s)"), "{e}");
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let server = MockServer::start().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(ok_body("late"))
        .set_delay(Duration::from_secs(3));
    mount(&server, slow, None, 1).await;
    let m = lm(
        &server,
        Limits {
            timeout_ms: 200,
            max_retries: 1,
            ..fast()
        },
    );
    let e = m
        .generate(&hello(), &SamplingParams::default())
        .await
        .unwrap_err();
    match &e {
        Error::Http {
            status,
            attempts,
            message,
            ..
        } => {
            assert_eq!((*status, *attempts), (None, 2));
            assert!(message.contains("timed out after 200 ms"), "{e}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(m.stats().timeouts, 2);
}

#[tokio::test]
async fn malformed_json_is_retried_then_reported() {
    let server = MockServer::start().await;
    mount(
        &server,
        ResponseTemplate::new(200).set_body_string("{\"id\": \"x\", \"choi"),
        Some(1),
        1,
    )
    .await;
    mount(
        &server,
        ResponseTemplate::new(200).set_body_json(ok_body("fine")),
        None,
        2,
    )
    .await;
    let m = lm(&server, fast());
    assert_eq!(
        m.generate(&hello(), &SamplingParams::default())
            .await
            .unwrap()
            .text,
        "fine"
    );
    assert_eq!(m.stats().attempts, 2);

    let server = MockServer::start().await;
    mount(
        &server,
        ResponseTemplate::new(200).set_body_string("<html>proxy error</html>"),
        None,
        1,
    )
    .await;
    let m = lm(
        &server,
        Limits {
            max_retries: 1,
            ..fast()
        },
    );
    let e = m
        .generate(&hello(), &SamplingParams::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("malformed JSON") && e.to_string().contains("proxy error"),
        "{e}"
    );
    assert!(matches!(e, Error::Http { attempts: 2, .. }), "{e}");
}

/// A 200 answer that is JSON but not a chat completion, with the key echoed in a
/// field that fails to parse (`finish_reason`): serde's message quotes the value,
/// and the error passes through the redaction.
#[tokio::test]
async fn an_unparseable_answer_is_reported_without_the_key() {
    let server = MockServer::start().await;
    let mut body = ok_body("hi");
    body["choices"][0]["finish_reason"] = json!(KEY);
    mount(
        &server,
        ResponseTemplate::new(200).set_body_json(body),
        None,
        1,
    )
    .await;
    let m = lm(&server, fast());
    let e = m
        .generate(&hello(), &SamplingParams::default())
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(matches!(e, Error::Backend(_)), "{text}");
    assert!(
        text.starts_with(
            "the endpoint's answer is not a chat completion: unknown variant `<redacted>`"
        ),
        "{text}"
    );
    assert!(!text.contains(KEY) && !text.contains("7f3a9c1e"), "{text}");
    // Through choice_logprobs too.
    let e = m
        .choice_logprobs(&hello(), &["A".to_string(), "B".to_string()])
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        text.contains("<redacted>") && !text.contains("7f3a9c1e"),
        "{text}"
    );
}

#[tokio::test]
async fn unauthorized_and_not_found_fail_fast_without_the_key() {
    let server = MockServer::start().await;
    // OpenAI echoes (part of) a wrong key in its 401 message; the error must not.
    let body = json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "code": "invalid_api_key"}});
    mount(
        &server,
        ResponseTemplate::new(401).set_body_json(body),
        None,
        1,
    )
    .await;
    let m = lm(&server, fast());
    let e = m
        .generate(&hello(), &SamplingParams::default())
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        matches!(
            e,
            Error::Http {
                status: Some(401),
                attempts: 1,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("unauthorized") && text.contains("<redacted>"),
        "{text}"
    );
    assert!(!text.contains(KEY) && !text.contains("7f3a9c1e"), "{text}");
    // The key was sent, as a bearer token.
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Bearer {KEY}")
    );

    let server = MockServer::start().await;
    mount(
        &server,
        ResponseTemplate::new(404).set_body_string("model not found"),
        None,
        1,
    )
    .await;
    let m = lm(&server, fast());
    let e = m
        .choice_logprobs(&hello(), &["A".into(), "B".into()])
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Http {
                status: Some(404),
                attempts: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("check the base URL and the model name"),
        "{e}"
    );

    let server = MockServer::start().await;
    mount(
        &server,
        ResponseTemplate::new(400).set_body_string("bad"),
        None,
        1,
    )
    .await;
    let m = lm(&server, fast());
    let e = m
        .generate(&hello(), &SamplingParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Http {
                status: Some(400),
                attempts: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn score_is_a_clear_unsupported_error_and_config_is_checked() {
    let server = MockServer::start().await;
    let m = lm(&server, fast());
    let e = m.score(&hello(), "hello").await.unwrap_err();
    assert!(
        e.to_string().contains("not supported by this endpoint"),
        "{e}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
    let bad = OpenAiLm::new(OpenAiConfig::new("http://user:pw@localhost/v1", "m"));
    assert!(bad
        .err()
        .unwrap()
        .to_string()
        .contains("must not carry credentials"));
    // A key in the query string would reach every record, the cache and the report.
    let bad = OpenAiLm::new(OpenAiConfig::new(
        format!("http://localhost/v1?api-key={KEY}"),
        "m",
    ));
    let msg = bad.err().unwrap().to_string();
    assert!(msg.contains("query string") && !msg.contains(KEY), "{msg}");
    let bad = OpenAiLm::new(OpenAiConfig::new("not a url", "m"));
    assert!(bad.err().unwrap().to_string().contains("base URL"));
    assert!(OpenAiLm::new(OpenAiConfig::new("http://localhost/v1", " ")).is_err());
}

/// Key hygiene: a small run (cache, records, error log, stats, config dump) with a
/// recognisable fake key; nothing it wrote or returned contains the key.
#[tokio::test]
async fn the_key_never_reaches_cache_records_logs_or_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body("fine")))
        .up_to_n_times(3)
        .mount(&server)
        .await;
    let echo = json!({"error": {"message": format!("key {KEY} over quota")}});
    mount(
        &server,
        ResponseTemplate::new(429).set_body_json(echo),
        None,
        9,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(ModelCache::open(dir.path().join("cache")).unwrap());
    let mut cfg = OpenAiConfig::new(format!("{}/v1", server.uri()), "mock-model");
    cfg.api_key = Some(ApiKey::new(KEY));
    cfg.limits = Limits {
        max_retries: 1,
        ..fast()
    };
    let config_dump = format!("{cfg:?}\n{}", serde_json::to_string(&cfg).unwrap());
    let m = CachedModel::new(OpenAiLm::new(cfg).unwrap(), cache.clone());
    let mut records = String::new();
    let mut log = String::new();
    for i in 0..5 {
        let msgs = vec![Message::user(format!("prompt {i}"))];
        match m.generate(&msgs, &SamplingParams::default()).await {
            Ok(c) => records += &format!("{}\n", json!({"model": m.id(), "i": i, "completion": c})),
            Err(e) => log += &format!("{e}\n{e:?}\n"),
        }
    }
    assert_eq!(records.lines().count(), 3);
    assert_eq!(
        log.lines().count(),
        4,
        "two failures, Display + Debug each: {log}"
    );
    std::fs::write(dir.path().join("records.jsonl"), &records).unwrap();
    std::fs::write(dir.path().join("run.log"), &log).unwrap();
    std::fs::write(dir.path().join("config.txt"), &config_dump).unwrap();
    let stats = serde_json::to_string(&m.inner().stats()).unwrap();
    std::fs::write(dir.path().join("stats.json"), stats).unwrap();
    drop(m);
    drop(cache);

    let mut files = 0;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&p).unwrap();
            let hit = bytes.windows(8).any(|w| w == b"7f3a9c1e");
            assert!(!hit, "{} contains the key", p.display());
        }
    }
    assert!(files >= 5, "cache, records, log, config, stats: {files}");
    assert!(log.contains("<redacted>"), "{log}");
}

/// Answers with the request's own user message, so the order of results can be checked.
struct Echo;

impl wiremock::Respond for Echo {
    fn respond(&self, r: &wiremock::Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let text = body["messages"][0]["content"].as_str().unwrap().to_string();
        ResponseTemplate::new(200)
            .set_body_json(ok_body(&text))
            .set_delay(Duration::from_millis(100))
    }
}

#[tokio::test]
async fn generate_batch_runs_concurrently_and_keeps_the_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Echo)
        .mount(&server)
        .await;
    let m = lm(
        &server,
        Limits {
            max_concurrency: 4,
            ..fast()
        },
    );
    let reqs: Vec<(Vec<Message>, SamplingParams)> = (0..12)
        .map(|i| {
            (
                vec![Message::user(format!("request {i}"))],
                SamplingParams::default(),
            )
        })
        .collect();
    let out = m.generate_batch(&reqs).await.unwrap();
    let texts: Vec<String> = out.into_iter().map(|c| c.text).collect();
    let want: Vec<String> = (0..12).map(|i| format!("request {i}")).collect();
    assert_eq!(texts, want);
    assert_eq!(m.stats().succeeded, 12);
}
