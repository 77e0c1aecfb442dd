//! `pref elo`, `pref bt`, `pref rank-metrics`: JSON shapes, values against the Python
//! references of crates/pref-rank/tests, and `path:line` errors on bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn pref(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pref"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v = if out.status.success() {
        serde_json::from_str(&stdout).unwrap()
    } else {
        Value::Null
    };
    (
        out.status.success(),
        v,
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn elo_prints_ratings_and_count() {
    let f = fixtures().join("battles.jsonl");
    let (ok, v, err) = pref(&["elo", "--battles", s(&f)]);
    assert!(ok, "{err}");
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 2);
    assert_eq!(v["n_battles"], 300);
    // FastChat compute_elo on the same file (see crates/pref-rank/tests/elo.rs).
    assert!((v["ratings"]["atlas-7b"].as_f64().unwrap() - 1063.604805858423).abs() < 1e-9);
    assert_eq!(v["ratings"].as_object().unwrap().len(), 5);
    let (ok, v, _) = pref(&["elo", "--battles", s(&f), "--k", "0", "--init", "1200"]);
    assert!(ok);
    assert_eq!(v["ratings"]["dune-1b"], 1200.0);
}

#[test]
fn bt_prints_ratings_intervals_ranks_and_timings() {
    let f = fixtures().join("battles.jsonl");
    let (ok, v, err) = pref(&[
        "bt",
        "--battles",
        s(&f),
        "--bootstrap",
        "200",
        "--seed",
        "3",
    ]);
    assert!(ok, "{err}");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["ci", "n_battles", "rank", "ratings", "seconds"]);
    assert_eq!(v["n_battles"], 300);
    // scipy reference of crates/pref-rank/tests/bt.rs
    assert!((v["ratings"]["ember-70b"].as_f64().unwrap() - 1137.7939681056157).abs() < 1e-7);
    for m in ["atlas-7b", "birch-13b", "cedar-3b", "dune-1b", "ember-70b"] {
        let ci = &v["ci"][m];
        let (l, md, u) = (
            ci["lower"].as_f64().unwrap(),
            ci["median"].as_f64().unwrap(),
            ci["upper"].as_f64().unwrap(),
        );
        assert!(l < md && md < u, "{m}: {ci}");
        assert!(v["rank"][m].as_u64().unwrap() >= 1);
    }
    assert_eq!(v["rank"]["ember-70b"], 1);
    for k in ["load", "fit", "bootstrap"] {
        assert!(v["seconds"][k].as_f64().unwrap() >= 0.0);
    }
    // Same seed, same output (timings aside).
    let (_, w, _) = pref(&[
        "bt",
        "--battles",
        s(&f),
        "--bootstrap",
        "200",
        "--seed",
        "3",
    ]);
    assert_eq!(v["ci"], w["ci"]);

    let (ok, v, err) = pref(&[
        "bt",
        "--battles",
        s(&f),
        "--bootstrap",
        "20",
        "--anchor",
        "birch-13b=1114",
    ]);
    assert!(ok, "{err}");
    assert!((v["ratings"]["birch-13b"].as_f64().unwrap() - 1114.0).abs() < 1e-9);
    let (ok, _, err) = pref(&["bt", "--battles", s(&f), "--anchor", "nobody=1000"]);
    assert!(!ok);
    assert!(err.contains("unknown model `nobody`"), "{err}");
    let (ok, _, err) = pref(&["bt", "--battles", s(&f), "--anchor", "1000"]);
    assert!(!ok && err.contains("MODEL=RATING"), "{err}");
}

#[test]
fn bt_reads_fastchat_parquet_and_json() {
    for name in ["battles_fastchat.parquet", "battles_fastchat.json"] {
        let f = fixtures().join(name);
        let (ok, v, err) = pref(&[
            "bt",
            "--battles",
            s(&f),
            "--bootstrap",
            "10",
            "--prior",
            "0.01",
        ]);
        assert!(ok, "{name}: {err}");
        assert!(v["n_battles"].as_u64().unwrap() > 0);
    }
}

