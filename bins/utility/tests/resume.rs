//! The `utility` binary end to end on the embedded default model: a run killed
//! with SIGKILL mid-elicitation and resumed ends with the same records and
//! results as an uninterrupted run, without duplicate records, and a rerun of a
//! finished run makes no model call.
//!
//! Skips when the model is missing, unless `PREF_REQUIRE_MODELS=1`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

mod common;
use common::{kill_when, model_present, records, root, run_ok, utility, wait_for};

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
    wait_for(&mut child, &run_b.join("records/comparisons.jsonl"), 2);
    // A second process on the same run fails at once, naming the lock.
    let second = utility(&["run", "--resume", run_b.to_str().unwrap()], &cache_b)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("run.lock") && err.contains("another process"),
        "{err}"
    );
    kill_when(&mut child, &run_b.join("records/comparisons.jsonl"), 3);
    let (before, _) = records(&run_b);
    assert!((3..12).contains(&before), "{before} records at the kill");
    assert!(!run_b.join("results.json").exists());

    let status = run_ok(&["status", run_b.to_str().unwrap()], &cache_b);
    let elicit = &status["stages"][0];
    assert_eq!(elicit["stage"], "elicit");
    assert_eq!(elicit["planned"], 12);
    assert_eq!(elicit["recorded"], before);
    assert_eq!(status["finished"], false);

    // Changing a setting on resume is refused, naming it.
    let out = utility(
        &["run", "--resume", run_b.to_str().unwrap(), "--n-items", "5"],
        &cache_b,
    )
    .stderr(Stdio::piped())
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("items.n_items"), "{err}");

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

    // A kill while the report is written leaves the temporary of the file being
    // written, and index.html (the report's last file) missing: the run is not
    // finished (status, read-only, leaves the temporary alone) ...
    let status = run_ok(&["status", run_b.to_str().unwrap()], &cache_b);
    assert_eq!(status["finished"], true);
    let tmp_png = run_b.join("plots/.tmp-999999-utilities.png");
    std::fs::write(&tmp_png, b"partial").unwrap();
    std::fs::remove_file(run_b.join("index.html")).unwrap();
    let status = run_ok(&["status", run_b.to_str().unwrap()], &cache_b);
    assert_eq!(status["finished"], false);
    assert!(tmp_png.is_file());

    // ... and rerunning it asks nothing, removes the temporary and writes the report.
    let c = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache_b);
    assert!(!tmp_png.exists());
    let status = run_ok(&["status", run_b.to_str().unwrap()], &cache_b);
    assert_eq!(status["finished"], true);
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
    assert_eq!(plan["stages"][0]["planned"], 12);
    assert_eq!(plan["expected_model_calls"], 12);
    assert_eq!(plan["stages"][0]["cached"], 0);
    assert_eq!(plan["details"]["items"].as_array().unwrap().len(), 4);
    // Fewer items than asked for is said, not silently capped (6 in the two files).
    let more = run_ok(
        &[
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--dry-run",
            "--n-items",
            "50",
        ],
        tmp.path(),
    );
    assert_eq!(more["details"]["items"].as_array().unwrap().len(), 6);
    let warning = more["details"]["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("items.n_items is 50") && warning.contains("6 were drawn"),
        "{warning}"
    );

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

    // A missing item file fails the run before its directory exists (it used to
    // fail after the directory and its frozen config.toml were written).
    let missing = tmp.path().join("missing.toml");
    let gone = tmp.path().join("no-such-tasks.jsonl");
    std::fs::write(
        &missing,
        format!(
            "[items]\nn_items = 4\nfiles = [{{ path = {:?}, source = \"alpaca\" }}]\n",
            gone
        ),
    )
    .unwrap();
    let out_dir = tmp.path().join("never");
    let out = utility(
        &[
            "run",
            "--config",
            missing.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        tmp.path(),
    )
    .stderr(Stdio::piped())
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-tasks.jsonl"), "{err}");
    assert!(!out_dir.exists());

    // A context too small for the longest prompt is refused by the plan: under
    // --dry-run, and before a run's directory exists (it used to fail at the
    // first model call, with the frozen n_ctx in config.toml).
    let small = tmp.path().join("small.toml");
    let text = std::fs::read_to_string(&cfg).unwrap() + "[model]\nn_ctx = 48\n";
    std::fs::write(&small, text).unwrap();
    for extra in [&["--dry-run"][..], &["--out", out_dir.to_str().unwrap()]] {
        let mut args = vec!["run", "--config", small.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = utility(&args, tmp.path())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("model: the prompt of comparison")
                && err.contains("context of 48 tokens")
                && err.contains("raise model.n_ctx"),
            "{err}"
        );
    }
    assert!(!out_dir.exists());
}

/// A run directory written and killed by the `utility` binary before it moved
/// onto pref-study (`fixtures/runs/utility-pre-port`, 5 of 12 comparisons)
/// resumes with the binary of today: the same record ids, nothing asked twice,
/// and the same records as a fresh run.
///
/// The pre-port binary rendered prompts with llama.cpp's built-in ChatML (its
/// model id said `template=gguf`); the embedded backend now renders the GGUF's
/// own Jinja template, which is a different prompt for SmolLM2, so the fixture
/// names that rendering explicitly (`chat_template = "chatml"`, id
/// `template=chatml`); its records are otherwise as the old binary wrote them.
#[test]
fn a_run_written_before_the_port_resumes() {
    if !model_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fixture = root().join("fixtures/runs/utility-pre-port");
    let run = tmp.path().join("old");
    std::fs::create_dir_all(run.join("records")).unwrap();
    for f in ["config.toml", "records/comparisons.jsonl"] {
        std::fs::copy(fixture.join(f), run.join(f)).unwrap();
    }
    let (before, old) = records(&run);
    assert_eq!(before, 5);
    // The fixture's config names the task files relative to the workspace root.
    let resumed = utility(
        &["run", "--resume", run.to_str().unwrap()],
        &tmp.path().join("c1"),
    )
    .current_dir(root())
    .output()
    .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(
        r["model_calls"]["made"],
        12 - 5,
        "only the missing comparisons"
    );
    let (after, new) = records(&run);
    assert_eq!((after, new.len()), (12, 12));
    for (id, rec) in &old {
        assert_eq!(&new[id], rec, "a recorded comparison changed");
    }
    // A fresh run of the same configuration writes the same ids and answers.
    let fresh = tmp.path().join("fresh");
    let cfg = tmp.path().join("config.toml");
    let text = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let text = text.split("[resolved]").next().unwrap().to_string();
    std::fs::write(&cfg, text).unwrap();
    let out = utility(
        &[
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            fresh.to_str().unwrap(),
        ],
        &tmp.path().join("c2"),
    )
    .current_dir(root())
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(records(&fresh).1, new);
}
