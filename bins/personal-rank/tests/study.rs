//! The `personal-rank` binary end to end on the embedded SmolLM2 (writer,
//! judge, two contestants) and Gemma-3-270M (a third contestant): a small run
//! checked against its own records (pairs, first-shown rates, the neutral
//! judge's ratings ordered as its round-robin wins); rerun from the cache on
//! one thread with an identical evaluation (the reward head is bit-identical
//! for a seed whatever the thread count); the same run killed while answering
//! and while judging, then resumed, equal to the uninterrupted one with no
//! record twice; a new judge setting re-using the prompts and answers from the
//! cache; bad settings named before any model call.
//!
//! Skips when the models are missing, unless `PREF_REQUIRE_MODELS=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use pref_study::testing::{jsonl, StudyBin};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_present() -> bool {
    pref_data::paths::embedded_models_present(&["default", "gemma-3-270m", "all-minilm-l6-v2"])
}

fn bin(cache: &Path) -> StudyBin {
    StudyBin::new(env!("CARGO_BIN_EXE_personal-rank"), root(), cache)
}

/// Two personas with three prompts each, three contestants, short answers,
/// three repetitions with one held-out prompt per persona.
fn config(dir: &Path, extra: &str) -> String {
    let text = format!(
        "[[personas]]\nname = \"coder\"\ndescription = \"a programmer who wants short, exact answers\"\n\
         [[personas]]\nname = \"poet\"\ndescription = \"a poet who loves vivid language\"\n\
         [prompts]\nper_persona = 3\nmax_tokens = 24\n\
         [[contestants]]\nname = \"smollm2\"\n\
         [[contestants]]\nname = \"smollm2-terse\"\nsystem = \"Answer in five words.\"\n\
         [[contestants]]\nname = \"gemma3\"\nmodel = {{ name = \"gemma-3-270m\" }}\n\
         [generation]\nmax_tokens = 24\n\
         [analysis]\nseeds = 3\nheldout = 1\nsizes = [2]\n{extra}"
    );
    let p = dir.join(format!("pr-{}.toml", extra.len()));
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn bad_settings_are_named_before_any_model_call() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bin(&tmp.path().join("cache"));
    let cfg = config(tmp.path(), "");
    for (args, want) in [
        (
            vec!["--seeds", "1"],
            "analysis: invalid parameter `seeds`: must be ≥ 2",
        ),
        (
            vec!["--heldout", "3"],
            "analysis.heldout (3) must be smaller than prompts.per_persona (3)",
        ),
        (
            vec!["--max-tokens", "0"],
            "generation.max_tokens must be in 1..=4096, got 0",
        ),
    ] {
        let mut a = vec!["run", "--config", &cfg, "--dry-run"];
        a.extend(args.iter().copied());
        let err = b.err(&a);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let two = tmp.path().join("two.toml");
    std::fs::write(
        &two,
        "[[contestants]]\nname = \"a\"\n[[contestants]]\nname = \"b\"\n",
    )
    .unwrap();
    let err = b.err(&["run", "--config", two.to_str().unwrap(), "--dry-run"]);
    assert!(err.contains("contestants: give at least three"), "{err}");
    let arena = config(
        tmp.path(),
        "[[contestants]]\nname = \"named\"\narena = \"no-such-model\"\n",
    );
    let err = b.err(&["run", "--config", &arena, "--dry-run"]);
    assert!(
        err.contains("contestants[3].arena is set but global.leaderboard is not"),
        "{err}"
    );
    let typo = tmp.path().join("typo.toml");
    std::fs::write(&typo, "[analysis]\nseeds = 3\nheld_out = 1\n").unwrap();
    let err = b.err(&["run", "--config", typo.to_str().unwrap(), "--dry-run"]);
    assert!(
        err.contains("typo.toml:3") && err.contains("held_out"),
        "{err}"
    );
    if !models_present() {
        return;
    }
    // The leaderboard is read at the plan, after the models load.
    let err = b.err(&[
        "run",
        "--config",
        &arena,
        "--dry-run",
        "--leaderboard",
        "fixtures/leaderboards/overall_raw_ranking.csv",
    ]);
    assert!(
        err.contains("contestants[3].arena: `no-such-model` is not on the leaderboard"),
        "{err}"
    );
}

fn rec(run: &Path, log: &str) -> Vec<Value> {
    jsonl(&run.join(format!("records/{log}.jsonl")))
}

/// Every record id once.
fn assert_no_repeats(run: &Path, log: &str) {
    let r = rec(run, log);
    let ids: BTreeSet<&str> = r.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), r.len(), "{log}: a record twice");
}

