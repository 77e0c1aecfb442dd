//! A record append that fails half-way (a full disk; here a file-size limit,
//! which fails the same `write` with EFBIG) leaves no partial line behind, and
//! the error says what failed rather than blaming a killed writer. Its own test
//! binary: the limit applies to the whole process.
#![cfg(target_os = "linux")]

use pref_data::RecordLog;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rec {
    text: String,
}

#[test]
fn a_failed_append_keeps_every_complete_record_and_no_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let mut log = RecordLog::<Rec>::open(&path).unwrap();
    log.append("a", Rec { text: "x".into() }).unwrap();
    let good = std::fs::read(&path).unwrap();
    assert_eq!(good, b"{\"id\":\"a\",\"text\":\"x\"}\n");
    // Allow 10 more bytes: the next record's line (about 1 KB) is cut after them.
    // SAFETY: plain libc calls; SIGXFSZ is ignored so that the write fails with
    // EFBIG instead of the signal ending the process.
    let (old, limit) = unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut old = std::mem::zeroed::<libc::rlimit>();
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
        let limit = libc::rlimit {
            rlim_cur: good.len() as u64 + 10,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
        (old, limit)
    };
    let e = log
        .append(
            "b",
            Rec {
                text: "y".repeat(1000),
            },
        )
        .unwrap_err()
        .to_string();
    // SAFETY: restores the limit read above.
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &old), 0) };
    assert!(limit.rlim_cur < 1000);
    assert_eq!(
        e,
        format!(
            "{}: cannot append a record (File too large (os error 27)); the log keeps its 1 \
             complete record(s) and a resume continues from them once the cause is fixed",
            path.display()
        )
    );
    // Nothing partial was left: the file is as before, and it reopens with no repair.
    assert_eq!(std::fs::read(&path).unwrap(), good);
    drop(log);
    let log = RecordLog::<Rec>::open(&path).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log.repaired_bytes(), 0);
}
