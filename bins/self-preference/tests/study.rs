//! The `self-preference` binary end to end: `analyze` on the real LLM-judge
//! battles (numbers checked against counts computed independently in Python),
//! a live run on the embedded SmolLM2 and Gemma killed with SIGKILL and resumed
//! to the same records and results, a rerun with no model call, and the same
//! design through the OpenAI-compatible backend against llama.cpp's server.
//!
//! Model tests skip when the models are missing and shared-data tests when
//! `../shared` is, unless `PREF_REQUIRE_MODELS=1` / `PREF_REQUIRE_SHARED=1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sp(args: &[&str], cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_self-preference"));
    c.args(args)
        .env("PREF_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run_ok(args: &[&str], cache: &Path) -> Value {
    let out = sp(args, cache).output().unwrap();
    assert!(
        out.status.success(),
        "self-preference {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Records of a run's log by id, and the number of lines.
fn records(run: &Path, name: &str) -> (usize, BTreeMap<String, Value>) {
    let text = std::fs::read_to_string(run.join("records").join(format!("{name}.jsonl")))
        .unwrap_or_default();
    let mut by_id = BTreeMap::new();
    let mut n = 0;
    for l in text.lines().filter(|l| l.ends_with('}')) {
        n += 1;
        let v: Value = serde_json::from_str(l).unwrap();
        by_id.insert(v["id"].as_str().unwrap().to_string(), v);
    }
    (n, by_id)
}

#[test]
fn analyze_matches_independent_counts_on_the_real_judge_battles() {
    let Some(shared) = pref_data::paths::shared_data_dir() else {
        return;
    };
    let file = shared.join("arena_battles/cnn_selfpref_llm_judge_battles.jsonl");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("analysis");
    let v = run_ok(
        &[
            "analyze",
            file.to_str().unwrap(),
            "--bootstrap",
            "200",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    // Python, independently of this code base:
    //   rows = [json.loads(l) for l in open(file)]
    //   for judge in ['gpt4', 'llama']:
    //     mine = [r for r in rows if r['judge'] == judge]
    //     own = [r for r in mine if judge in (r['model_a'], r['model_b'])]
    //     won = lambda r: r['model_a'] if r['winner'] == 'model_a' else r['model_b']
    //     sp = sum(won(r) == judge for r in own) / len(own)
    //     prob = mean(r['choice_prob'] if won(r) == judge else 1 - r['choice_prob'] for r in own)
    //     first = sum(r['winner'] == 'model_a' for r in mine) / len(mine)
    //     cells[(qid, frozenset(pair))][r['model_a']] = won(r); flip = share of 2-order cells with 2 winners
    //     vs[o] = share of own decisions against o won by judge
    // gpt4  4000 4000 0.9235 0.9136382934633783 0.4895 0.09  2000 {claude .855, gpt35 .963, human .994, llama .882}
    // llama 4000 4000 0.4995 0.5055883567482233 0.9995 0.999 2000 {claude .5, gpt35 .499, gpt4 .499, human .5}
    let close = |x: &Value, want: f64| {
        let got = x.as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    };
    let g = &v["judges"]["gpt4"];
    assert_eq!(g["n_decisions"], 4000);
    assert_eq!(g["n_own"], 4000);
    close(&g["self_preference"]["estimate"], 0.9235);
    close(&g["self_preference_prob"]["estimate"], 0.9136382934633783);
    close(&g["first_option_rate"]["estimate"], 0.4895);
    close(&g["order_flip_rate"], 0.09);
    for (o, w) in [
        ("claude", 0.855),
        ("gpt35", 0.963),
        ("human", 0.994),
        ("llama", 0.882),
    ] {
        close(&g["win_rate_vs"][o], w);
    }
    let l = &v["judges"]["llama"];
    close(&l["self_preference"]["estimate"], 0.4995);
    close(&l["self_preference_prob"]["estimate"], 0.5055883567482233);
    close(&l["first_option_rate"]["estimate"], 0.9995);
    close(&l["order_flip_rate"], 0.999);
    // Every interval holds its estimate.
    for (j, s) in v["judges"].as_object().unwrap() {
        for k in [
            "self_preference",
            "self_preference_prob",
            "first_option_rate",
        ] {
            let e = &s[k];
            let (lo, x, hi) = (
                e["ci_lower"].as_f64().unwrap(),
                e["estimate"].as_f64().unwrap(),
                e["ci_upper"].as_f64().unwrap(),
            );
            assert!(lo <= x && x <= hi, "{j} {k}: {lo} {x} {hi}");
        }
    }
    // The heatmap's diagonal is the self-preference.
    let hm = &v["heatmaps"];
    let judges: Vec<&str> = hm["judges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let authors: Vec<&str> = hm["authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let (r, c) = (
        judges.iter().position(|&j| j == "gpt4").unwrap(),
        authors.iter().position(|&a| a == "gpt4").unwrap(),
    );
    close(&hm["preference"][r][c], 0.9235);
    for f in [
        "results.json",
        "report.md",
        "index.html",
        "plots/heatmap_preference.png",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

#[test]
fn analyze_with_an_arena_leaderboard_lists_unmatched_models() {
    let tmp = tempfile::tempdir().unwrap();
    // Four authors judged by two of them; "w" never appears in the leaderboard.
    let mut lines = String::new();
    let pairs = [("x", "y"), ("x", "z"), ("y", "z"), ("x", "w"), ("y", "w")];
    for q in 0..6 {
        for judge in ["x", "y"] {
            for (k, (a, b)) in pairs.iter().enumerate() {
                for (first, second) in [(a, b), (b, a)] {
                    // The earlier author in the alphabet wins, except every third question.
                    let a_wins = (first < second) != ((q + k) % 3 == 0);
                    let winner = if a_wins { "model_a" } else { "model_b" };
                    lines.push_str(&format!(
                        "{{\"question_id\": \"q{q}\", \"model_a\": \"{first}\", \"model_b\": \"{second}\", \"winner\": \"{winner}\", \"judge\": \"{judge}\"}}\n"
                    ));
                }
            }
        }
    }
    let file = tmp.path().join("j.jsonl");
    std::fs::write(&file, lines).unwrap();
    // A project-written leaderboard in Chatbot Arena's `index,Model,Elo rating` CSV form.
    let lb = root().join("fixtures/leaderboards/overall_raw_ranking.csv");
    let text = std::fs::read_to_string(&lb).unwrap();
    // Map our authors onto the first three models of the fixture leaderboard.
    let models: Vec<String> = text
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split(',').nth(1).unwrap().trim().to_string())
        .collect();
    let v = run_ok(
        &[
            "analyze",
            file.to_str().unwrap(),
            "--bootstrap",
            "50",
            "--ground-truth",
            lb.to_str().unwrap(),
            "--name",
            &format!("x={}", models[0]),
            "--name",
            &format!("y={}", models[1]),
            "--name",
            &format!("z={}", models[2]),
        ],
        tmp.path(),
    );
    let c = &v["ground_truth"]["comparison"];
    assert_eq!(c["n_matched"], 3);
    assert_eq!(c["missing_from_reference"], serde_json::json!(["w"]));
    // Bad input: a broken line is named by file and line.
    std::fs::write(&file, "{\"question_id\": \"q\", \"model_a\": \"x\"}\n").unwrap();
    let out = sp(&["analyze", file.to_str().unwrap()], tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("j.jsonl:1") && err.contains("model_b"),
        "{err}"
    );
}

fn config(dir: &Path, extra: &str) -> String {
    let text = format!(
        "[tasks]\nfile = {:?}\nn = 2\nmax_chars = 400\n\
         [generation]\nmax_tokens = 32\n\
         [[authors]]\nname = \"smollm2\"\nmodel = {{ name = \"default\" }}\n\
         [[authors]]\nname = \"gemma\"\nmodel = {{ name = \"gemma-3-270m\", chat_template = \"gemma\" }}\n\
         [[authors]]\nname = \"smollm2-brief\"\nmodel = {{ name = \"default\" }}\nsystem = \"You write very brief summaries.\"\n\
         [[authors]]\nname = \"reference\"\nrecorded = \"highlights\"\n{extra}",
        root().join("fixtures/study/cnn_dailymail.jsonl")
    );
    let p = dir.join("sp.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn killed_run_resumes_to_the_same_records_and_results() {
    if !pref_data::paths::embedded_models_present(&["default", "gemma-3-270m"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        tmp.path(),
        "[judging]\nrecognition = true\n[analysis]\nbootstrap = 100\n",
    );
    // 2 tasks, 4 authors (3 judges): each judge 3 own pairs × 2 orders × 2 questions.
    let plan = run_ok(&["run", "--config", &cfg, "--dry-run"], tmp.path());
    assert_eq!(plan["stages"][1]["planned"], 3 * 12 * 2);
    // 4 authors × 2 tasks, of which the reference's 2 are copied from the file.
    assert_eq!(plan["stages"][0]["planned"], 4 * 2);
    assert_eq!(plan["stages"][0]["calls_needed"], 3 * 2);
    assert_eq!(plan["expected_model_calls"], 3 * 2 + 3 * 12 * 2);

    let run_a = tmp.path().join("a");
    let a = run_ok(
        &["run", "--config", &cfg, "--out", run_a.to_str().unwrap()],
        &tmp.path().join("cache_a"),
    );
    assert_eq!(a["n_judgments"], 72);
    assert_eq!(a["model_calls"]["made"], 72 + 6);
    let (n, recs_a) = records(&run_a, "judgments");
    assert_eq!((n, recs_a.len()), (72, 72));
    for j in ["smollm2", "gemma", "smollm2-brief"] {
        let s = &a["judges"][j];
        assert_eq!(
            s["n_decisions"].as_u64().unwrap()
                + s["unparseable"]["preference"].as_u64().unwrap_or(0),
            12,
            "{j}"
        );
        assert!(s["first_option_rate"]["estimate"].is_f64());
    }
    // The variant's outputs are its own: same weights, another system prompt.
    let (_, outs) = records(&run_a, "outputs");
    let text = |who: &str| -> Vec<String> {
        outs.values()
            .filter(|o| o["author"] == who)
            .map(|o| o["text"].as_str().unwrap().to_string())
            .collect()
    };
    assert_ne!(text("smollm2"), text("smollm2-brief"));
    assert_eq!(text("reference").len(), 2);

    // Killed mid-judging, resumed.
    let run_b = tmp.path().join("b");
    let cache_b = tmp.path().join("cache_b");
    let mut child = sp(
        &["run", "--config", &cfg, "--out", run_b.to_str().unwrap()],
        &cache_b,
    )
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let log = run_b.join("records/judgments.jsonl");
    let started = Instant::now();
    while records(&run_b, "judgments").0 < 10 {
        assert!(started.elapsed() < Duration::from_secs(900), "no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(log.is_file() && !run_b.join("results.json").exists());
    let st = run_ok(&["status", run_b.to_str().unwrap()], &cache_b);
    assert_eq!(st["finished"], false);
    let b = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache_b);
    let (n_b, recs_b) = records(&run_b, "judgments");
    assert_eq!(n_b, 72, "no duplicate records");
    assert_eq!(recs_a, recs_b, "same judgments");
    for key in ["judges", "heatmaps", "ratings", "self_bias", "unparseable"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    let made = b["model_calls"]["made"].as_u64().unwrap();
    assert!(
        made < 72 + 6,
        "the resume asked only what was missing ({made})"
    );
    // A rerun of the finished run asks nothing.
    let c = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache_b);
    assert_eq!(c["model_calls"]["made"], 0);
    assert_eq!(c["model_calls"]["cached"], 0);
    for f in [
        "report.md",
        "index.html",
        "plots/heatmap_preference.png",
        "plots/heatmap_recognition.png",
    ] {
        assert!(run_b.join(f).is_file(), "{f}");
    }

    // Two runs merge into one analysis (the same questions count once).
    let merged = tmp.path().join("merged");
    let m = run_ok(
        &[
            "merge",
            run_a.to_str().unwrap(),
            run_b.to_str().unwrap(),
            "--out",
            merged.to_str().unwrap(),
        ],
        &cache_b,
    );
    assert_eq!(m["n_judgments"], 72);
    assert_eq!(m["judges"], a["judges"]);
    assert!(merged.join("report.md").is_file());
}

#[test]
fn bad_configuration_names_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        tmp.path(),
        "[[authors]]\nname = \"gemma\"\nrecorded = \"highlights\"\n",
    );
    let out = sp(&["run", "--config", &cfg, "--dry-run"], tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("used twice"), "{err}");
    // A recorded field the task file lacks is an error before any model call.
    let cfg = config(tmp.path(), "");
    let bad = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("recorded = \"highlights\"", "recorded = \"summary_gpt4\"");
    std::fs::write(&cfg, bad).unwrap();
    let dir = tmp.path().join("r");
    let out = sp(
        &["run", "--config", &cfg, "--out", dir.to_str().unwrap()],
        tmp.path(),
    )
    .output()
    .unwrap();
    if pref_data::paths::embedded_models_present(&["default", "gemma-3-270m"]) {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("summary_gpt4") && err.contains("cnn_dailymail.jsonl"),
            "{err}"
        );
        assert!(!dir.exists());
        // Outputs of up to 2,100 tokens fit the writers' context of 4,096, but a
        // judgment shows two of them: refused before any model call, naming the
        // judge's setting (the per-call check used to fail it after the writing).
        let cfg = config(tmp.path(), "");
        let long = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("max_tokens = 32", "max_tokens = 2100");
        std::fs::write(&cfg, long).unwrap();
        let out = sp(
            &["run", "--config", &cfg, "--out", dir.to_str().unwrap()],
            tmp.path(),
        )
        .output()
        .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("authors[0].model: the prompt of judgment")
                && err.contains("4096 tokens")
                && err.contains("authors[0].model.n_ctx"),
            "{err}"
        );
        assert!(!dir.exists());
    }
}

#[test]
fn the_same_design_runs_against_llama_cpp_server() {
    if !pref_data::paths::embedded_models_present(&["default"]) {
        return;
    }
    let Some(server) = pref_llm::openai::local_server::LocalServer::start_default_or_skip(2) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // The server serves SmolLM2 only: the two SmolLM2 authors and the reference.
    // Explicit system prompts, since the server's Jinja template adds a default one.
    let text = format!(
        "[tasks]\nfile = {:?}\nn = 2\nmax_chars = 400\n[generation]\nmax_tokens = 32\n\
         [judging]\nrecognition = false\n[analysis]\nbootstrap = 50\n\
         [[authors]]\nname = \"smollm2\"\nmodel = {{ name = \"default\" }}\nsystem = \"You are a helpful assistant.\"\n\
         [[authors]]\nname = \"smollm2-brief\"\nmodel = {{ name = \"default\" }}\nsystem = \"You write very brief summaries.\"\n\
         [[authors]]\nname = \"reference\"\nrecorded = \"highlights\"\n",
        root().join("fixtures/study/cnn_dailymail.jsonl")
    );
    let cfg = tmp.path().join("s.toml");
    std::fs::write(&cfg, text).unwrap();
    let cfg = cfg.to_str().unwrap();
    let local = tmp.path().join("local");
    let remote = tmp.path().join("remote");
    let l = run_ok(
        &["run", "--config", cfg, "--out", local.to_str().unwrap()],
        &tmp.path().join("c1"),
    );
    let url = format!("{}/v1", server.url());
    let r = run_ok(
        &[
            "run",
            "--config",
            cfg,
            "--base-url",
            &url,
            "--out",
            remote.to_str().unwrap(),
        ],
        &tmp.path().join("c2"),
    );
    // 2 judges × 2 tasks × 2 own pairs × 2 orders.
    assert_eq!(l["n_judgments"], 16);
    assert_eq!(r["n_judgments"], 16);
    assert!(r["models"]["smollm2"].as_str().unwrap().contains(&url));
    let (_, lo) = records(&local, "outputs");
    let (_, ro) = records(&remote, "outputs");
    assert_eq!(lo.len(), ro.len());
    // Greedy outputs start the same way on both backends (near-ties later on may
    // resolve differently: the pref-llm server test finds ≥ 5 identical tokens).
    for (id, o) in &lo {
        let (x, y) = (
            o["text"].as_str().unwrap(),
            ro[id]["text"].as_str().unwrap(),
        );
        let common = x.chars().zip(y.chars()).take_while(|(p, q)| p == q).count();
        assert!(
            common >= 10.min(x.len()).min(y.len()),
            "{id}: {x:?} vs {y:?}"
        );
    }
    let (_, lj) = records(&local, "judgments");
    let (_, rj) = records(&remote, "judgments");
    assert_eq!(
        lj.keys().collect::<Vec<_>>(),
        rj.keys().collect::<Vec<_>>(),
        "the same questions"
    );
}