#[test]
fn bad_battle_files_give_path_and_line() {
    let d = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown.jsonl",
            "{\"a\": \"x\", \"b\": \"y\", \"winner\": \"a\"}\n{\"model_a\": \"x\", \"model_b\": \"y\", \"winner\": \"draw\"}\n",
            ":2: winner: unknown variant `draw`",
        ),
        (
            "self.jsonl",
            "{\"a\": \"x\", \"b\": \"y\", \"winner\": \"a\"}\n{\"a\": \"x\", \"b\": \"x\", \"winner\": \"a\"}\n",
            ":2: b: self-battle: `x` against itself",
        ),
        ("empty.jsonl", "", ":1: empty file"),
    ];
    for (name, text, want) in cases {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        for cmd in ["elo", "bt"] {
            let (ok, _, err) = pref(&[cmd, "--battles", s(&p)]);
            assert!(!ok, "{cmd} {name}");
            assert!(
                err.contains(&format!("{}{want}", p.display())),
                "{cmd} {name}: {err}"
            );
        }
    }
}

#[test]
fn disconnected_battles_name_the_components() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("split.jsonl");
    std::fs::write(
        &p,
        "{\"a\": \"a\", \"b\": \"b\", \"winner\": \"a\"}\n{\"a\": \"b\", \"b\": \"a\", \"winner\": \"a\"}\n\
         {\"a\": \"c\", \"b\": \"d\", \"winner\": \"tie\"}\n",
    )
    .unwrap();
    let (ok, _, err) = pref(&["bt", "--battles", s(&p)]);
    assert!(!ok);
    assert!(
        err.contains("disconnected (2 components: {a, b} | {c, d})"),
        "{err}"
    );
}

#[test]
fn rank_metrics_prints_every_metric() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m.json");
    // scipy: kendalltau -> 0.7857142857142856, p 0.005505952380952381;
    // spearmanr -> 0.9285714285714287, p 0.0008629681828999767 (crates/pref-rank/tests/metrics.rs)
    std::fs::write(
        &p,
        "{\n  \"x\": [3.1, 1.2, 5.5, 4.4, 2.0, 8.1, 7.7, 6.0],\n  \"y\": [2, 1, 4, 5, 3, 8, 6, 7]\n}\n",
    )
    .unwrap();
    let (ok, v, err) = pref(&["rank-metrics", "--input", s(&p)]);
    assert!(ok, "{err}");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "kendall_tau_b",
            "kendall_tau_b_pvalue",
            "pairwise_accuracy",
            "spearman_pvalue",
            "spearman_rho",
            "top1",
            "top3"
        ]
    );
    assert!((v["kendall_tau_b"].as_f64().unwrap() - 0.7857142857142856).abs() < 1e-12);
    assert!((v["spearman_pvalue"].as_f64().unwrap() - 0.0008629681828999767).abs() < 1e-15);
    assert_eq!(v["top1"], 1.0);
    assert_eq!(v["top3"], 1.0);
    // No ties: τ = (C − D) / 28 = 0.7857 gives C = 25 concordant pairs of 28.
    assert!((v["pairwise_accuracy"].as_f64().unwrap() - 25.0 / 28.0).abs() < 1e-12);

    std::fs::write(&p, "{\"x\": [1, 1, 1], \"y\": [1, 2, 3]}").unwrap();
    let (ok, v, _) = pref(&["rank-metrics", "--input", s(&p)]);
    assert!(ok);
    assert!(v["kendall_tau_b"].is_null() && v["spearman_pvalue"].is_null());

    std::fs::write(&p, "{\"x\": [1, 2],\n \"y\": [1, \"two\"]}").unwrap();
    let (ok, _, err) = pref(&["rank-metrics", "--input", s(&p)]);
    assert!(!ok && err.contains(&format!("{}:2:", p.display())), "{err}");
    std::fs::write(&p, "{\"x\": [1, 2], \"y\": [1]}").unwrap();
    let (ok, _, err) = pref(&["rank-metrics", "--input", s(&p)]);
    assert!(!ok && err.contains("y: has 1 values but x has 2"), "{err}");
}

