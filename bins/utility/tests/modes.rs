//! The `utility` binary's other strategies and modes on the embedded default
//! model: active learning (killed mid-run and resumed to the same pairs,
//! records and results), `rate` (numbers recomputed here from the records),
//! and the OpenAI-compatible backend against llama.cpp's own server (the same
//! answers as the embedded backend).
//!
//! Skips when the model is missing, unless `PREF_REQUIRE_MODELS=1`.

use std::collections::BTreeSet;

use serde_json::Value;

mod common;
use common::{
    fixture_files, kill_when, model_present, records, records_in, run_ok, utility, write_config,
};

#[test]
fn active_learning_resumes_to_the_same_pairs_and_reruns_without_calls() {
    if !model_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // 6 items: 15 pairs, ceil(0.2 · 15) = 3 held out, a pool of 12; active
    // learning stops at ⌊0.5 · 6 · log2 6⌋ = 7 pairs (a degree-2 start of 6
    // pool pairs, then one round of 1); the random baseline asks 7 more at most.
    let cfg = write_config(
        tmp.path(),
        "al.toml",
        &format!(
            "[items]\nn_items = 6\n{}\n[pairs]\nstrategy = \"active\"\nheldout_fraction = 0.2\n\
             [pairs.active]\ndegree = 2\npairs_per_round = 3\nedge_multiplier = 0.5\n",
            fixture_files()
        ),
    );
    let run_a = tmp.path().join("a");
    let a = run_ok(
        &["run", "--config", &cfg, "--out", run_a.to_str().unwrap()],
        &tmp.path().join("cache_a"),
    );
    assert_eq!(a["n_pairs"]["train"], 7);
    assert_eq!(a["n_pairs"]["heldout"], 3);
    assert_eq!(a["n_pairs"]["random_baseline"], 7);
    let rounds = a["active_learning"].as_array().unwrap();
    assert_eq!(rounds[0]["pairs"], 6, "degree-2 start on 6 items");
    assert_eq!(rounds.last().unwrap()["pairs"], 7);
    let curve = a["learning_curve"]["active"].as_array().unwrap();
    assert_eq!(curve.len(), rounds.len(), "one point per round");
    let random = a["learning_curve"]["random"].as_array().unwrap();
    assert_eq!(
        random.iter().map(|p| &p["pairs"]).collect::<Vec<_>>(),
        curve.iter().map(|p| &p["pairs"]).collect::<Vec<_>>(),
        "random baseline measured at the same sizes"
    );
    // Every record once; its pair among the asked ones; each asked once per order.
    let (n, recs) = records(&run_a);
    assert_eq!(n, recs.len(), "no duplicate records");
    assert_eq!(a["n_comparisons"].as_u64().unwrap() as usize, n);
    let pairs: BTreeSet<(String, String)> = recs
        .values()
        .map(|r| {
            (
                r["a"].as_str().unwrap().to_string(),
                r["b"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(n, 2 * pairs.len(), "both orders of every pair");
    assert!(
        pairs.len() <= 7 + 7 + 3 && pairs.len() >= 7 + 3,
        "{}",
        pairs.len()
    );
    assert_eq!(
        a["model_calls"]["made"].as_u64().unwrap() as usize,
        n,
        "one call per comparison"
    );

    // Killed after the held-out pairs and part of active learning, then resumed.
    let run_b = tmp.path().join("b");
    let cache_b = tmp.path().join("cache_b");
    let mut child = utility(
        &["run", "--config", &cfg, "--out", run_b.to_str().unwrap()],
        &cache_b,
    )
    .spawn()
    .unwrap();
    kill_when(&mut child, &run_b.join("records/comparisons.jsonl"), 9);
    let b = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache_b);
    let (n_b, recs_b) = records(&run_b);
    assert_eq!(n_b, n, "no duplicate records after the resume");
    assert_eq!(recs_b, recs, "the same pairs chosen, the same answers");
    for key in [
        "utilities",
        "heldout",
        "learning_curve",
        "active_learning",
        "position_bias",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    let c = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache_b);
    assert_eq!(c["model_calls"]["made"], 0);
    assert_eq!(c["model_calls"]["cached"], 0);
    assert!(run_b.join("plots/learning_curve.png").is_file());
    let report = std::fs::read_to_string(run_b.join("report.md")).unwrap();
    assert!(report.contains("Learning curve"), "{report}");
}

#[test]
fn rate_mode_means_and_implied_preferences_follow_the_records() {
    if !model_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cfg = write_config(
        tmp.path(),
        "rate.toml",
        &format!(
            "[items]\nn_items = 5\n{}\n[elicitation]\nmode = \"rate\"\n",
            fixture_files()
        ),
    );
    let run = tmp.path().join("r");
    let r = run_ok(
        &["run", "--config", &cfg, "--out", run.to_str().unwrap()],
        &cache,
    );
    assert_eq!(r["n_ratings"], 5);
    assert_eq!(r["model_calls"]["made"], 5);
    let (n, recs) = records_in(&run, "ratings");
    assert_eq!((n, recs.len()), (5, 5));
    // Recompute each item's mean rating from its record: Σ (j + 1) · p_j.
    let mut dists = Vec::new();
    for rec in recs.values() {
        let p: Vec<f64> = rec["probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let mean: f64 = p.iter().enumerate().map(|(j, x)| (j + 1) as f64 * x).sum();
        let item = rec["item"].as_str().unwrap();
        let got = r["ratings"][item]["mean"].as_f64().unwrap();
        assert!((got - mean).abs() < 1e-12, "{item}: {got} vs {mean}");
        // The recorded rating is the most probable label.
        let argmax = (0..p.len()).max_by(|&i, &j| p[i].total_cmp(&p[j])).unwrap();
        assert_eq!(rec["rating"].as_u64().unwrap() as usize, argmax);
        dists.push((item.to_string(), p));
    }
    // The pair the ratings separate most: the fitted utilities order it the same way.
    // P(X > Y) + ½ P(X = Y) by enumerating every pair of ratings.
    let pg = |x: &[f64], y: &[f64]| -> f64 {
        let mut s = 0.0;
        for (i, xi) in x.iter().enumerate() {
            for (j, yj) in y.iter().enumerate() {
                let w = match i.cmp(&j) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                };
                s += xi * yj * w;
            }
        }
        s
    };
    let mut best = (0.5, String::new(), String::new());
    for (i, (a, pa)) in dists.iter().enumerate() {
        for (b, pb) in &dists[i + 1..] {
            let p = pg(pa, pb);
            if (p - 0.5).abs() > (best.0 - 0.5f64).abs() {
                best = (p, a.clone(), b.clone());
            }
        }
    }
    let mu = |id: &str| r["utilities"][id]["mu"].as_f64().unwrap();
    assert_eq!(
        best.0 > 0.5,
        mu(&best.1) > mu(&best.2),
        "P = {} for {} vs {}",
        best.0,
        best.1,
        best.2
    );
    assert_eq!(r["heldout"], Value::Null);
    assert!(run.join("plots/ratings.png").is_file());

    // Text answers: every answer kept, unparseable ones with `rating: null`, and counted.
    let run_t = tmp.path().join("t");
    let t = run_ok(
        &[
            "run",
            "--config",
            &cfg,
            "--answer",
            "text",
            "--out",
            run_t.to_str().unwrap(),
        ],
        &cache,
    );
    let (n_t, recs_t) = records_in(&run_t, "ratings");
    assert_eq!(n_t, 5);
    let nulls = recs_t.values().filter(|r| r["rating"].is_null()).count();
    assert_eq!(t["unparseable"]["count"].as_u64().unwrap() as usize, nulls);

    // Resumed: nothing asked again.
    let again = run_ok(&["run", "--resume", run.to_str().unwrap()], &cache);
    assert_eq!(again["model_calls"]["made"], 0);
    assert_eq!(again["ratings"], r["ratings"]);
}

#[test]
fn openai_backend_against_llama_cpp_server_gives_the_embedded_answers() {
    if !model_present() {
        return;
    }
    let Some(server) = pref_llm::openai::local_server::LocalServer::start_default_or_skip(2) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // An explicit system message: the server's Jinja template adds a default one
    // when there is none, llama.cpp's built-in ChatML (embedded) does not.
    let cfg = write_config(
        tmp.path(),
        "u.toml",
        &format!(
            "[items]\nn_items = 4\n{}\n[elicitation]\nsystem = \"You are a helpful assistant.\"\n\
             [pairs]\nheldout_fraction = 0.2\n",
            fixture_files()
        ),
    );
    let url = format!("{}/v1", server.url());
    for answer in ["logprobs", "text"] {
        let local = tmp.path().join(format!("local-{answer}"));
        let remote = tmp.path().join(format!("remote-{answer}"));
        let l = run_ok(
            &[
                "run",
                "--config",
                &cfg,
                "--answer",
                answer,
                "--out",
                local.to_str().unwrap(),
            ],
            &tmp.path().join("cache_l"),
        );
        let r = run_ok(
            &[
                "run",
                "--config",
                &cfg,
                "--answer",
                answer,
                "--base-url",
                &url,
                "--model",
                "smollm2",
                "--out",
                remote.to_str().unwrap(),
            ],
            &tmp.path().join("cache_r"),
        );
        assert!(
            r["model"].as_str().unwrap().contains(&url),
            "{}",
            r["model"]
        );
        assert_eq!(r["n_comparisons"], l["n_comparisons"]);
        assert_eq!(r["model_calls"]["made"], l["model_calls"]["made"]);
        let (_, lr) = records(&local);
        let (_, rr) = records(&remote);
        assert_eq!(lr.len(), rr.len());
        assert_eq!(
            lr.keys().collect::<Vec<_>>(),
            rr.keys().collect::<Vec<_>>(),
            "the same questions (record ids)"
        );
        let mut complete = 0;
        let mut max_diff: f64 = 0.0;
        for (id, v) in &lr {
            let w = &rr[id];
            if answer == "text" {
                // Greedy decoding on both: the answers start the same way (the
                // pref-llm server test finds ≥ 5 identical leading tokens; later
                // near-ties may resolve differently), so they parse the same.
                let (x, y) = (v["raw"].as_str().unwrap(), w["raw"].as_str().unwrap());
                let common = x.chars().zip(y.chars()).take_while(|(p, q)| p == q).count();
                assert!(
                    common >= x.len().min(y.len()).min(4),
                    "{id}: {x:?} vs {y:?}"
                );
                assert_eq!(v["choice"], w["choice"], "{id}: {x:?} vs {y:?}");
                complete += usize::from(x == y);
                continue;
            }
            // The server reports the top 20 alternatives only; a label outside
            // them gets OpenAI's -9999 marker. Where both labels are present the
            // log-probs agree to ~2e-4 nats (the server's float softmax; the
            // pref-llm server test measures the same): the test server decodes
            // every prompt alone and in one call (`LocalServer`), as the embedded
            // backend's blocks amount to. Where one is missing, it is the less
            // likely label on the embedded model too.
            let get = |x: &Value, f: &str| x[f].as_f64().unwrap();
            let missing = |f: &str| get(w, f) <= -9999.0;
            match (missing("logprob_a"), missing("logprob_b")) {
                (false, false) => {
                    complete += 1;
                    for f in ["logprob_a", "logprob_b"] {
                        let (x, y) = (get(v, f), get(w, f));
                        max_diff = max_diff.max((x - y).abs());
                        assert!((x - y).abs() < 2e-3, "{id} {f}: {x} vs {y}");
                    }
                    assert_eq!(v["choice"], w["choice"], "{id}");
                }
                (true, false) => assert!(get(v, "logprob_a") < get(v, "logprob_b"), "{id}"),
                (false, true) => assert!(get(v, "logprob_b") < get(v, "logprob_a"), "{id}"),
                (true, true) => {}
            }
        }
        eprintln!(
            "{answer}: {complete} of {} records agree exactly (log-probs: both labels in the top 20, max |Δ| {max_diff:.2e} nats; text: identical)",
            lr.len()
        );
    }
}
