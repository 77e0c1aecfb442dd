//! Bad input: `path:line: field` errors, never a panic.

use std::io::Write;

use pref_cje::{read_bandit_rows, CjeData, CjeParams, EstimatorKind};

fn file(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    (dir, p)
}

const GOOD: &str = r#"{"prompt_id": "p1", "prompt": "q", "response": "r", "base_policy_logprob": -3.0, "target_policy_logprobs": {"a": -2.5, "b": -3.5}, "judge_score": 0.5}"#;

fn logged_err(second_line: &str) -> String {
    let (_d, p) = file("logged.jsonl", &format!("{GOOD}\n{second_line}\n"));
    let e = CjeData::read(&p).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:2: ", p.display())), "{e}");
    e
}

#[test]
fn logged_sample_field_errors_name_line_and_field() {
    let cases = [
        (
            r#""base_policy_logprob": 0.5"#,
            "base_policy_logprob: must be a log-probability ≤ 0",
        ),
        (
            r#""target_policy_logprobs": {"a": 1.0, "b": -1.0}"#,
            "target_policy_logprobs.a: must be a log-probability ≤ 0",
        ),
        (r#""judge_score": 1.5"#, "judge_score: must lie in [0, 1]"),
        (r#""judge_score": -0.1"#, "judge_score: must lie in [0, 1]"),
        (r#""oracle_label": 2.0"#, "oracle_label: must lie in [0, 1]"),
        (r#""judge_score": "high""#, "judge_score: invalid type"),
    ];
    for (patch, want) in cases {
        let key = patch.split(':').next().unwrap();
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        let pv: serde_json::Value = serde_json::from_str(&format!("{{{patch}}}")).unwrap();
        v[key.trim_matches('"')] = pv[key.trim_matches('"')].clone();
        let e = logged_err(&v.to_string());
        assert!(e.contains(want), "{patch}: {e}");
    }
    // NaN cannot be written in JSON; a bare NaN token is a JSON error on that line.
    let e = logged_err(&GOOD.replace("0.5}", "NaN}"));
    assert!(e.contains(":2: invalid JSON"), "{e}");
    // Missing field.
    let e = logged_err(&GOOD.replace(r#", "judge_score": 0.5"#, ""));
    assert!(e.contains("judge_score: missing field"), "{e}");
}

#[test]
fn policy_missing_from_some_rows_names_first_row_lacking_it() {
    let third = GOOD.replace(r#", "b": -3.5"#, "");
    let text = format!("{GOOD}\n\n{GOOD}\n{third}\n{third}\n");
    let (_d, p) = file("logged.jsonl", &text);
    let e = CjeData::read(&p).unwrap_err().to_string();
    // Line 4 (after a blank line 2) is the first without policy b.
    assert!(
        e.starts_with(&format!(
            "{}:4: target_policy_logprobs.b: missing",
            p.display()
        )),
        "{e}"
    );
    assert!(e.contains("first at"), "{e}");
}

#[test]
fn empty_and_truncated_files() {
    let (_d, p) = file("logged.jsonl", "");
    assert!(CjeData::read(&p)
        .unwrap_err()
        .to_string()
        .contains(":1: empty file"));
    let (_d, p) = file("logged.jsonl", &format!("{GOOD}\n{}", &GOOD[..40]));
    assert!(CjeData::read(&p)
        .unwrap_err()
        .to_string()
        .contains(":2: truncated last line"));
    let (_d, p) = file("logged.txt", GOOD);
    assert!(CjeData::read(&p)
        .unwrap_err()
        .to_string()
        .contains("unknown file type"));
}

#[test]
fn fresh_draw_errors() {
    let (d, p) = file(
        "logged.jsonl",
        &format!("{GOOD}\n{}\n", GOOD.replace("p1", "p2")),
    );
    let mut data = CjeData::read(&p).unwrap();
    // Missing prompt p2 in a's draws.
    std::fs::write(
        d.path().join("a_responses.jsonl"),
        "{\"prompt_id\": \"p1\", \"judge_score\": 0.4}\n",
    )
    .unwrap();
    let e = data.read_fresh_draws_dir(d.path()).unwrap_err().to_string();
    assert!(
        e.contains("a_responses.jsonl: no fresh draw of policy `a` for logged prompt `p2`"),
        "{e}"
    );
    // Judge outside [0, 1] in a fresh draw: path:line: field.
    std::fs::write(
        d.path().join("a_responses.jsonl"),
        "{\"prompt_id\": \"p1\", \"judge_score\": 0.4}\n{\"prompt_id\": \"p2\", \"judge_score\": 7}\n",
    )
    .unwrap();
    let e = data.read_fresh_draws_dir(d.path()).unwrap_err().to_string();
    assert!(
        e.contains("a_responses.jsonl:2: judge_score: must lie in [0, 1]"),
        "{e}"
    );
    assert!(data.read_fresh_draws_dir(d.path().join("nope")).is_err());
}

#[test]
fn too_few_prompts_or_oracle_spread_are_errors() {
    let (_d, p) = file("logged.jsonl", &format!("{GOOD}\n{GOOD}\n"));
    let data = CjeData::read(&p).unwrap();
    let e = CjeParams::default()
        .check()
        .unwrap()
        .fit(&data)
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 distinct prompts cannot fill 5 folds"), "{e}");
    // Oracle labels on one prompt only: one fold's calibrator would have no data.
    let mut lines = Vec::new();
    for i in 0..10 {
        let mut l = GOOD.replace("p1", &format!("p{i}"));
        if i == 0 {
            l = l.replace("}\n", "").replace(
                r#""judge_score": 0.5"#,
                r#""judge_score": 0.5, "oracle_label": 0.7"#,
            );
        }
        lines.push(l);
    }
    let (_d, p) = file("logged.jsonl", &lines.join("\n"));
    let data = CjeData::read(&p).unwrap();
    let e = CjeParams::default()
        .check()
        .unwrap()
        .fit(&data)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("oracle labels fall in one cross-fitting fold"),
        "{e}"
    );
    for bad in [
        CjeParams {
            folds: 1,
            ..CjeParams::default()
        },
        CjeParams {
            clip: -1.0,
            ..CjeParams::default()
        },
        CjeParams {
            level: 1.0,
            ..CjeParams::default()
        },
        CjeParams {
            bootstrap: 1,
            ..CjeParams::default()
        },
    ] {
        assert!(bad.check().is_err());
    }
    assert!("ipx"
        .parse::<EstimatorKind>()
        .unwrap_err()
        .contains("expected one of ips, snips"));
}

#[test]
fn bandit_row_errors() {
    let good =
        r#"{"reward": 1, "pscore": 0.5, "target_prob": 0.2, "q_hat": 0.3, "q_hat_target": 0.4}"#;
    for (bad, want) in [
        (good.replace("0.5", "0"), "pscore: must lie in (0, 1]"),
        (
            good.replace("0.2", "1.2"),
            "target_prob: must lie in [0, 1]",
        ),
        (
            good.replace(r#", "q_hat_target": 0.4"#, ""),
            "q_hat_target: missing field",
        ),
    ] {
        let (_d, p) = file("rows.jsonl", &format!("{good}\n{bad}\n"));
        let e = read_bandit_rows(&p).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:2: ", p.display())) && e.contains(want),
            "{e}"
        );
    }
}
