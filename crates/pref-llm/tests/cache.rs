//! The SQLite model-call cache under concurrent writers and SIGKILL.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pref_llm::cache::cache_key;
use pref_llm::{ModelCache, ModelId};
use serde_json::json;

fn id() -> ModelId {
    ModelId {
        backend: "llama.cpp".into(),
        name: "default".into(),
        sha256: Some("b179c952".into()),
        base_url: None,
        variant: None,
    }
}

#[test]
fn keys_cover_model_method_and_every_parameter() {
    let base = cache_key(
        &id(),
        "generate",
        &json!({"messages": ["hi"], "params": {"seed": 1}}),
    );
    assert_eq!(base.len(), 64);
    assert_eq!(
        base,
        cache_key(
            &id(),
            "generate",
            &json!({"params": {"seed": 1}, "messages": ["hi"]})
        )
    );
    assert_ne!(
        base,
        cache_key(
            &id(),
            "generate",
            &json!({"messages": ["hi"], "params": {"seed": 2}})
        )
    );
    assert_ne!(
        base,
        cache_key(
            &id(),
            "score",
            &json!({"messages": ["hi"], "params": {"seed": 1}})
        )
    );
    let mut other = id();
    other.sha256 = Some("0000".into());
    assert_ne!(
        base,
        cache_key(
            &other,
            "generate",
            &json!({"messages": ["hi"], "params": {"seed": 1}})
        )
    );
}

#[test]
fn concurrent_writers_from_threads_and_handles() {
    let dir = tempfile::tempdir().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let d = dir.path().to_path_buf();
            std::thread::spawn(move || {
                // Each thread opens its own connection, like separate processes would.
                let c = ModelCache::open(&d).unwrap();
                for i in 0..200 {
                    c.put_raw(
                        &format!("k{w}-{i}"),
                        "generate",
                        "m",
                        &format!("{{\"v\":{i}}}"),
                    )
                    .unwrap();
                    // Everyone also writes one shared key: the first write wins.
                    c.put_raw("shared", "generate", "m", &format!("{{\"w\":{w}}}"))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let c = ModelCache::open(dir.path()).unwrap();
    assert_eq!(c.len().unwrap(), 4 * 200 + 1);
    assert_eq!(c.get_raw("k3-199").unwrap().as_deref(), Some("{\"v\":199}"));
}

/// Switching a new database to WAL needs an exclusive lock, and SQLite does not
/// wait for it; before `open` retried the switch, 4 threads opening a new cache
/// at once failed with "database is locked" in 22 of 300 runs (CI saw it), and
/// this test (20 rounds of 8 threads) failed in 2 of 3 runs.
#[test]
fn many_connections_open_a_new_cache_at_once() {
    for _round in 0..50 {
        let dir = tempfile::tempdir().unwrap();
        let start = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let d = dir.path().to_path_buf();
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    let c = ModelCache::open(&d).map_err(|e| e.to_string())?;
                    c.put_raw(&format!("k{w}"), "generate", "m", "{}")
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        assert_eq!(ModelCache::open(dir.path()).unwrap().len().unwrap(), 8);
    }
}

const CHILD: &str = "PREF_LLM_TEST_CACHE_CHILD";

#[test]
fn cache_child_writer() {
    let Ok(dir) = std::env::var(CHILD) else {
        return;
    };
    let c = ModelCache::open(&dir).unwrap();
    for i in 0.. {
        c.put_raw(
            &format!("key-{i}"),
            "generate",
            "m",
            &format!("{{\"i\":{i}}}"),
        )
        .unwrap();
    }
}

#[test]
fn sigkill_mid_write_leaves_a_readable_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cache_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let n = ModelCache::open(dir.path())
            .and_then(|c| c.len())
            .unwrap_or(0);
        if n > 500 || start.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let c = ModelCache::open(dir.path()).unwrap();
    let n = c.len().unwrap();
    assert!(n > 500, "only {n} entries written");
    // Every committed entry is intact and the keys are a prefix 0..n.
    for i in [0, n / 2, n - 1] {
        assert_eq!(
            c.get_raw(&format!("key-{i}")).unwrap(),
            Some(format!("{{\"i\":{i}}}"))
        );
    }
    assert_eq!(c.get_raw(&format!("key-{n}")).unwrap(), None);
    // And it keeps working.
    c.put_raw("after", "generate", "m", "{}").unwrap();
    assert_eq!(c.len().unwrap(), n + 1);
}