#[test]
fn every_subcommand_has_help() {
    for cmd in ["elo", "bt", "rank-metrics"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pref"))
            .args([cmd, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage: pref"), "{text}");
    }
}

/// `pref style-bt` on pref-rank's System C fixture, written as styled battles:
/// the shared-style fit equals scipy's (the constants of
/// crates/pref-rank/tests/style.rs, from crates/pref-rank/tests/data/style_bt_ref.py:
/// L-BFGS-B, then Newton steps, on the same objective).
#[test]
fn style_bt_equals_the_scipy_reference() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/pref-rank/tests/data/style_bt.jsonl");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("styled.jsonl");
    let mut out = String::new();
    for line in std::fs::read_to_string(&fixture).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let raw: Vec<f64> = v["raw"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let winner = match v["outcome"].as_f64().unwrap() {
            o if o > 0.75 => "a",
            o if o < 0.25 => "b",
            _ => "tie",
        };
        let row = serde_json::json!({
            "group": format!("persona-{}", v["group"]),
            "a": format!("model-{}", v["a"]),
            "b": format!("model-{}", v["b"]),
            "winner": winner,
            "style_a": {"length": raw[0], "headers": raw[2]},
            "style_b": {"length": raw[1], "headers": raw[3]},
        });
        out.push_str(&format!("{row}\n"));
    }
    std::fs::write(&file, out).unwrap();
    let (ok, v, err) = pref(&["style-bt", "--battles", s(&file), "--shared-style"]);
    assert!(ok, "{err}");
    let close = |got: &Value, want: f64| {
        let got = got.as_f64().unwrap();
        assert!((got - want).abs() < 1e-6, "got {got}, want {want}");
    };
    // SH_OBJECTIVE, SH_STYLE and SH_STRENGTH[0] of crates/pref-rank/tests/style.rs.
    close(&v["objective"], 151.03151832650244);
    close(
        &v["style"]["all"]["length"]["estimate"],
        0.24069444065568796,
    );
    close(
        &v["style"]["all"]["headers"]["estimate"],
        0.08939124408813054,
    );
    close(&v["style"]["all"]["length"]["se"], 0.141029347534392);
    close(&v["strength"]["model-0"]["estimate"], 0.508931066183628);
    assert_eq!(v["n"], 240);
    // One row per persona without --shared-style (PG_OBJECTIVE).
    let (ok, v, err) = pref(&["style-bt", "--battles", s(&file)]);
    assert!(ok, "{err}");
    close(&v["objective"], 145.57348882635085);
    assert_eq!(v["style"].as_object().unwrap().len(), 3);

    // Bad input: `path:line: field`.
    let bad = tmp.path().join("bad.jsonl");
    let good = r#"{"a": "x", "b": "y", "winner": "a", "style_a": {"tokens": 3}, "style_b": {"tokens": 5}}"#;
    for (second, want) in [
        (
            r#"{"a": "x", "b": "x", "winner": "a", "style_a": {"tokens": 3}, "style_b": {"tokens": 5}}"#,
            "bad.jsonl:2: b: is the same model as `a`",
        ),
        (
            r#"{"a": "x", "b": "y", "winner": "a", "style_a": {"tokens": 3}, "style_b": {"bold": 5}}"#,
            "bad.jsonl:2: style_b: must name the same counts",
        ),
        (
            r#"{"a": "x", "b": "y", "winner": "a", "style_a": {"tokens": -3}, "style_b": {"tokens": 5}}"#,
            "bad.jsonl:2: style_a: `tokens` must be a finite count ≥ 0",
        ),
        (
            r#"{"a": "x", "b": "y", "winner": "a", "style_a": {"bold": 3}, "style_b": {"bold": 5}}"#,
            "bad.jsonl:2: style_a: names [\"bold\"], but the first record names [\"tokens\"]",
        ),
    ] {
        std::fs::write(&bad, format!("{good}\n{second}\n")).unwrap();
        let (ok, _, err) = pref(&["style-bt", "--battles", s(&bad)]);
        assert!(!ok && err.contains(want), "{want}: {err}");
    }
}
