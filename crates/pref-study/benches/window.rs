//! Throughput of a study stage against an OpenAI-compatible endpoint whose
//! latency is 50 ms ± 25 ms (uniform), with `max_concurrency = 16`: the ideal is
//! 16 / 0.05 s = 320 requests per second. The stage runs 480 jobs per iteration
//! through the real HTTP backend, a fresh cache and record log each time; the
//! report line prints requests per second and the share of the ideal.
//!
//! The endpoint is a local mock (wiremock): it injects the latency, nothing else.
//! `cargo bench -p pref-study --features openai --bench window`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pref_llm::{Backend, LanguageModel, Message, ModelSpec, SamplingParams};
use pref_study::{BoxError, Models, Run, StudyConfig};
use rand::Rng;
use serde::{Deserialize, Serialize};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const JOBS: usize = 480;
const WINDOW: usize = 16;

/// Answers every chat completion after a uniform 25–75 ms delay.
struct Latency;

impl Respond for Latency {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let ms = rand::rng().random_range(25..=75);
        ResponseTemplate::new(200)
            .set_delay(Duration::from_millis(ms))
            .set_body_json(serde_json::json!({
                "id": "c", "object": "chat.completion", "created": 1_700_000_000u32,
                "model": "mock",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "A"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
            }))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cfg {
    model: ModelSpec,
    resolved: Option<BTreeMap<String, String>>,
}

impl StudyConfig for Cfg {
    fn check(&self) -> Result<(), BoxError> {
        Ok(())
    }
    fn models(&self) -> Vec<(String, ModelSpec)> {
        vec![("model".into(), self.model.clone())]
    }
    fn recorded_models(&self) -> Option<BTreeMap<String, String>> {
        self.resolved.clone()
    }
    fn record_models(&mut self, ids: BTreeMap<String, String>, _: &str) {
        self.resolved = Some(ids);
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    text: String,
}

/// One stage of `JOBS` jobs in a fresh run; returns the seconds it took. With
/// `chunked`, the loop the study binaries had before pref-study instead: chunks of
/// `WINDOW` requests, each waiting for its slowest member.
fn stage_seconds(url: &str, chunked: bool) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = Cfg {
        model: ModelSpec {
            backend: Backend::Openai,
            name: "mock".into(),
            base_url: Some(url.to_string()),
            max_concurrency: WINDOW,
            ..ModelSpec::default()
        },
        resolved: None,
    };
    let cache = pref_llm::ModelCache::open(tmp.path().join("cache")).unwrap();
    let models = Models::new(std::sync::Arc::new(cache));
    let run = Run::create_with(models, "bench", cfg, Some(tmp.path().join("run"))).unwrap();
    let lm = run.model("model").unwrap();
    let jobs: Vec<usize> = (0..JOBS).collect();
    let mut stage = run.stage::<Answer>("ask", "answers").unwrap();
    let started = Instant::now();
    if chunked {
        for part in jobs.chunks(WINDOW) {
            let asks = part.iter().map(|j| {
                let m = vec![Message::user(format!("question {j}"))];
                async move { lm.generate(&m, &SamplingParams::default()).await }
            });
            run.block_on(futures::future::try_join_all(asks)).unwrap();
        }
        return started.elapsed().as_secs_f64();
    }
    stage
        .run(
            &jobs,
            |j| j.to_string(),
            |j| async move {
                let m = [Message::user(format!("question {j}"))];
                let c = lm.generate(&m, &SamplingParams::default()).await?;
                Ok::<_, pref_llm::Error>(Answer { text: c.text })
            },
        )
        .unwrap();
    started.elapsed().as_secs_f64()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async {
        let s = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(Latency)
            .mount(&s)
            .await;
        s
    });
    let url = format!("{}/v1", server.uri());
    let mut g = c.benchmark_group("stage_window");
    g.sample_size(10);
    for (name, chunked) in [
        ("sliding_window", false),
        ("chunks_before_pref_study", true),
    ] {
        let mut seconds = Vec::new();
        g.bench_function(format!("{name}/480_jobs_window_16_latency_50ms"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let s = stage_seconds(&url, chunked);
                    seconds.push(s);
                    total += Duration::from_secs_f64(s);
                }
                total
            })
        });
        seconds.sort_by(f64::total_cmp);
        let median = seconds[seconds.len() / 2];
        let ideal = WINDOW as f64 / 0.05;
        println!(
            "{name}: {:.0} requests/s (median of {} stages), ideal {ideal:.0}: {:.1}% of ideal",
            JOBS as f64 / median,
            seconds.len(),
            100.0 * JOBS as f64 / median / ideal
        );
    }
    g.finish();
    drop(server);
}

criterion_group! {
    name = benches;
    // No plots: criterion's PDF plots need system fonts this machine may not have.
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
