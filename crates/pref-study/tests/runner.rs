//! The study runner with an in-process model that injects faults and latency
//! (no model files, no network): the job loop's sliding window, resumption
//! after a failed job without repeating a call, the run lock, refused changes on
//! resume, and a read-only `status`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pref_llm::{
    ChoiceLogprobs, Completion, FinishReason, LanguageModel, Message, ModelCache, ModelId,
    ModelSpec, SamplingParams, TokenLogprobs,
};
use pref_study::{BoxError, Error, Models, PlannedJob, Run, StagePlan, StudyConfig};
use serde::{Deserialize, Serialize};

/// A model that answers `echo: <prompt>` after a delay that depends on the
/// prompt, counts calls in flight, and fails on prompts containing `fail`.
struct Fake {
    id: ModelId,
    fail: bool,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

impl Fake {
    fn new(name: &str) -> Self {
        Self {
            id: ModelId {
                backend: "fake".into(),
                name: name.into(),
                sha256: None,
                base_url: None,
                variant: None,
            },
            fail: true,
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
            calls: Arc::default(),
        }
    }
}

#[async_trait]
impl LanguageModel for Fake {
    fn id(&self) -> &ModelId {
        &self.id
    }

    async fn generate(&self, m: &[Message], _: &SamplingParams) -> pref_llm::Result<Completion> {
        let prompt = m[0].content.clone();
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Uneven latencies (1–7 ms) so answers come back out of order.
        let ms = 1 + prompt.bytes().map(u64::from).sum::<u64>() % 7;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.fail && prompt.contains("fail") {
            return Err(pref_llm::Error::Backend(format!(
                "injected failure on {prompt}"
            )));
        }
        Ok(Completion {
            text: format!("echo: {prompt}"),
            finish_reason: FinishReason::Stop,
            prompt_tokens: 1,
            completion_tokens: 1,
            logprobs: None,
        })
    }

    async fn score(&self, _: &[Message], _: &str) -> pref_llm::Result<TokenLogprobs> {
        Err(pref_llm::Error::Invalid("not used".into()))
    }

