//! Helpers shared by the `utility` integration tests.
#![allow(dead_code)] // each test file uses a subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn model_present() -> bool {
    pref_data::paths::embedded_models_present(&["default"])
}

pub fn utility(args: &[&str], cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_utility"));
    c.args(args)
        .env("PREF_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

pub fn run_ok(args: &[&str], cache: &Path) -> Value {
    let out = utility(args, cache).output().unwrap();
    assert!(out.status.success(), "utility {args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The records of a run by id (the `id` field is the deterministic record id).
pub fn records_in(run: &Path, name: &str) -> (usize, BTreeMap<String, Value>) {
    let text = std::fs::read_to_string(run.join("records").join(format!("{name}.jsonl")))
        .unwrap_or_default();
    let mut by_id = BTreeMap::new();
    let mut lines = 0;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        lines += 1;
        let v: Value = serde_json::from_str(l).unwrap();
        by_id.insert(v["id"].as_str().unwrap().to_string(), v);
    }
    (lines, by_id)
}

pub fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter(|l| l.ends_with('}')).count())
        .unwrap_or(0)
}

/// The comparison records of a run by id.
pub fn records(run: &Path) -> (usize, BTreeMap<String, Value>) {
    records_in(run, "comparisons")
}

/// Writes `text` as `name` in `dir` and returns the path as a string.
pub fn write_config(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Waits until `log` holds at least `at_least` records; panics when the child
/// finishes first or makes no progress for ten minutes.
pub fn wait_for(child: &mut std::process::Child, log: &Path, at_least: usize) {
    let started = std::time::Instant::now();
    while lines_in(log) < at_least {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(600),
            "no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// SIGKILLs `child` once `log` holds at least `at_least` records.
pub fn kill_when(child: &mut std::process::Child, log: &Path, at_least: usize) {
    wait_for(child, log, at_least);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// The fixture task files as TOML `files = [...]` entries.
pub fn fixture_files() -> String {
    let fx = root().join("fixtures/tasks");
    format!(
        "files = [{{ path = {:?}, source = \"alpaca\" }}, {{ path = {:?}, source = \"math\" }}, {{ path = {:?}, source = \"wildchat\" }}]",
        fx.join("alpaca.json"),
        fx.join("math.jsonl"),
        fx.join("wildchat.jsonl")
    )
}