#[test]
fn a_small_run_matches_its_records_reruns_on_one_thread_and_resumes_after_kills() {
    if !models_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "");
    let a_bin = bin(&tmp.path().join("cache-a"));
    let run_a = tmp.path().join("a");
    let a = a_bin.ok(&["run", "--config", &cfg, "--out", run_a.to_str().unwrap()]);

    let kept: usize = a["counts"]["prompts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap() as usize)
        .sum();
    assert!(kept >= 4, "too few usable prompts: {}", a["counts"]);
    assert_eq!(rec(&run_a, "prompts").len(), 6);
    assert_eq!(rec(&run_a, "responses").len(), 3 * kept);
    // 3 pairs per prompt, both orders, as the persona and neutrally.
    assert_eq!(rec(&run_a, "judgments").len(), 6 * kept);
    assert_eq!(rec(&run_a, "neutral").len(), 6 * kept);
    assert_eq!(a["counts"]["pairs"], 3 * kept as u64);
    assert_eq!(
        a["model_calls"]["made"].as_u64().unwrap(),
        6 + 15 * kept as u64
    );

    // First-shown rates, recounted from the records.
    let mut first: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for log in ["judgments", "neutral"] {
        for r in rec(&run_a, log) {
            let e = first
                .entry(r["judge"].as_str().unwrap().into())
                .or_default();
            e.1 += 1.0;
            e.0 += match r["picked"].as_str().unwrap() {
                "First" => 1.0,
                "Tie" => 0.5,
                _ => 0.0,
            };
        }
    }
    for (judge, (wins, n)) in &first {
        let got = a["position_bias"][judge]["first_option_rate"]["estimate"]
            .as_f64()
            .unwrap();
        assert!(
            (got - wins / n).abs() < 1e-12,
            "{judge}: {got} vs {}",
            wins / n
        );
    }
    // The neutral judge's Bradley–Terry ratings of a complete round robin are
    // ordered as the contestants' wins, with the two orders' probabilities
    // averaged per (prompt, pair) (a property of the BT MLE on balanced data).
    let mut prob: BTreeMap<(String, String, String), Vec<(String, f64)>> = BTreeMap::new();
    for r in rec(&run_a, "neutral") {
        let (f, s) = (r["first"].as_str().unwrap(), r["second"].as_str().unwrap());
        let (x, y) = if f < s { (f, s) } else { (s, f) };
        let p_first = r["first_prob"].as_f64().unwrap();
        let p_x = if f == x { p_first } else { 1.0 - p_first };
        prob.entry((r["prompt_id"].as_str().unwrap().into(), x.into(), y.into()))
            .or_default()
            .push((f.into(), p_x));
    }
    let mut wins: BTreeMap<String, f64> = BTreeMap::new();
    for ((_, x, y), v) in &prob {
        assert_eq!(v.len(), 2);
        let p = 0.5 * (v[0].1 + v[1].1);
        let (wx, wy) = if p > 0.5 {
            (1.0, 0.0)
        } else if p < 0.5 {
            (0.0, 1.0)
        } else {
            (0.5, 0.5)
        };
        *wins.entry(x.clone()).or_default() += wx;
        *wins.entry(y.clone()).or_default() += wy;
    }
    let g = &a["global"]["ratings"];
    for (m1, w1) in &wins {
        for (m2, w2) in &wins {
            if w1 > w2 {
                assert!(
                    g[m1].as_f64().unwrap() > g[m2].as_f64().unwrap(),
                    "{m1} won {w1}, {m2} won {w2}: {g}"
                );
            }
        }
    }
    let ev = &a["evaluation"];
    assert_eq!(ev["seeds"].as_array().unwrap().len(), 3);
    assert_eq!(ev["curve"].as_array().unwrap().len(), 2, "{}", ev["curve"]);
    for f in [
        "report.md",
        "index.html",
        "plots/curve_kendall_tau.png",
        "plots/style.png",
    ] {
        assert!(run_a.join(f).exists(), "{f}");
    }

    // Rerun from the records on one thread: no call, the same evaluation.
    let mut one = a_bin.command(&["run", "--resume", run_a.to_str().unwrap()]);
    let out = one.env("RAYON_NUM_THREADS", "1").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["model_calls"]["made"], 0);
    assert_eq!(again["evaluation"], a["evaluation"]);

    // Another persona system message in a new run: the prompts, the answers and
    // the neutral comparisons come from the model cache; only the persona
    // comparisons are asked again.
    let cfg_judge = config(
        tmp.path(),
        "[judge]\npersona_system = \"You are {description}.\"\n",
    );
    let j = a_bin.ok(&[
        "run",
        "--config",
        &cfg_judge,
        "--out",
        tmp.path().join("j").to_str().unwrap(),
    ]);
    assert_eq!(j["model_calls"]["made"].as_u64().unwrap(), 6 * kept as u64);
    assert_eq!(
        j["model_calls"]["cached"].as_u64().unwrap(),
        6 + 9 * kept as u64
    );

    // Killed while answering and while judging, then resumed.
    let b_bin = bin(&tmp.path().join("cache-b"));
    let run_b = tmp.path().join("b");
    let out_b = run_b.to_str().unwrap().to_string();
    let mut kills = 0;
    for (log, n) in [("responses", 3 * kept), ("judgments", 6 * kept)] {
        let args: Vec<&str> = if run_b.join("config.toml").exists() {
            vec!["run", "--resume", &out_b]
        } else {
            vec!["run", "--config", &cfg, "--out", &out_b]
        };
        let mut child = b_bin.command(&args).stderr(Stdio::null()).spawn().unwrap();
        let started = Instant::now();
        let mut finished = false;
        while rec(&run_b, log).len() < 2 {
            assert!(started.elapsed() < Duration::from_secs(300), "no progress");
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if !finished {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        assert!(
            rec(&run_b, log).len() < n,
            "{log}: finished before the kill"
        );
    }
    assert_eq!(kills, 2);
    let b = b_bin.ok(&["run", "--resume", &out_b]);
    for log in ["prompts", "responses", "judgments", "neutral"] {
        assert_no_repeats(&run_b, log);
        assert_eq!(rec(&run_b, log).len(), rec(&run_a, log).len(), "{log}");
    }
    for key in ["evaluation", "global", "persona_ratings", "counts", "style"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    let c = b_bin.ok(&["run", "--resume", &out_b]);
    assert_eq!(c["model_calls"]["made"], 0);
    let st = b_bin.ok(&["status", &out_b]);
    assert_eq!(st["finished"], true, "{st}");
}
