//! OpenAI Batch API round trip: a run in deferred mode queues its requests,
//! they are exported as a batch input file, a results file in the Batch API
//! output format (written here, as OpenAI would return it) is imported into the
//! cache, and the rerun completes with zero live calls (the mock endpoint
//! expects none and fails the test on drop if one arrives).
#![cfg(feature = "openai")]

use std::sync::Arc;

use pref_llm::openai::{OpenAiConfig, OpenAiLm, NOT_IN_TOP_LOGPROBS};
use pref_llm::{CachedModel, Error, LanguageModel, Message, ModelCache, SamplingParams};
use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn config(base: &str) -> OpenAiConfig {
    OpenAiConfig::new(format!("{base}/v1"), "gpt-test")
}

fn prompts() -> Vec<Vec<Message>> {
    (0..4)
        .map(|i| {
            vec![
                Message::system("Be brief."),
                Message::user(format!("Question {i}?")),
            ]
        })
        .collect()
}

fn options() -> Vec<String> {
    vec!["A".into(), "B".into()]
}

/// One Batch API output line answering `input` (a batch input line).
fn answer(input: &Value, i: usize) -> Value {
    let is_choice = input["body"]["max_tokens"] == json!(1);
    let content = if is_choice { "A" } else { "Answer" };
    let mut choice = json!({"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": format!("{content} {i}")}});
    if is_choice {
        choice["message"]["content"] = json!("A");
        choice["logprobs"] = json!({"content": [{"token": "A", "logprob": -0.2, "bytes": null,
            "top_logprobs": [{"token": "A", "logprob": -0.2, "bytes": null},
                             {"token": "B", "logprob": -1.8, "bytes": null}]}]});
    }
    json!({
        "id": format!("batch_req_{i}"),
        "custom_id": input["custom_id"],
        "response": {"status_code": 200, "request_id": format!("req_{i}"), "body": {
            "id": format!("chatcmpl-{i}"), "object": "chat.completion", "created": 1_700_000_000u32,
            "model": "gpt-test", "choices": [choice],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}},
        "error": null
    })
}

#[tokio::test]
async fn export_then_import_completes_the_run_without_live_calls() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(ModelCache::open(dir.path()).unwrap());
    let params = SamplingParams {
        max_tokens: 32,
        ..SamplingParams::default()
    };

    // 1. Deferred run: every call is queued, none is sent.
    let deferred = CachedModel::new(
        OpenAiLm::new(config(&server.uri()))
            .unwrap()
            .deferred(cache.clone()),
        cache.clone(),
    );
    let mut custom_ids = Vec::new();
    for p in prompts() {
        for r in [
            deferred.generate(&p, &params).await.map(|_| ()),
            deferred.choice_logprobs(&p, &options()).await.map(|_| ()),
        ] {
            match r {
                Err(Error::Deferred { custom_id }) => custom_ids.push(custom_id),
                other => panic!("expected a deferral, got {other:?}"),
            }
        }
    }
    // Deferring again (a resumed run) does not duplicate the queue.
    assert!(deferred.generate(&prompts()[0], &params).await.is_err());

    // 2. Export: one Batch API line per pending request, custom_id = cache key.
    let input = dir.path().join("batch_input.jsonl");
    let n = deferred.inner().export_batch(&cache, &input).unwrap();
    assert_eq!(n, 8);
    let lines: Vec<Value> = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    for l in &lines {
        assert_eq!(l["method"], "POST");
        assert_eq!(l["url"], "/v1/chat/completions");
        assert_eq!(l["body"]["model"], "gpt-test");
        assert!(custom_ids.contains(&l["custom_id"].as_str().unwrap().to_string()));
    }

    // 3. The batch ran elsewhere; one request failed there, one line is foreign.
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let line = if i == 5 {
            json!({"id": "batch_req_5", "custom_id": l["custom_id"], "response": null,
                   "error": {"code": "server_error", "message": "try again"}})
        } else {
            answer(l, i)
        };
        out += &format!("{line}\n");
    }
    out += &format!(
        "{}\n",
        answer(&json!({"custom_id": "not-ours", "body": {}}), 99)
    );
    let output = dir.path().join("batch_output.jsonl");
    std::fs::write(&output, out).unwrap();
    let report = deferred.inner().import_batch(&cache, &output).unwrap();
    assert_eq!(report.completed, 7);
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].1.contains("try again"));
    assert_eq!(report.unknown, 1);

    // 4. The failed one is still pending: export it again, answer it, import.
    let retry_in = dir.path().join("retry_input.jsonl");
    assert_eq!(deferred.inner().export_batch(&cache, &retry_in).unwrap(), 1);
    let l: Value =
        serde_json::from_str(std::fs::read_to_string(&retry_in).unwrap().trim()).unwrap();
    let retry_out = dir.path().join("retry_output.jsonl");
    std::fs::write(&retry_out, format!("{}\n", answer(&l, 5))).unwrap();
    assert_eq!(
        deferred
            .inner()
            .import_batch(&cache, &retry_out)
            .unwrap()
            .completed,
        1
    );
    assert_eq!(deferred.inner().export_batch(&cache, &retry_in).unwrap(), 0);

    // 5. The rerun, live this time, is served entirely from the cache.
    let live = CachedModel::new(OpenAiLm::new(config(&server.uri())).unwrap(), cache.clone());
    for p in prompts() {
        let c = live.generate(&p, &params).await.unwrap();
        assert!(c.text.starts_with("Answer"), "{c:?}");
        let ch = live.choice_logprobs(&p, &options()).await.unwrap();
        // softmax of (-0.2, -1.8): 1 / (1 + e^{-1.6}) = 0.832018385...
        // (python: 1/(1+math.exp(-1.6)))
        assert!((ch.normalised[0] - 0.832_018_385).abs() < 1e-6, "{ch:?}");
        assert!(ch.logprobs.iter().all(|l| *l > NOT_IN_TOP_LOGPROBS));
    }
    assert_eq!(live.stats().made, 0);
    assert_eq!(live.stats().cached, 8);
    assert_eq!(live.inner().stats().attempts, 0);

    // A malformed results file names the file and line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "\n{\"custom_id\": 3}\n").unwrap();
    let e = live
        .inner()
        .import_batch(&cache, &bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.jsonl:2") && e.contains("Batch API output"),
        "{e}"
    );
}
