//! The `utility` binary end to end on the embedded default model: a run killed
//! with SIGKILL mid-elicitation and resumed ends with the same records and
//! results as an uninterrupted run, without duplicate records, and a rerun of a
//! finished run makes no model call.
//!
//! Skips when the model is missing, unless `PREF_REQUIRE_MODELS=1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_present() -> bool {
    let present = pref_data::paths::embedded_model("default")
        .is_some_and(|m| m.files.iter().all(|f| m.dir_path().join(f.file).exists()));
    if !present {
        let required = std::env::var("PREF_REQUIRE_MODELS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "PREF_REQUIRE_MODELS=1 but the default model is missing"
        );
        eprintln!("skipping: run `cargo xtask setup`");
    }
    present
}

fn config(dir: &Path) -> PathBuf {
    let fx = root().join("fixtures/tasks");
    let text = format!(
        "[items]\nn_items = 4\nfiles = [{{ path = {:?}, source = \"alpaca\" }}, {{ path = {:?}, source = \"math\" }}]\n\
         [pairs]\nheldout_fraction = 0.2\n",
        fx.join("alpaca.json"),
        fx.join("math.jsonl")
    );
    let path = dir.join("utility.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn utility(args: &[&str], cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_utility"));
    c.args(args)
        .env("PREF_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

fn run_ok(args: &[&str], cache: &Path) -> Value {
    let out = utility(args, cache).output().unwrap();
    assert!(out.status.success(), "utility {args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The records of a run by id (the `id` field is the deterministic record id).
fn records(run: &Path) -> (usize, BTreeMap<String, Value>) {
    let text = std::fs::read_to_string(run.join("records/comparisons.jsonl")).unwrap_or_default();
    let mut by_id = BTreeMap::new();
    let mut lines = 0;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        lines += 1;
        let v: Value = serde_json::from_str(l).unwrap();
        by_id.insert(v["id"].as_str().unwrap().to_string(), v);
    }
    (lines, by_id)
}

fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter(|l| l.ends_with('}')).count())
        .unwrap_or(0)
}

#[test]
fn killed_run_resumes_to_the_same_records_and_results() {
    if !model_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    let cfg = cfg.to_str().unwrap();

    // A: uninterrupted. 4 items, 6 pairs: 2 held out, 4 for training; 12 questions.
    let run_a = tmp.path().join("a");
    let cache_a = tmp.path().join("cache_a");
    let a = run_ok(
        &["run", "--config", cfg, "--out", run_a.to_str().unwrap()],
        &cache_a,
    );
    assert_eq!(a["n_comparisons"], 12);
    assert_eq!(a["model_calls"]["made"], 12);
    let (n_a, rec_a) = records(&run_a);
    assert_eq!((n_a, rec_a.len()), (12, 12));

    // B: killed with SIGKILL once at least 3 records are written, then resumed.
    let run_b = tmp.path().join("b");
    let cache_b = tmp.path().join("cache_b");
    let mut child = utility(
        &["run", "--config", cfg, "--out", run_b.to_str().unwrap()],
        &cache_b,
    )
    .spawn()
    .unwrap();
    let log = run_b.join("records/comparisons.jsonl");
    let started = Instant::now();
    while lines_in(&log) < 3 {
        assert!(started.elapsed() < Duration::from_secs(600), "no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (before, _) = records(&run_b);
    assert!((3..12).contains(&before), "{before} records at the kill");
    assert!(!run_b.join("results.json").exists());

    let status = run_ok(&["status", run_b.to_str().unwrap()], &cache_b);
    assert_eq!(status["comparisons"]["planned"], 12);
    assert_eq!(status["finished"], false);

    let b = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache_b);
    let made = b["model_calls"]["made"].as_u64().unwrap();
    let cached = b["model_calls"]["cached"].as_u64().unwrap();
    // Only the questions without a record are asked, each at most once; a call the
    // kill interrupted after the cache write is served from the cache.
    assert_eq!(made + cached, 12 - before as u64);
    let (n_b, rec_b) = records(&run_b);
    assert_eq!(n_b, 12, "no duplicate records");
    assert_eq!(rec_a, rec_b, "same records (ids, answers, log-probs)");
    for key in [
        "utilities",
        "train",
        "heldout",
        "position_bias",
        "unparseable",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }

    // Rerunning the finished run asks nothing.
    let c = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache_b);
    assert_eq!(
        (
            c["model_calls"]["made"].as_u64(),
            c["model_calls"]["cached"].as_u64()
        ),
        (Some(0), Some(0))
    );
    for f in [
        "report.md",
        "index.html",
        "plots/utilities.png",
        "plots/utilities.svg",
        "config.toml",
    ] {
        assert!(run_b.join(f).is_file(), "{f}");
    }
    let config_toml = std::fs::read_to_string(run_b.join("config.toml")).unwrap();
    assert!(
        config_toml.contains("model_id = \"llama.cpp:default@"),
        "{config_toml}"
    );

    // A second `--out` into an existing run is refused.
    let out = utility(
        &["run", "--config", cfg, "--out", run_b.to_str().unwrap()],
        &cache_b,
    )
    .stderr(Stdio::piped())
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn dry_run_counts_calls_and_bad_config_names_the_key() {
    if !model_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    let plan = run_ok(
        &["run", "--config", cfg.to_str().unwrap(), "--dry-run"],
        tmp.path(),
    );
    assert_eq!(plan["comparisons"], 12);
    assert_eq!(plan["expected_model_calls"], 12);
    assert_eq!(plan["already_cached"], 0);
    assert_eq!(plan["items"].as_array().unwrap().len(), 4);

    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[pairs]\nheldout_fraction = 0.2\nstrategy = \"sometimes\"\n",
    )
    .unwrap();
    let out = utility(
        &["run", "--config", bad.to_str().unwrap(), "--dry-run"],
        tmp.path(),
    )
    .stderr(Stdio::piped())
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("sometimes"),
        "{err}"
    );
}
