//! `pref cje` and `pref ope`: JSON shape, values against the library and the
//! Python references of crates/pref-cje/tests, `path:line: field` errors, `--help`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pref(args: &[&str]) -> (bool, Value, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pref"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    // `--help` succeeds without JSON; every other successful run prints JSON.
    let v = if out.status.success() && !args.contains(&"--help") {
        serde_json::from_str(&stdout).unwrap()
    } else {
        Value::Null
    };
    (
        out.status.success(),
        v,
        stdout,
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn p(rel: &str) -> String {
    root().join(rel).to_str().unwrap().to_string()
}

#[test]
fn cje_on_fixture_prints_every_estimator_with_diagnostics_and_gate() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.md");
    let (ok, v, _, err) = pref(&[
        "cje",
        "--logged",
        &p("fixtures/cje_logged.jsonl"),
        "--fresh-draws",
        &p("fixtures/cje_fresh"),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let cal = &v["calibration"];
    assert_eq!(cal["oracle_rows"], 41);
    assert_eq!(cal["folds"], 5);
    assert_eq!(cal["mode"], "isotonic-crossfit");
    let pols = v["policies"].as_object().unwrap();
    assert_eq!(
        pols.keys().collect::<Vec<_>>(),
        ["better", "clone", "worse"]
    );
    // True values of the fixture's generator (fixtures/gen_cje.py prints them).
    let truth = [
        ("better", 0.37696002505000237),
        ("clone", 0.3),
        ("worse", 0.2517661084335486),
    ];
    for (name, t) in truth {
        let pr = &pols[name];
        let est = pr["estimates"].as_object().unwrap();
        assert_eq!(est.len(), 8, "{name}");
        for (e, x) in est {
            for f in ["estimate", "se", "ci_lower", "ci_upper"] {
                assert!(x[f].is_f64(), "{name} {e} {f}");
            }
            assert!(x["ci_lower"].as_f64() <= x["estimate"].as_f64());
        }
        // DR's and the direct estimate's intervals cover the truth on this
        // fixture (n = 200; its judge → oracle map is the same for every policy).
        for e in ["dr", "direct"] {
            let x = &est[e];
            assert!(
                x["ci_lower"].as_f64().unwrap() <= t && t <= x["ci_upper"].as_f64().unwrap(),
                "{name} {e}: {x}"
            );
        }
        for f in ["ess_fraction", "max_weight", "zero_logprob_rate"] {
            assert!(pr["diagnostics"][f].is_number(), "{name} {f}");
        }
        // The Hill index is undefined (null) for the clone's constant weights.
        assert_eq!(
            pr["diagnostics"]["hill_tail_index"].is_null(),
            name == "clone"
        );
        assert!(["ok", "warn", "refuse"].contains(&pr["gate"]["status"].as_str().unwrap()));
    }
    assert_eq!(pols["clone"]["diagnostics"]["clone"], true);
    assert_eq!(pols["clone"]["diagnostics"]["ess_fraction"], 1.0);
    let md = std::fs::read_to_string(report).unwrap();
    assert!(md.contains("## better") && md.contains("| dr |"), "{md}");
}

#[test]
fn cje_selected_estimators_bootstrap_and_refusal_in_words() {
    let (ok, v, _, err) = pref(&[
        "cje",
        "--logged",
        &p("crates/pref-cje/tests/data/small_logged.jsonl"),
        "--estimator",
        "ips",
        "--estimator",
        "snips",
        "--clip",
        "1.5",
        "--folds",
        "4",
    ]);
    assert!(ok, "{err}");
    let a = &v["policies"]["a"]["estimates"];
    assert_eq!(a.as_object().unwrap().len(), 2);
    // numpy reference, crates/pref-cje/tests/data/ref_basic.py: a snips 0.5019538196616397
    assert!((a["snips"]["estimate"].as_f64().unwrap() - 0.5019538196616397).abs() < 1e-12);
    assert_eq!(v["calibration"]["mode"], "judge-as-reward");
    // Bootstrap intervals.
    let (ok, v, _, err) = pref(&[
        "cje",
        "--logged",
        &p("fixtures/cje_logged.jsonl"),
        "--estimator",
        "calibrated-ips",
        "--bootstrap",
        "200",
    ]);
    assert!(ok, "{err}");
    assert_eq!(v["calibration"]["intervals"], "bootstrap");
    let e = &v["policies"]["better"]["estimates"]["calibrated-ips"];
    assert!(
        e["ci_lower"].as_f64() < e["estimate"].as_f64()
            && e["estimate"].as_f64() < e["ci_upper"].as_f64(),
        "{e}"
    );
    // A policy the gate refuses: JSON carries the estimate, flagged; report says "not reliable".
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("heavy.jsonl");
    let mut text = String::new();
    for i in 0..40 {
        let t = if i == 0 { -1.0 } else { -30.0 };
        text.push_str(&format!(
            "{{\"prompt_id\": \"p{i}\", \"prompt\": \"\", \"response\": \"\", \"base_policy_logprob\": -20.0, \"target_policy_logprobs\": {{\"x\": {t}}}, \"judge_score\": 0.5}}\n"
        ));
    }
    std::fs::write(&f, text).unwrap();
    let report = dir.path().join("r.md");
    let (ok, v, _, err) = pref(&[
        "cje",
        "--logged",
        f.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(v["policies"]["x"]["gate"]["status"], "refuse");
    assert!(v["policies"]["x"]["estimates"]["snips"]["estimate"].is_f64());
    assert!(std::fs::read_to_string(report)
        .unwrap()
        .contains("NOT RELIABLE"));
}

#[test]
fn cje_bad_input_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.jsonl");
    std::fs::write(
        &f,
        "{\"prompt_id\": \"p\", \"prompt\": \"\", \"response\": \"\", \"base_policy_logprob\": -2, \"target_policy_logprobs\": {\"x\": -1}, \"judge_score\": 0.5}\n\
         {\"prompt_id\": \"q\", \"prompt\": \"\", \"response\": \"\", \"base_policy_logprob\": 0.3, \"target_policy_logprobs\": {\"x\": -1}, \"judge_score\": 0.5}\n",
    )
    .unwrap();
    let (ok, _, _, err) = pref(&["cje", "--logged", f.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "{}:2: base_policy_logprob: must be a log-probability",
            f.display()
        )),
        "{err}"
    );
    let (ok, _, _, err) = pref(&[
        "cje",
        "--logged",
        &p("fixtures/cje_logged.jsonl"),
        "--estimator",
        "dr",
    ]);
    assert!(!ok && err.contains("needs fresh draws"), "{err}");
    let (ok, _, _, err) = pref(&[
        "cje",
        "--logged",
        &p("fixtures/cje_logged.jsonl"),
        "--estimator",
        "magic",
    ]);
    assert!(!ok && err.contains("unknown estimator `magic`"), "{err}");
}

#[test]
fn ope_matches_numpy_and_reports_bad_rows() {
    let (ok, v, _, err) = pref(&[
        "ope",
        "--input",
        &p("crates/pref-cje/tests/data/bandit.jsonl"),
        "--switch-lambda",
        "2",
    ]);
    assert!(ok, "{err}");
    // crates/pref-cje/tests/data/ref_basic.py: bandit sndr 0.49136165369560914 0.0930224030591087
    assert!((v["sndr"]["estimate"].as_f64().unwrap() - 0.49136165369560914).abs() < 1e-12);
    assert!((v["sndr"]["se"].as_f64().unwrap() - 0.0930224030591087).abs() < 1e-10);
    assert_eq!(v.as_object().unwrap().len(), 5);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("rows.jsonl");
    std::fs::write(&f, "{\"reward\": 1, \"pscore\": 0.5, \"target_prob\": 0.2, \"q_hat\": 0, \"q_hat_target\": 0}\n{\"reward\": 1, \"pscore\": 0.5, \"target_prob\": 0.2, \"q_hat\": 0}\n").unwrap();
    let (ok, _, _, err) = pref(&["ope", "--input", f.to_str().unwrap()]);
    assert!(
        !ok && err.contains(&format!("{}:2: q_hat_target", f.display())),
        "{err}"
    );
}

#[test]
fn help_describes_both_subcommands() {
    let (_, _, out, _) = pref(&["cje", "--help"]);
    for s in [
        "--logged",
        "--fresh-draws",
        "--estimator",
        "--folds",
        "--seed",
        "--clip",
        "--bootstrap",
        "stacked-dr",
        "refuse",
    ] {
        assert!(out.contains(s), "{s}: {out}");
    }
    let (_, _, out, _) = pref(&["ope", "--help"]);
    assert!(
        out.contains("switch-dr") && out.contains("--input"),
        "{out}"
    );
}