    async fn choice_logprobs(
        &self,
        _: &[Message],
        _: &[String],
    ) -> pref_llm::Result<ChoiceLogprobs> {
        Err(pref_llm::Error::Invalid("not used".into()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cfg {
    prompts: Vec<String>,
    model: ModelSpec,
    resolved: Option<BTreeMap<String, String>>,
}

impl StudyConfig for Cfg {
    fn check(&self) -> Result<(), BoxError> {
        if self.prompts.is_empty() {
            return Err("prompts is empty".into());
        }
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rec {
    prompt: String,
    text: Option<String>,
}

fn cfg(n: usize, max_concurrency: usize) -> Cfg {
    Cfg {
        prompts: (0..n).map(|i| format!("prompt {i}")).collect(),
        model: ModelSpec {
            backend: pref_llm::Backend::Openai,
            name: "fake".into(),
            base_url: Some("http://fake.invalid/v1".into()),
            max_concurrency,
            ..ModelSpec::default()
        },
        resolved: None,
    }
}

fn models(cache: &Path, fake: Fake, spec: &ModelSpec) -> Models {
    let mut m = Models::new(Arc::new(ModelCache::open(cache).unwrap()));
    m.insert(spec.clone(), Box::new(fake));
    m
}

fn id(p: &str) -> String {
    pref_data::record_id(&[p])
}

/// Runs the stage `ask` over the config's prompts.
fn ask_all(run: &Run<Cfg>) -> pref_study::Result<usize> {
    let lm = run.model("model")?;
    let mut stage = run
        .stage("ask", "answers")?
        .parsed_when(|r: &Rec| r.text.is_some());
    let n = stage.run(
        &run.config().prompts,
        |p| id(p),
        |p| async move {
            let c = lm
                .generate(&[Message::user(p.clone())], &SamplingParams::default())
                .await?;
            // Answers ending in 7 count as unparseable (kept, counted).
            let text = (!c.text.ends_with('7')).then_some(c.text);
            Ok::<_, pref_llm::Error>(Rec {
                prompt: p.clone(),
                text,
            })
        },
    )?;
    stage.finish();
    Ok(n)
}

#[test]
fn the_window_keeps_exactly_max_concurrency_jobs_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(40, 6);
    let fake = Fake::new("m");
    let max = fake.max_in_flight.clone();
    let run = Run::create_with(
        models(&tmp.path().join("cache"), fake, &c.model),
        "t",
        c.clone(),
        Some(tmp.path().join("run")),
    )
    .unwrap();
    assert_eq!(run.window(), 6);
    assert_eq!(ask_all(&run).unwrap(), 40);
    // Sliding, not chunked: at some point all six were in flight, never more.
    assert_eq!(max.load(Ordering::SeqCst), 6);
    let s = &run.stages()["ask"];
    assert_eq!((s.jobs, s.recorded, s.already_recorded), (40, 40, 0));
    // prompt 7, 17, 27, 37 → answers ending in 7.
    assert_eq!(s.unparseable, 4);
    assert_eq!(s.calls["fake:m"].made, 40);
}

#[test]
fn a_failed_job_stops_the_stage_and_a_resume_repeats_no_call() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = tmp.path().join("run");
    let mut c = cfg(12, 3);
    c.prompts[8] = "please fail".into();
    let fake = Fake::new("m");
    let calls = fake.calls.clone();
    let run = Run::create_with(
        models(&cache, fake, &c.model),
        "t",
        c.clone(),
        Some(dir.clone()),
    )
    .unwrap();
    let e = ask_all(&run).unwrap_err();
    match &e {
        Error::Job { stage, id: job, .. } => {
            assert_eq!(stage, "ask");
            assert_eq!(job, &id("please fail"));
        }
        other => panic!("{other}"),
    }
    let recorded = run.stages()["ask"].recorded;
    assert!((1..12).contains(&recorded), "{recorded}");
    let first_calls = calls.load(Ordering::SeqCst);
    drop(run);

    // The endpoint recovers; the run resumes.
    let mut healed = Fake::new("m");
    healed.fail = false;
    healed.calls = calls.clone();
    let reg = models(&cache, healed, &c.model);
    let run = Run::resume_with(reg, &dir, None).unwrap();
    assert_eq!(ask_all(&run).unwrap(), 12 - recorded);
    let s = &run.stages()["ask"];
    assert_eq!(s.already_recorded, recorded);
    // Every job that reached the model before the failure is answered by the cache
    // (it was cached when it arrived, even if the stage stopped before recording it).
    let made = s.calls["fake:m"].made as usize;
    let cached = s.calls["fake:m"].cached as usize;
    assert_eq!(made + cached, 12 - recorded);
    assert_eq!(calls.load(Ordering::SeqCst), first_calls + made);
    // Exactly the failed prompt and the ones never started were asked again.
    assert!(made >= 1, "the failed job is asked again");
    let log = pref_data::scan_records::<Rec>(&dir.join("records/answers.jsonl")).unwrap();
    assert_eq!(log.entries.len(), 12, "nothing lost, nothing duplicated");
}

#[test]
fn a_second_process_on_a_run_fails_at_once_naming_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = tmp.path().join("run");
    let c = cfg(3, 2);
    let first = Run::create_with(
        models(&cache, Fake::new("m"), &c.model),
        "t",
        c.clone(),
        Some(dir.clone()),
    )
    .unwrap();
    let second = Run::<Cfg>::resume_with(models(&cache, Fake::new("m"), &c.model), &dir, None);
    let msg = match second {
        Err(e @ Error::Locked { .. }) => e.to_string(),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("two writers on one run"),
    };
    assert!(
        msg.contains("run.lock") && msg.contains("another process"),
        "{msg}"
    );
    // A new run into the same directory is refused too (lock first, then config).
    let again = Run::create_with(
        models(&cache, Fake::new("m"), &c.model),
        "t",
        c.clone(),
        Some(dir.clone()),
    );
    assert!(matches!(again, Err(Error::Locked { .. })));
    drop(first);
    Run::<Cfg>::resume_with(models(&cache, Fake::new("m"), &c.model), &dir, None).unwrap();
}

#[test]
fn a_resume_refuses_a_changed_setting_or_model_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = tmp.path().join("run");
    let c = cfg(3, 2);
    drop(
        Run::create_with(
            models(&cache, Fake::new("m"), &c.model),
            "t",
            c.clone(),
            Some(dir.clone()),
        )
        .unwrap(),
    );
    let mut changed = c.clone();
    changed.prompts[1] = "another".into();
    let e = Run::resume_with(
        models(&cache, Fake::new("m"), &c.model),
        &dir,
        Some(&changed),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("`prompts[1]`"), "{e}");
    // The same settings given again are fine.
    drop(Run::resume_with(models(&cache, Fake::new("m"), &c.model), &dir, Some(&c)).unwrap());
    // Another model behind the same spec (another file): refused.
    let e = Run::<Cfg>::resume_with(models(&cache, Fake::new("other"), &c.model), &dir, None)
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("fake:m") && msg.contains("fake:other"),
        "{msg}"
    );
    // A bad setting is an error before any model is loaded.
    let mut bad = c.clone();
    bad.prompts.clear();
    let e = Run::create_with(
        models(&cache, Fake::new("m"), &c.model),
        "t",
        bad,
        Some(tmp.path().join("r2")),
    )
    .err()
    .unwrap();
    assert!(format!("{:?}", e).contains("prompts is empty"), "{e:?}");
    assert!(!tmp.path().join("r2/config.toml").exists());
}

#[test]
fn status_counts_per_stage_and_never_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let c = cfg(10, 2);
    let run = Run::create_with(
        models(&tmp.path().join("cache"), Fake::new("m"), &c.model),
        "t",
        c.clone(),
        Some(dir.clone()),
    )
    .unwrap();
    ask_all(&run).unwrap();
    drop(run);
    // A torn last line, as a kill mid-write leaves it (cut inside a multi-byte character).
    let log = dir.join("records/answers.jsonl");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice("{\"id\":\"x\",\"prompt\":\"caf\u{e9}".as_bytes());
    bytes.pop();
    std::fs::write(&log, &bytes).unwrap();
    let mut plan: Vec<PlannedJob> = c
        .prompts
        .iter()
        .map(|p| PlannedJob {
            id: id(p),
            cached: Some(false),
        })
        .collect();
    plan.push(PlannedJob {
        id: "new-1".into(),
        cached: Some(true),
    });
    plan.push(PlannedJob {
        id: "new-2".into(),
        cached: Some(false),
    });
    let plans = [StagePlan::known("ask", "answers", plan).unparseable_when_null("text")];
    let s = pref_study::status("t", Some(&dir), &plans, serde_json::Value::Null).unwrap();
    let a = s.stage("ask").unwrap();
    assert_eq!((a.planned, a.recorded, a.unparseable), (12, 10, 1));
    assert_eq!((a.to_ask, a.cached, a.calls_needed), (2, Some(1), 1));
    assert_eq!(a.torn_last_line, Some(11));
    assert_eq!(s.expected_model_calls, 1);
    assert!(!s.finished);
    assert_eq!(
        std::fs::read(&log).unwrap(),
        bytes,
        "status wrote to the log"
    );
}
