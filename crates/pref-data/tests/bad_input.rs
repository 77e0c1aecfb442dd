//! Every reader reports bad input as `path:line: field: message` and never panics:
//! wrong type, missing field, invalid UTF-8, truncated last line, empty file.

use std::path::{Path, PathBuf};

use pref_data::loaders::{
    load_alpaca, load_arena_questions, load_cnn_dailymail, load_math, load_outcomes, load_wildchat,
};
use pref_data::{
    read_jsonl, read_records, Battle, BattleTable, Comparison, LoggedSample, PairCounts, Task,
};

type Reader = fn(&Path) -> pref_data::Result<usize>;

struct Case {
    name: &'static str,
    ext: &'static str,
    /// JSON array readers get `[`, one element per line, `]`.
    array: bool,
    read: Reader,
    good: &'static str,
    wrong_type: (&'static str, &'static str),
    missing: (&'static str, &'static str),
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "battle-jsonl",
            ext: "jsonl",
            array: false,
            read: |p| read_jsonl::<Battle>(p).map(|v| v.len()),
            good: r#"{"a": "x", "b": "y", "winner": "a"}"#,
            wrong_type: (r#"{"a": "x", "b": 3, "winner": "a"}"#, "b"),
            missing: (r#"{"a": "x", "winner": "a"}"#, "b"),
        },
        Case {
            name: "battle-table",
            ext: "jsonl",
            array: false,
            read: |p| BattleTable::read(p).map(|t| t.len()),
            good: r#"{"model_a": "x", "model_b": "y", "winner": "model_a"}"#,
            wrong_type: (r#"{"model_a": "x", "model_b": "y", "winner": 1}"#, "winner"),
            missing: (r#"{"model_a": "x", "winner": "tie"}"#, "b"),
        },
        Case {
            name: "battle-json-array",
            ext: "json",
            array: true,
            read: |p| read_records::<Battle>(p).map(|v| v.len()),
            good: r#"{"a": "x", "b": "y", "winner": "b"}"#,
            wrong_type: (r#"{"a": ["x"], "b": "y", "winner": "b"}"#, "a"),
            missing: (r#"{"a": "x", "b": "y"}"#, "winner"),
        },
        Case {
            name: "pair-counts",
            ext: "jsonl",
            array: false,
            read: |p| read_jsonl::<PairCounts>(p).map(|v| v.len()),
            good: r#"{"a": "x", "b": "y", "count_a": 3, "count_b": 1}"#,
            wrong_type: (
                r#"{"a": "x", "b": "y", "count_a": "three", "count_b": 1}"#,
                "count_a",
            ),
            missing: (r#"{"b": "y", "count_a": 3, "count_b": 1}"#, "a"),
        },
        Case {
            name: "comparison",
            ext: "jsonl",
            array: false,
            read: |p| read_jsonl::<Comparison>(p).map(|v| v.len()),
            good: r#"{"a": "x", "b": "y", "order": "ab", "choice": "a", "raw": "A", "model": "m", "template": "t", "sample": 0}"#,
            wrong_type: (
                r#"{"a": "x", "b": "y", "order": "ab", "choice": "a", "raw": "A", "model": "m", "template": "t", "sample": -1}"#,
                "sample",
            ),
            missing: (
                r#"{"a": "x", "b": "y", "choice": "a", "raw": "A", "model": "m", "template": "t", "sample": 0}"#,
                "order",
            ),
        },
        Case {
            name: "logged-sample",
            ext: "jsonl",
            array: false,
            read: |p| read_jsonl::<LoggedSample>(p).map(|v| v.len()),
            good: r#"{"prompt_id": "p", "prompt": "q", "response": "r", "base_policy_logprob": -1.0, "target_policy_logprobs": {"t": -2.0}, "judge_score": 0.5}"#,
            wrong_type: (
                r#"{"prompt_id": "p", "prompt": "q", "response": "r", "base_policy_logprob": -1.0, "target_policy_logprobs": {"t": "low"}, "judge_score": 0.5}"#,
                "target_policy_logprobs.t",
            ),
            missing: (
                r#"{"prompt_id": "p", "prompt": "q", "response": "r", "target_policy_logprobs": {"t": -2.0}, "judge_score": 0.5}"#,
                "base_policy_logprob",
            ),
        },
        Case {
            name: "task",
            ext: "jsonl",
            array: false,
            read: |p| read_records::<Task>(p).map(|v| v.len()),
            good: r#"{"id": "t1", "source": "s", "prompt": "Do it."}"#,
            wrong_type: (
                r#"{"id": "t2", "source": "s", "prompt": {"text": "Do it."}}"#,
                "prompt",
            ),
            missing: (r#"{"id": "t2", "prompt": "Do it."}"#, "source"),
        },
        Case {
            name: "alpaca",
            ext: "json",
            array: true,
            read: |p| load_alpaca(p).map(|v| v.len()),
            good: r#"{"instruction": "Add 2 and 2.", "input": "", "output": "4"}"#,
            wrong_type: (
                r#"{"instruction": 42, "input": "", "output": "4"}"#,
                "instruction",
            ),
            missing: (r#"{"input": "x", "output": "4"}"#, "instruction"),
        },
        Case {
            name: "math",
            ext: "jsonl",
            array: false,
            read: |p| load_math(p).map(|v| v.len()),
            good: r#"{"problem": "1+1?", "solution": "2", "answer": "2", "subject": "Algebra", "level": 1}"#,
            wrong_type: (r#"{"problem": "1+1?", "answer": 2}"#, "answer"),
            missing: (r#"{"solution": "2", "answer": "2"}"#, "problem"),
        },
        Case {
            name: "wildchat",
            ext: "jsonl",
            array: false,
            read: |p| load_wildchat(p).map(|v| v.len()),
            good: r#"{"conversation_id": "c", "conversation": [{"role": "user", "content": "hi"}]}"#,
            wrong_type: (
                r#"{"conversation_id": "c", "conversation": [{"role": "user", "content": 5}]}"#,
                "conversation[0].content",
            ),
            missing: (
                r#"{"conversation_id": "c", "language": "English"}"#,
                "conversation",
            ),
        },
        Case {
            name: "cnn-dailymail",
            ext: "jsonl",
            array: false,
            read: |p| load_cnn_dailymail(p).map(|v| v.len()),
            good: r#"{"id": "n1", "article": "Text.", "highlights": "T."}"#,
            wrong_type: (
                r#"{"id": "n2", "article": "Text.", "highlights": ["T."]}"#,
                "highlights",
            ),
            missing: (r#"{"id": "n2", "highlights": "T."}"#, "article"),
        },
        Case {
            name: "arena-questions",
            ext: "jsonl",
            array: false,
            read: |p| load_arena_questions(p).map(|v| v.len()),
            good: r#"{"uid": "u1", "category": "hard_prompt", "prompt": "Why?"}"#,
            wrong_type: (r#"{"uid": "u2", "prompt": null, "turns": "Why?"}"#, "turns"),
            missing: (r#"{"category": "hard_prompt", "prompt": "Why?"}"#, "uid"),
        },
        Case {
            name: "outcomes",
            ext: "jsonl",
            array: false,
            read: |p| load_outcomes(p).map(|v| v.len()),
            good: r#"{"id": 0, "category": "c", "outcome": "You get $1."}"#,
            wrong_type: (r#"{"id": 1, "category": "c", "outcome": 1.5}"#, "outcome"),
            missing: (r#"{"id": 1, "category": "c"}"#, "outcome"),
        },
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// File bytes for `lines`; arrays put one element per line after `[`.
fn file_bytes(case: &Case, lines: &[&[u8]], terminate_last: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if case.array {
        out.extend_from_slice(b"[\n");
    }
    for (i, l) in lines.iter().enumerate() {
        out.extend_from_slice(l);
        let last = i + 1 == lines.len();
        if case.array && !last {
            out.push(b',');
        }
        if !last || terminate_last {
            out.push(b'\n');
        }
    }
    if case.array && terminate_last {
        out.extend_from_slice(b"]\n");
    }
    out
}

fn expect_err(case: &Case, path: &Path, prefix: &str, contains: &str) {
    let err = match (case.read)(path) {
        Ok(n) => panic!("{}: expected an error, read {n} records", case.name),
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with(prefix),
        "{}: error `{err}` should start with `{prefix}`",
        case.name
    );
    assert!(
        err.contains(contains),
        "{}: error `{err}` should contain `{contains}`",
        case.name
    );
}

#[test]
fn good_files_read() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let p = write(
            dir.path(),
            &format!("{}-good.{}", case.name, case.ext),
            &file_bytes(&case, &[case.good.as_bytes(), case.good.as_bytes()], true),
        );
        let n = (case.read)(&p).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(n, 2, "{}", case.name);
    }
}

#[test]
fn wrong_type_names_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let (bad, field) = case.wrong_type;
        let p = write(
            dir.path(),
            &format!("{}-type.{}", case.name, case.ext),
            &file_bytes(&case, &[case.good.as_bytes(), bad.as_bytes()], true),
        );
        let line = if case.array { 3 } else { 2 };
        expect_err(&case, &p, &format!("{}:{line}: {field}: ", p.display()), "");
    }
}

#[test]
fn missing_field_names_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let (bad, field) = case.missing;
        let p = write(
            dir.path(),
            &format!("{}-missing.{}", case.name, case.ext),
            &file_bytes(&case, &[case.good.as_bytes(), bad.as_bytes()], true),
        );
        let line = if case.array { 3 } else { 2 };
        expect_err(
            &case,
            &p,
            &format!("{}:{line}: {field}: ", p.display()),
            "missing",
        );
    }
}

#[test]
fn invalid_utf8_names_line() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        // Replace the first `"` after the first `:` by an invalid byte inside a string.
        let mut bad = case.good.as_bytes().to_vec();
        let colon = bad.iter().position(|&c| c == b':').unwrap();
        let quote = colon + bad[colon..].iter().position(|&c| c == b'"').unwrap();
        bad.insert(quote + 1, 0xff);
        let p = write(
            dir.path(),
            &format!("{}-utf8.{}", case.name, case.ext),
            &file_bytes(&case, &[case.good.as_bytes(), &bad], true),
        );
        let line = if case.array { 3 } else { 2 };
        expect_err(
            &case,
            &p,
            &format!("{}:{line}: ", p.display()),
            "invalid UTF-8",
        );
    }
}

#[test]
fn truncated_last_line_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let half = &case.good.as_bytes()[..case.good.len() / 2];
        let p = write(
            dir.path(),
            &format!("{}-trunc.{}", case.name, case.ext),
            &file_bytes(&case, &[case.good.as_bytes(), half], false),
        );
        let line = if case.array { 3 } else { 2 };
        expect_err(&case, &p, &format!("{}:{line}: ", p.display()), "truncated");
    }
}

#[test]
fn empty_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let p = write(
            dir.path(),
            &format!("{}-empty.{}", case.name, case.ext),
            b"",
        );
        expect_err(&case, &p, &format!("{}:1: ", p.display()), "empty");
    }
}

#[test]
fn semantic_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "b.jsonl",
        b"{\"a\": \"x\", \"b\": \"y\", \"winner\": \"a\"}\n{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"draw\"}\n",
    );
    let e = read_jsonl::<Battle>(&p).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}:2: winner: unknown variant `draw`",
            p.display()
        )),
        "{e}"
    );
    let e = BattleTable::read(&p).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:2: winner: ", p.display())),
        "{e}"
    );

    let p = write(
        dir.path(),
        "self.jsonl",
        b"{\"a\": \"x\", \"b\": \"x\", \"winner\": \"a\"}\n",
    );
    let e = BattleTable::read(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}:1: b: self-battle: `x` against itself", p.display())
    );

    let p = write(
        dir.path(),
        "pc.jsonl",
        b"{\"a\": \"x\", \"b\": \"y\", \"count_a\": -1, \"count_b\": 2}\n",
    );
    let e = read_jsonl::<PairCounts>(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}:1: count_a: must be ≥ 0, got -1", p.display())
    );

    let p = write(
        dir.path(),
        "pc2.jsonl",
        b"{\"a\": \"x\", \"b\": \"y\", \"count_a\": 1, \"n\": 2}\n",
    );
    let e = read_jsonl::<PairCounts>(&p).unwrap_err().to_string();
    assert!(e.contains(":1: ") && e.contains("not a mix"), "{e}");

    let p = write(
        dir.path(),
        "syntax.jsonl",
        b"{\"a\": \"x\",, \"b\": \"y\"}\n",
    );
    let e = read_jsonl::<Battle>(&p).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:1: invalid JSON", p.display())),
        "{e}"
    );

    let p = dir.path().join("unknown.csv");
    std::fs::write(&p, "a,b\n").unwrap();
    let e = read_records::<Battle>(&p).unwrap_err().to_string();
    assert!(e.contains("unknown file type"), "{e}");

    // A missing file: the message is the path, the cause is the I/O error (its
    // `source`), so printing the chain shows the cause exactly once.
    let missing = dir.path().join("missing.jsonl");
    let e = read_records::<Battle>(&missing).unwrap_err();
    assert_eq!(e.to_string(), missing.display().to_string());
    let cause = std::error::Error::source(&e).expect("the I/O error is the source");
    assert_eq!(cause.to_string(), "No such file or directory (os error 2)");
    assert!(std::error::Error::source(cause).is_none());
}

