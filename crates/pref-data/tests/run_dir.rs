//! Run directories: atomic final files, append-only record logs that resume
//! after a SIGKILL with nothing lost and nothing duplicated.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pref_data::{record_id, RecordLog, RunDir};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rec {
    i: u64,
    text: String,
}

fn rec(i: u64) -> Rec {
    Rec {
        i,
        text: format!(
            "record number {i} with some padding to make lines longer {}",
            "x".repeat((i % 50) as usize)
        ),
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Config {
    study: String,
    seed: u64,
    model: Model,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Model {
    name: String,
    sha256: String,
}

#[test]
fn record_ids_are_deterministic_and_unambiguous() {
    // python3: hashlib.sha256(b"ab\x1fc").hexdigest()[:32]
    assert_eq!(record_id(&["ab", "c"]), "9617c506357d3d46bb660dbde5253de2");
    assert_eq!(
        record_id(&["ab", "c"]),
        record_id(&["ab".to_string(), "c".to_string()])
    );
    assert_ne!(record_id(&["ab", "c"]), record_id(&["a", "bc"]));
}

#[test]
fn run_dir_create_open_and_final_files() {
    let base = tempfile::tempdir().unwrap();
    let root = RunDir::path_for(base.path(), "utility", "run-1");
    let cfg = Config {
        study: "utility".into(),
        seed: 42,
        model: Model {
            name: "default".into(),
            sha256: "b179c952".into(),
        },
    };
    let run = RunDir::create(&root, &cfg).unwrap();
    assert!(root.join("records").is_dir() && root.join("plots").is_dir());
    // A second create on the same directory refuses (resume instead).
    let e = RunDir::create(&root, &cfg).unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    let again = RunDir::open(&root).unwrap();
    assert_eq!(again.config::<Config>().unwrap(), cfg);
    let p = run
        .write_json("results.json", &serde_json::json!({"x": 1}))
        .unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\n  \"x\": 1\n}\n");
    run.write_text("report.md", "# Report\n").unwrap();
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
    let e = RunDir::open(base.path()).unwrap_err().to_string();
    assert!(e.contains("not a run directory"), "{e}");
    // A broken config names the file and line.
    std::fs::write(
        root.join("config.toml"),
        "study = \"utility\"\nseed = \"many\"\n",
    )
    .unwrap();
    let e = again.config::<Config>().unwrap_err().to_string();
    assert!(e.contains("config.toml:2:"), "{e}");
}

#[test]
fn record_log_skips_known_ids_and_repairs_a_cut_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records/comparisons.jsonl");
    {
        let mut log: RecordLog<Rec> = RecordLog::open(&path).unwrap();
        for i in 0..10 {
            assert!(log.append(&format!("r{i}"), rec(i)).unwrap());
        }
        assert!(
            !log.append("r3", rec(3)).unwrap(),
            "a known id is not written twice"
        );
        assert_eq!(log.len(), 10);
    }
    // Simulate a writer killed mid-line.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(br#"{"id":"r10","i":10,"text":"record num"#)
        .unwrap();
    drop(f);
    let mut log: RecordLog<Rec> = RecordLog::open(&path).unwrap();
    assert_eq!(log.len(), 10);
    assert!(log.repaired_bytes() > 0);
    assert_eq!(log.get("r7"), Some(&rec(7)));
    for i in 0..12 {
        log.append(&format!("r{i}"), rec(i)).unwrap();
    }
    drop(log);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 12);
    // The file reads as plain records too, with the id as an extra field.
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "r0");
    assert_eq!(first["i"], 0);

    // A corrupt line in the middle is an error, never silently dropped.
    std::fs::write(
        &path,
        "{\"id\":\"a\",\"i\":1,\"text\":\"t\"}\nnot json\n{\"id\":\"b\",\"i\":2,\"text\":\"t\"}\n",
    )
    .unwrap();
    let e = RecordLog::<Rec>::open(&path).err().unwrap().to_string();
    assert!(e.contains("comparisons.jsonl:2:"), "{e}");
    // So is a duplicated id.
    std::fs::write(
        &path,
        "{\"id\":\"a\",\"i\":1,\"text\":\"t\"}\n{\"id\":\"a\",\"i\":1,\"text\":\"t\"}\n",
    )
    .unwrap();
    let e = RecordLog::<Rec>::open(&path).err().unwrap().to_string();
    assert!(e.contains(":2: id: duplicate record id `a`"), "{e}");
    // A complete last line without a newline is kept and terminated.
    std::fs::write(&path, "{\"id\":\"a\",\"i\":1,\"text\":\"t\"}").unwrap();
    let mut log = RecordLog::<Rec>::open(&path).unwrap();
    log.append("b", rec(2)).unwrap();
    drop(log);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
}

const CHILD_ENV: &str = "PREF_DATA_TEST_CHILD_LOG";

/// Child side of the kill test: appends records forever until killed.
#[test]
fn child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut log: RecordLog<Rec> = RecordLog::open(&path).unwrap();
    for i in 0.. {
        log.append(&format!("r{i}"), rec(i)).unwrap();
    }
}

#[test]
fn sigkill_mid_run_then_resume_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it write a while, then SIGKILL it (Child::kill sends SIGKILL on Unix).
        let start = Instant::now();
        let target = 2000 * (round + 1);
        while std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) < target * 60
            && start.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let mut log: RecordLog<Rec> = RecordLog::open(&path).unwrap();
    let n = log.len() as u64;
    assert!(n > 1000, "the child wrote only {n} records");
    // Records are exactly r0..r{n-1}, in order, each once and intact.
    for (k, (id, r)) in log.entries().iter().enumerate() {
        assert_eq!(id, &format!("r{k}"));
        assert_eq!(r, &rec(k as u64));
    }
    // Resuming the "run" writes only what is missing.
    let mut written = 0;
    for i in 0..n + 100 {
        if log.append(&format!("r{i}"), rec(i)).unwrap() {
            written += 1;
        }
    }
    assert_eq!(written, 100);
    drop(log);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count() as u64, n + 100);
}

#[test]
fn floats_read_back_from_a_record_log_are_bit_identical() {
    // serde_json's default float parser may be one ulp off; the workspace enables
    // `float_roundtrip` so a resumed run computes from exactly the written values
    // (without it, a resumed self-preference run differed from an uninterrupted one
    // in the last digit of a bootstrap interval).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floats.jsonl");
    let values: Vec<f64> = (0..2000)
        .map(|i| ((i as f64) * 0.7390851332151607).sin() * 1e-3f64.powi(i % 4))
        .chain([0.5003765085057156, 0.4998267432053158, 1.0 / 3.0])
        .collect();
    let text: String = values
        .iter()
        .map(|v| serde_json::to_string(v).unwrap() + "\n")
        .collect();
    std::fs::write(&path, text).unwrap();
    let back: Vec<f64> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (a, b) in values.iter().zip(&back) {
        assert_eq!(a.to_bits(), b.to_bits(), "{a} read back as {b}");
    }
}
