//! The `utility` binary end to end on the embedded default model: a run killed
//! with SIGKILL mid-elicitation and resumed ends with the same records and
//! results as an uninterrupted run, without duplicate records, and a rerun of a
//! finished run makes no model call.
//!
//! Skips when the model is missing, unless `PREF_REQUIRE_MODELS=1`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

mod common;
use common::{kill_when, model_present, records, root, run_ok, utility};

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
    kill_when(&mut child, &run_b.join("records/comparisons.jsonl"), 3);
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
