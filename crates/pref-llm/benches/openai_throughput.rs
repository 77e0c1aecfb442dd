//! Sustained throughput of the OpenAI-compatible backend against a rate-limited
//! mock endpoint: 50 ms latency, at most 1,200 requests in any sliding minute
//! (429 with `Retry-After: 1` beyond that). The mock only stands in for a
//! provider's rate limiter; the real request path is tested against llama.cpp's
//! server in `tests/openai_server.rs`.
//!
//! `cargo bench -p pref-llm --features openai --bench openai_throughput -- [SECONDS]`
//! (default 120). Prints requests per minute achieved, as a share of the limit,
//! the 429s received and the lowest adaptive concurrency limit.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pref_llm::openai::{Limits, OpenAiConfig, OpenAiLm};
use pref_llm::{LanguageModel, Message, SamplingParams};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const LIMIT_PER_MINUTE: usize = 1200;

/// A provider's limiter: a log of accepted requests over the last 60 s.
struct SlidingMinute {
    accepted: Mutex<VecDeque<Instant>>,
    rejected: AtomicU64,
}

impl Respond for SlidingMinute {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let now = Instant::now();
        let mut log = self.accepted.lock().unwrap();
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            log.pop_front();
        }
        if log.len() >= LIMIT_PER_MINUTE {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({"error": {"message": "rate limit"}}));
        }
        log.push_back(now);
        ResponseTemplate::new(200)
            .set_delay(Duration::from_millis(50))
            .set_body_json(json!({
                "id": "c", "object": "chat.completion", "created": 1u32, "model": "mock",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "ok"}}]
            }))
    }
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(120);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let server = MockServer::start().await;
        let limiter = Arc::new(SlidingMinute {
            accepted: Mutex::new(VecDeque::new()),
            rejected: AtomicU64::new(0),
        });
        Mock::given(method("POST"))
            .respond_with(SharedResponder(limiter.clone()))
            .mount(&server)
            .await;
        let mut cfg = OpenAiConfig::new(format!("{}/v1", server.uri()), "mock");
        cfg.limits = Limits {
            requests_per_minute: Some(LIMIT_PER_MINUTE as u32),
            max_concurrency: 16,
            ..Limits::default()
        };
        let lm = Arc::new(OpenAiLm::new(cfg).unwrap());
        let done = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for w in 0..32u64 {
            let (lm, done) = (lm.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let msgs = vec![Message::user(format!("worker {w} request {i}"))];
                    if lm.generate(&msgs, &SamplingParams::default()).await.is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let elapsed = start.elapsed().as_secs_f64();
        let ok = done.load(Ordering::Relaxed) as f64;
        let per_minute = ok / elapsed * 60.0;
        let s = lm.stats();
        println!(
            "{seconds} s: {ok} successful requests in {elapsed:.1} s = {per_minute:.0}/min = {:.1}% of the {LIMIT_PER_MINUTE}/min limit; \
             429s received {} (server counted {}), attempts {}, lowest adaptive concurrency {}",
            100.0 * per_minute / LIMIT_PER_MINUTE as f64,
            s.rate_limited,
            limiter.rejected.load(Ordering::Relaxed),
            s.attempts,
            s.min_concurrency_limit
        );
    });
}

struct SharedResponder(Arc<SlidingMinute>);

impl Respond for SharedResponder {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        self.0.respond(r)
    }
}
