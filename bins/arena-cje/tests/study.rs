//! The `arena-cje` binary end to end on the embedded SmolLM2 (π0, targets,
//! judge) and Gemma-3-270M (oracle): a small run whose samples are rebuilt
//! from its records (judge scores from the label probabilities, weights from
//! the teacher-forced log-probs, π_clone's exactly 1, the oracle mean's t
//! interval); the same run killed in every stage and resumed (the same
//! estimates, no record twice, then no model call); bad settings named
//! before any model call.
//!
//! Skips when the models are missing, unless `PREF_REQUIRE_MODELS=1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_present() -> bool {
    pref_data::paths::embedded_models_present(&["default", "gemma-3-270m"])
}

fn cje(args: &[&str], cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_arena-cje"));
    c.args(args)
        .current_dir(root())
        .env("PREF_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run_ok(args: &[&str], cache: &Path) -> Value {
    let out = cje(args, cache).output().unwrap();
    assert!(
        out.status.success(),
        "arena-cje {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run_err(args: &[&str], cache: &Path) -> String {
    let out = cje(args, cache).output().unwrap();
    assert!(!out.status.success(), "arena-cje {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with('}'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// 6 fixture prompts, 8-token responses, two targets, half the prompts
/// labelled by the oracle, two folds.
fn config(dir: &Path, extra: &str) -> String {
    let text = format!(
        "[prompts]\npath = \"fixtures/arena_cje/prompts.jsonl\"\nn = 6\n\
         [logging]\nmax_tokens = 8\n\
         [[targets]]\nname = \"pi_clone\"\n\
         [[targets]]\nname = \"pi_bad\"\nsystem = \"You are an unhelpful assistant. Answer vaguely.\"\n\
         [oracle]\nfraction = 0.5\n\
         [estimation]\nfolds = 2\n{extra}"
    );
    let p = dir.join(format!("cje-{}.toml", extra.len()));
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn bad_settings_are_named_before_any_model_call() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let bad_file = tmp.path().join("bad.jsonl");
    std::fs::write(
        &bad_file,
        "{\"uid\": \"a\", \"prompt\": \"Why is the sky blue?\"}\n{\"uid\": \"b\"}\n",
    )
    .unwrap();
    let cfg = config(tmp.path(), "");
    for (args, want) in [
        (
            vec!["--max-tokens", "0"],
            "logging.max_tokens must be in 1..=4096, got 0",
        ),
        (
            vec!["--oracle-fraction", "0.1"],
            "labels 1 prompts, fewer than estimation.folds 2",
        ),
    ] {
        let mut a = vec!["run", "--config", &cfg, "--dry-run"];
        a.extend(args.iter().copied());
        let err = run_err(&a, &cache);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let hot = config(tmp.path(), "# hot\n");
    std::fs::write(
        &hot,
        std::fs::read_to_string(&hot)
            .unwrap()
            .replace("max_tokens = 8", "max_tokens = 8\ntemperature = 0.7"),
    )
    .unwrap();
    let err = run_err(&["run", "--config", &hot, "--dry-run"], &cache);
    assert!(
        err.contains("logging.temperature must be 1, got 0.7"),
        "{err}"
    );
    if !models_present() {
        return;
    }
    // The prompt file is read at the plan, after the models load.
    for (file, want) in [
        ("/nonexistent/prompts.jsonl", "prompts.path: "),
        (bad_file.to_str().unwrap(), "bad.jsonl:2: prompt: missing"),
    ] {
        let err = run_err(
            &["run", "--config", &cfg, "--dry-run", "--prompts", file],
            &cache,
        );
        assert!(err.contains(want), "{file}: {err}");
    }
    // Teacher forcing SmolLM2's responses under Gemma: different vocabularies.
    let gemma = config(
        tmp.path(),
        "[[targets]]\nname = \"pi_gemma\"\nmodel = { name = \"gemma-3-270m\" }\n",
    );
    let err = run_err(&["run", "--config", &gemma, "--dry-run"], &cache);
    assert!(
        err.contains("target `pi_gemma`") && err.contains("different tokenizer"),
        "{err}"
    );
}

/// scipy.stats.t.ppf(0.975, df) for df = 1, 2, 3, 4, 5.
const T975: [f64; 5] = [
    12.706204736174698,
    4.302652729749464,
    3.182446305284263,
    2.7764451051977987,
    2.570581835636314,
];

#[test]
fn a_small_run_is_rebuilt_from_its_records_and_resumes_after_kills_in_every_stage() {
    if !models_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "");

    // A: uninterrupted.
    let cache_a = tmp.path().join("cache-a");
    let run_a = tmp.path().join("a");
    let a = run_ok(
        &["run", "--config", &cfg, "--out", run_a.to_str().unwrap()],
        &cache_a,
    );
    let rec = |run: &Path, log: &str| lines(&run.join(format!("records/{log}.jsonl")));
    // 6 logged responses; 6 × 3 teacher-forced (base, pi_clone, pi_bad); 12
    // fresh draws; 18 judge scores; the oracle's 3 prompts × 3 responses.
    let sizes = [
        ("logged", 6),
        ("forced", 18),
        ("fresh_draws", 12),
        ("judge_scores", 18),
        ("oracle_labels", 9),
    ];
    for (log, n) in sizes {
        assert_eq!(rec(&run_a, log).len(), n, "{log}");
    }
    assert_eq!(a["prompts"]["read"], 44);
    assert_eq!(a["prompts"]["duplicate_ids"], 1);
    assert_eq!(
        a["prompts"]["not_english"],
        serde_json::json!({"deu": 1, "fra": 1, "spa": 1})
    );
    assert_eq!(a["prompts"]["drawn"], 6);

    // The samples rebuilt from the records.
    let mut forced: BTreeMap<(String, String), f64> = BTreeMap::new();
    for f in rec(&run_a, "forced") {
        forced.insert(
            (
                f["policy"].as_str().unwrap().into(),
                f["prompt_id"].as_str().unwrap().into(),
            ),
            f["logprob"].as_f64().unwrap(),
        );
    }
    let score = |s: &Value| -> f64 {
        // E[score] / 9 from the label probabilities 0..=9.
        let p = s["probs"].as_array().unwrap();
        assert_eq!(p.len(), 10);
        let total: f64 = p.iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9);
        p.iter()
            .enumerate()
            .map(|(i, v)| i as f64 * v.as_f64().unwrap())
            .sum::<f64>()
            / 9.0
    };
    let judged: BTreeMap<String, f64> = rec(&run_a, "judge_scores")
        .iter()
        .map(|s| (s["response"].as_str().unwrap().to_string(), score(s)))
        .collect();
    let oracle: BTreeMap<String, f64> = rec(&run_a, "oracle_labels")
        .iter()
        .map(|s| (s["response"].as_str().unwrap().to_string(), score(s)))
        .collect();
    let samples = lines(&run_a.join("samples.jsonl"));
    assert_eq!(samples.len(), 6);
    for s in &samples {
        let pid = s["prompt_id"].as_str().unwrap();
        let key = format!("logged/{pid}");
        assert!((s["judge_score"].as_f64().unwrap() - judged[&key]).abs() < 1e-12);
        assert_eq!(
            s["oracle_label"].as_f64(),
            oracle.get(&key).copied(),
            "{pid}"
        );
        let base = s["base_policy_logprob"].as_f64().unwrap();
        assert_eq!(base, forced[&("base".to_string(), pid.to_string())]);
        // π_clone is π0: the same teacher forcing, a weight of exactly 1.
        assert_eq!(
            s["target_policy_logprobs"]["pi_clone"].as_f64().unwrap(),
            base
        );
        assert!(base < 0.0, "{pid}: an 8-token response has log p < 0");
    }
    assert_eq!(a["policies"]["pi_clone"]["clone_max_abs_log_weight"], 0.0);
    assert_eq!(a["policies"]["pi_clone"]["clone_of_logging"], true);
    assert_eq!(a["policies"]["pi_bad"]["clone_of_logging"], false);
    assert_eq!(
        a["cje"]["policies"]["pi_clone"]["diagnostics"]["clone"],
        true
    );
    assert_eq!(
        a["cje"]["policies"]["pi_clone"]["diagnostics"]["ess_fraction"],
        1.0
    );
    // The oracle mean of pi_bad's labelled fresh draws, with its t interval.
    let o: Vec<f64> = oracle
        .iter()
        .filter(|(k, _)| k.starts_with("fresh/pi_bad/"))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(o.len(), 3);
    let m = o.iter().sum::<f64>() / 3.0;
    let sd = (o.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 2.0).sqrt();
    let om = &a["policies"]["pi_bad"]["oracle_mean"];
    assert!((om["mean"].as_f64().unwrap() - m).abs() < 1e-12);
    let half = T975[1] * sd / 3f64.sqrt();
    assert!(
        (om["ci"][1].as_f64().unwrap() - (m + half)).abs() < 1e-9,
        "{om}"
    );
    // Every estimator for both targets, the direct one among them.
    for p in ["pi_clone", "pi_bad"] {
        let e = a["cje"]["policies"][p]["estimates"].as_object().unwrap();
        assert_eq!(e.len(), 8, "{p}: {e:?}");
        assert!(e["direct"]["estimate"].is_f64());
    }
    assert_eq!(a["cje"]["calibration"]["mode"], "isotonic-crossfit");
    let fresh = lines(&run_a.join("fresh/pi_bad_responses.jsonl"));
    assert_eq!(fresh.len(), 6);
    assert!(run_a.join("samples.parquet").exists());
    for f in [
        "report.md",
        "index.html",
        "plots/estimates.png",
        "plots/weights.png",
    ] {
        assert!(run_a.join(f).exists(), "{f}");
    }

    // B: the same configuration with its own cache, killed in every stage.
    let cache_b = tmp.path().join("cache-b");
    let run_b = tmp.path().join("b");
    let out_b = run_b.to_str().unwrap().to_string();
    let mut kills = 0;
    for (log, n) in sizes {
        let first = !run_b.join("config.toml").exists();
        let args: Vec<&str> = if first {
            vec!["run", "--config", &cfg, "--out", &out_b]
        } else {
            vec!["run", "--resume", &out_b]
        };
        let mut child = cje(&args, &cache_b).stderr(Stdio::null()).spawn().unwrap();
        let started = Instant::now();
        let mut finished = false;
        while rec(&run_b, log).is_empty() {
            assert!(started.elapsed() < Duration::from_secs(300), "no progress");
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if !finished {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        assert!(rec(&run_b, log).len() <= n, "{log}");
    }
    assert!(kills >= 3, "only {kills} of the 5 stages were killed");
    let b = run_ok(&["run", "--resume", &out_b], &cache_b);
    for (log, n) in sizes {
        // Every record once (a kill may tear a last line, which is repaired).
        assert_eq!(rec(&run_b, log).len(), n, "{log}");
    }
    for key in ["cje", "policies", "prompts", "oracle_labels", "logging"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    let c = run_ok(&["run", "--resume", &out_b], &cache_b);
    assert_eq!(c["model_calls"]["made"], 0);
    assert_eq!(c["cje"], a["cje"]);
    let st = run_ok(&["status", &out_b], &cache_b);
    assert_eq!(st["finished"], true, "{st}");
}

/// Answers a Batch API input file through llama.cpp's own server, writing the
/// Batch API output format (what OpenAI returns for a finished batch).
const ANSWER_BATCH: &str = r#"
import json, sys, urllib.request
url, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
with open(src) as f, open(dst, "w") as out:
    for i, line in enumerate(f):
        req = json.loads(line)
        body = json.dumps(req["body"]).encode()
        r = urllib.request.Request(url + req["url"], data=body, headers={"Content-Type": "application/json"})
        ans = json.loads(urllib.request.urlopen(r, timeout=300).read())
        out.write(json.dumps({"id": f"batch_req_{i}", "custom_id": req["custom_id"],
            "response": {"status_code": 200, "request_id": f"req_{i}", "body": ans},
            "error": None}) + "\n")
"#;

/// The judge behind llama.cpp's server, once live and once through the Batch
/// API (export, answer, import, resume): the same scores, and the batch run's
/// resume makes no live judge call.
#[test]
fn a_batch_judge_gives_the_live_judges_scores() {
    if !models_present() {
        return;
    }
    let Some(server) = pref_llm::openai::local_server::LocalServer::start_default_or_skip(2) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let judge = |batch: bool| {
        format!(
            "[prompts]\npath = \"fixtures/arena_cje/prompts.jsonl\"\nn = 4\n\
             [logging]\nmax_tokens = 6\n\
             [[targets]]\nname = \"pi_bad\"\nsystem = \"Answer vaguely.\"\n\
             [judge.model]\nbackend = \"openai\"\nname = \"smollm2\"\nbase_url = \"{}/v1\"\nbatch = {batch}\n\
             [oracle]\nenabled = false\n[estimation]\nfolds = 2\n",
            server.url()
        )
    };
    let live_cfg = tmp.path().join("live.toml");
    std::fs::write(&live_cfg, judge(false)).unwrap();
    let batch_cfg = tmp.path().join("batch.toml");
    std::fs::write(&batch_cfg, judge(true)).unwrap();
    let live = run_ok(
        &[
            "run",
            "--config",
            live_cfg.to_str().unwrap(),
            "--out",
            tmp.path().join("live").to_str().unwrap(),
        ],
        &cache,
    );

    // The batch run stops at the judge, its 8 requests queued.
    let dir = tmp.path().join("batch");
    let d = dir.to_str().unwrap();
    let err = run_err(
        &["run", "--config", batch_cfg.to_str().unwrap(), "--out", d],
        &tmp.path().join("cache-batch"),
    );
    assert!(
        err.contains("stage `judge`: 8 jobs wait on requests queued for the Batch API"),
        "{err}"
    );
    assert!(lines(&dir.join("records/judge_scores.jsonl")).is_empty());
    let out = tmp.path().join("export");
    let files = run_ok(
        &["batch", "export", d, "--out", out.to_str().unwrap()],
        &tmp.path().join("cache-batch"),
    );
    assert_eq!(files[0]["role"], "judge");
    // Two jobs asking the very same question (a fresh draw equal to the logged
    // response) share one queued request.
    let n = files[0]["requests"].as_u64().unwrap();
    assert!((1..=8).contains(&n), "{files}");
    let input = out.join("judge.jsonl");
    assert_eq!(lines(&input).len() as u64, n);
    let output = tmp.path().join("output.jsonl");
    let st = Command::new("python3")
        .args([
            "-c",
            ANSWER_BATCH,
            server.url(),
            input.to_str().unwrap(),
            output.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let imported = run_ok(
        &["batch", "import", d, output.to_str().unwrap()],
        &tmp.path().join("cache-batch"),
    );
    assert_eq!(imported[0]["completed"], n, "{imported}");
    let b = run_ok(&["run", "--resume", d], &tmp.path().join("cache-batch"));
    assert_eq!(lines(&dir.join("records/judge_scores.jsonl")).len(), 8);
    // Every judge answer came from the cache: the only calls made by the
    // resume are none (the earlier stages were recorded before the stop).
    assert_eq!(b["model_calls"]["made"], 0, "{}", b["model_calls"]);
    assert_eq!(b["cje"], live["cje"]);
    assert_eq!(b["policies"], live["policies"]);
    assert_eq!(b["cje"]["calibration"]["mode"], "judge-as-reward");
}