/// A value of 1,000,000 bytes in a field is quoted by its first 80 characters and
/// its length, in serde's messages as in pref-data's own (`pref_data::quote`).
#[test]
fn long_values_are_cut_in_messages() {
    let dir = tempfile::tempdir().unwrap();
    let long = "é".repeat(500_000); // 1,000,000 bytes, 500,000 characters
    let cut = format!("{}… (1000000 bytes)", "é".repeat(80));
    let cases = [
        // serde's own message quotes the value between backticks...
        (
            format!("{{\"a\": \"x\", \"b\": \"y\", \"winner\": \"{long}\"}}\n"),
            format!(
                ":1: winner: unknown variant `{cut}`, expected one of `a`, `model_a`, `b`, \
                 `model_b`, `tie`, `tie (bothbad)`"
            ),
        ),
        // ... and validation quotes it with `quote`.
        (
            format!("{{\"a\": \"{long}\", \"b\": \"{long}\", \"winner\": \"a\"}}\n"),
            format!(":1: b: self-battle: `{cut}` against itself"),
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let p = write(dir.path(), &format!("long{i}.jsonl"), text.as_bytes());
        let e = read_jsonl::<Battle>(&p).unwrap_err().to_string();
        assert_eq!(e, format!("{}{want}", p.display()));
    }
    // serde's message quotes it between double quotes.
    let p = write(
        dir.path(),
        "long_count.jsonl",
        format!("{{\"a\": \"x\", \"b\": \"y\", \"count_a\": \"{long}\", \"count_b\": 1}}\n")
            .as_bytes(),
    );
    let e = read_jsonl::<PairCounts>(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:1: count_a: invalid type: string \"{cut}\", expected f64",
            p.display()
        )
    );
    let e = long.parse::<pref_data::loaders::Source>().unwrap_err();
    assert_eq!(
        e,
        format!(
            "unknown source `{cut}`: expected tasks, alpaca, math, wildchat, cnn_dailymail, \
             arena or outcomes"
        )
    );
}

