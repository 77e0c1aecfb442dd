//! The `pref` data subcommands, run as a user would run them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn pref(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pref"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn inspect_battles_matches_python_counts() {
    // python3: rows = [json.loads(l) for l in open('fixtures/battles.jsonl')]
    //   Counter(r['winner'] for r in rows) == {'a': 138, 'b': 125, 'tie': 37}
    //   sum(1 for r in rows if 'ember-70b' in (r['a'], r['b'])) == 106  (battles of ember-70b)
    let f = fixtures().join("battles.jsonl");
    let (ok, v, err) = pref(&["inspect", f.to_str().unwrap(), "--kind", "battle"]);
    assert!(ok, "{err}");
    assert_eq!(v["n_battles"], 300);
    assert_eq!(v["n_models"], 5);
    assert_eq!(v["n_pairs"], 10);
    assert_eq!(v["winner"]["a"], 138);
    assert_eq!(v["winner"]["tie"], 37);
    assert_eq!(v["models"]["ember-70b"]["battles"], 106);
}

#[test]
fn convert_then_inspect_parquet_gives_the_same_summary() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures().join("pair_counts.jsonl");
    let out = dir.path().join("pc.parquet");
    let (ok, v, err) = pref(&[
        "convert",
        f.to_str().unwrap(),
        out.to_str().unwrap(),
        "--kind",
        "pair-counts",
    ]);
    assert!(ok, "{err}");
    assert_eq!(v["records"], 28);
    let (_, a, _) = pref(&["inspect", f.to_str().unwrap(), "--kind", "pair-counts"]);
    let (_, b, _) = pref(&["inspect", out.to_str().unwrap(), "--kind", "pair-counts"]);
    // 8 items, 28 pairs, 10 draws each.
    assert_eq!(
        (a["n_items"].clone(), a["n_comparisons"].clone()),
        (8.into(), 280.0.into())
    );
    assert_eq!(a["n_comparisons"], b["n_comparisons"]);
    assert_eq!(a["n_pairs"], b["n_pairs"]);
}

#[test]
fn inspect_tasks_with_a_loader() {
    let f = fixtures().join("tasks/alpaca.json");
    let (ok, v, err) = pref(&[
        "inspect",
        f.to_str().unwrap(),
        "--kind",
        "task",
        "--source",
        "alpaca",
    ]);
    assert!(ok, "{err}");
    assert_eq!(v["n_tasks"], 3);
    assert_eq!(v["sources"]["alpaca"], 3);
}

#[test]
fn bad_input_exits_non_zero_with_path_line_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("b.jsonl");
    std::fs::write(&p, "{\"a\":\"x\",\"b\":\"y\",\"winner\":\"a\"}\n{\"a\":\"x\",\"b\":\"y\",\"winner\":\"draw\"}\n").unwrap();
    let (ok, _, err) = pref(&["inspect", p.to_str().unwrap(), "--kind", "battle"]);
    assert!(!ok);
    assert!(
        err.contains(&format!("{}:2: winner: ", p.display())),
        "{err}"
    );
    let (ok, _, err) = pref(&["inspect", "/nonexistent/x.jsonl", "--kind", "battle"]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/x.jsonl"), "{err}");
}

/// One definition of "the first-shown option wins" (ties ½, unparseable left
/// out): `pref inspect`, `pref_utility::position_bias` and the judge statistics'
/// `first_option_rate` give the same number for the same answers.
#[test]
fn position_bias_is_one_number_everywhere() {
    // python3: rows = [json.loads(l) for l in open('fixtures/comparisons.jsonl')]
    //   first = lambda r: {'a': 1, 'b': 0, 'tie': .5}[r['choice']] if r['order'] == 'ab' \
    //                     else 1 - {'a': 1, 'b': 0, 'tie': .5}[r['choice']]
    //   s = [first(r) for r in rows if r['choice'] is not None]  ->  [1, 1, 0.5]
    //   sum(s) / len(s) == 0.8333333333333334
    let expected = 2.5 / 3.0;
    let f = fixtures().join("comparisons.jsonl");
    let (ok, v, err) = pref(&["inspect", f.to_str().unwrap(), "--kind", "comparison"]);
    assert!(ok, "{err}");
    assert!((v["first_position_share"].as_f64().unwrap() - expected).abs() < 1e-12);
    assert_eq!(v["parseable"], 3);

    let recs: Vec<pref_data::Comparison> = pref_data::read_jsonl(&f).unwrap();
    let b = pref_utility::position_bias(recs.iter(), pref_utility::Readout::Choice).unwrap();
    assert!((b.share - expected).abs() < 1e-12);

    // The same answers as judge decisions (`model_a` is the output shown first).
    let decisions: Vec<pref_rank::judges::JudgeDecision> = recs
        .iter()
        .filter_map(|r| {
            let (first, second) = match r.order {
                pref_data::Order::Ab => (&r.a, &r.b),
                pref_data::Order::Ba => (&r.b, &r.a),
            };
            use pref_data::{Choice, Order, Winner};
            let winner = match (r.order, r.choice?) {
                (_, Choice::Tie) => Winner::Tie,
                (Order::Ab, Choice::A) | (Order::Ba, Choice::B) => Winner::A,
                _ => Winner::B,
            };
            Some(pref_rank::judges::JudgeDecision {
                question_id: format!("{}-{}", r.a, r.b),
                model_a: first.clone(),
                model_b: second.clone(),
                winner,
                judge: "j".into(),
                order: None,
                choice_prob: None,
            })
        })
        .collect();
    let params = pref_rank::judges::JudgeAnalysisParams::default().bootstrap(10);
    let a = pref_rank::judges::analyze(&decisions, &params).unwrap();
    assert!((a.judges["j"].first_option_rate.estimate - expected).abs() < 1e-12);
}

/// `pref … | head`: a reader that closed the pipe before the output is written is
/// not an error (no panic, exit 0), as with ripgrep.
#[test]
fn a_closed_stdout_pipe_is_not_an_error() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let f = fixtures().join("battles.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_pref"))
        .args(["inspect", f.to_str().unwrap(), "--kind", "battle"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_missing_file_prints_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    let (ok, v, err) = pref(&["inspect", missing.to_str().unwrap(), "--kind", "battle"]);
    assert!(!ok);
    assert_eq!(v, Value::Null);
    assert_eq!(
        err,
        format!(
            "error: {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

/// Repeated options are refused before any model is loaded (no model file is
/// needed for this error: the path below does not exist).
#[test]
fn repeated_choice_options_are_refused() {
    let (ok, v, err) = pref(&[
        "choice",
        "--model",
        "/nonexistent/model.gguf",
        "--prompt",
        "Pick one.",
        "--options",
        "A,B,A",
    ]);
    assert!(!ok);
    assert_eq!(v, Value::Null);
    assert_eq!(
        err,
        "error: --options: invalid request: option `A` is given twice (options 0 and 2): \
         options must differ\n"
    );
}