#[test]
fn quote_keeps_short_values_and_cuts_long_ones_at_a_character() {
    use pref_data::{quote, shorten_quotes};
    let eighty = "a".repeat(80);
    assert_eq!(quote(&eighty), eighty);
    assert_eq!(
        quote(&format!("{eighty}b")),
        format!("{eighty}… (81 bytes)")
    );
    // Cut after 80 characters, not bytes: "ü" is 2 bytes.
    let u = "ü".repeat(81);
    assert_eq!(quote(&u), format!("{}… (162 bytes)", "ü".repeat(80)));
    // Spans between backticks or double quotes; `\"` does not end a span.
    let long = format!("{eighty}xyz");
    let msg = format!("bad `{long}` and \"{eighty}\\\"{long}\" and `short`");
    assert_eq!(
        shorten_quotes(&msg),
        format!(
            "bad `{eighty}… (83 bytes)` and \"{}… (165 bytes)\" and `short`",
            &format!("{eighty}\\\"{long}")[..80]
        )
    );
    // An unclosed span runs to the end.
    assert_eq!(
        shorten_quotes(&format!("oops `{long}")),
        format!("oops `{eighty}… (83 bytes)")
    );
}

/// `.npy` bytes (format 1.0) with the given header dictionary and data bytes;
/// the header is padded with spaces to a multiple of 64 bytes, as numpy writes it.
fn npy_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A header whose shape overflows, or promises more data than the file holds, is
/// an error naming the shape (it panicked on an index out of bounds).
#[test]
fn npy_headers_that_do_not_fit_the_file_are_errors() {
    use pref_data::npy::{read_npy_matrix_f32, read_npy_matrix_f64, read_npy_vector_f64};
    let dir = tempfile::tempdir().unwrap();
    // 2^33 × 2^33 × 8 bytes overflows u64.
    let p = write(
        dir.path(),
        "overflow.npy",
        &npy_bytes(
            "{'descr': '<f8', 'fortran_order': True, 'shape': (8589934592, 8589934592), }",
            &[0u8; 16],
        ),
    );
    let e = read_npy_matrix_f64(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: the header's shape [8589934592, 8589934592] has more than 2^64 elements, more \
             than the file's 144 bytes can hold",
            p.display()
        )
    );
    // 3 × 2 f4 = 24 bytes promised, 8 present.
    let p = write(
        dir.path(),
        "short.npy",
        &npy_bytes(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
            &[0u8; 8],
        ),
    );
    let e = read_npy_matrix_f32(&p).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: cannot read data: ", p.display())),
        "{e}"
    );
    // 10 × 10 elements of 8 bytes (800 bytes) in a 136-byte file: the element
    // count passes, the byte count does not.
    let p = write(
        dir.path(),
        "wide.npy",
        &npy_bytes(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (10, 10), }",
            &[0u8; 8],
        ),
    );
    let e = read_npy_matrix_f64(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: the header's shape [10, 10] (of 8-byte elements) needs 800 bytes of data, \
             but the file has 136 bytes",
            p.display()
        )
    );
    // A vector of 10^18 doubles in a 136-byte file.
    let p = write(
        dir.path(),
        "huge.npy",
        &npy_bytes(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000000000,), }",
            &[0u8; 8],
        ),
    );
    let e = read_npy_vector_f64(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: the header's shape [1000000000000000000] has 1000000000000000000 elements, \
             more than the file's 136 bytes can hold",
            p.display()
        )
    );
}

/// A line longer than the limit is an error naming its line, read no further
/// than the limit: 100 MB of one line compress to about 100 KB of gzip, and the
/// reader stops after 64 MiB + 2 bytes of it (the default limit) instead of
/// loading it. A lower limit set on the reader applies the same way.
#[test]
fn an_overlong_line_is_refused_not_loaded() {
    use flate2::write::GzEncoder;
    use pref_data::jsonl::{LineReader, DEFAULT_MAX_LINE_BYTES};
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bomb.jsonl.gz");
    let mut gz = GzEncoder::new(
        std::fs::File::create(&p).unwrap(),
        flate2::Compression::best(),
    );
    gz.write_all(b"{\"a\": \"x\", \"b\": \"y\", \"winner\": \"a\"}\n")
        .unwrap();
    gz.write_all(b"{\"a\": \"").unwrap();
    let chunk = vec![b'z'; 1 << 20];
    for _ in 0..100 {
        gz.write_all(&chunk).unwrap();
    }
    gz.write_all(b"\", \"b\": \"y\", \"winner\": \"a\"}\n")
        .unwrap();
    gz.finish().unwrap();
    assert!(std::fs::metadata(&p).unwrap().len() < 1 << 20);
    assert_eq!(DEFAULT_MAX_LINE_BYTES, 64 << 20);
    let e = read_jsonl::<Battle>(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:2: the line is longer than 67108864 bytes, the limit for a record \
             (PREF_MAX_LINE_BYTES raises it)",
            p.display()
        )
    );
    // A limit of 35 bytes: line 1 (35 bytes + \r\n) passes, line 2 (36) does not.
    let q = write(
        dir.path(),
        "crlf.jsonl",
        b"{\"a\": \"x\", \"b\": \"y\", \"winner\": \"a\"}\r\n{\"a\": \"xx\", \"b\": \"y\", \"winner\": \"a\"}\r\n",
    );
    let mut r = LineReader::open(&q).unwrap().with_max_line_bytes(35);
    assert_eq!(r.next_line().unwrap().unwrap().bytes.len(), 35);
    let e = r.next_line().unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:2: the line is longer than 35 bytes, the limit for a record \
             (PREF_MAX_LINE_BYTES raises it)",
            q.display()
        )
    );
}
