//! The `probe` binary end to end on the embedded SmolLM2 and MiniLM: a small
//! run, one killed during the extraction and resumed (the same activations,
//! no duplicate row, the same results), a rerun without model calls; the
//! held-out R² recomputed from the Parquet activations through pref-probe
//! (itself checked against sklearn in crates/pref-probe/tests); the
//! self-report target recomputed from its records; bad settings named before
//! any model call.
//!
//! Skips when the models are missing, unless `PREF_REQUIRE_MODELS=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pref_data::Matrix;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_present() -> bool {
    pref_data::paths::embedded_models_present(&["default", "all-minilm-l6-v2"])
}

fn probe(args: &[&str], cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_probe"));
    c.args(args)
        .env("PREF_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run_ok(args: &[&str], cache: &Path) -> Value {
    let out = probe(args, cache).output().unwrap();
    assert!(
        out.status.success(),
        "probe {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run_err(args: &[&str], cache: &Path) -> String {
    let out = probe(args, cache).output().unwrap();
    assert!(!out.status.success(), "probe {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with('}'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// 10 tasks, 8-token completions, every pair in both orders (90 questions),
/// one layer at 50% depth, two positions, 3 tasks held out.
fn config(dir: &Path, extra: &str) -> String {
    let fx = root().join("fixtures/study");
    let text = format!(
        "[items]\nn_items = 10\nfiles = [{{ path = {:?}, source = \"alpaca\" }}, {{ path = {:?}, source = \"math\" }}]\n\
         [completion]\nmax_tokens = 8\n\
         [extraction]\ndepths = [0.5]\npositions = [\"last\", \"turn-boundary\"]\nflush_every = 2\n\
         [probe]\nbootstrap = 200\n{extra}",
        fx.join("alpaca.json"),
        fx.join("math.jsonl")
    );
    let p = dir.join("probe.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn bad_settings_are_named_before_any_model_call() {
    let tmp = tempfile::tempdir().unwrap();
    for (extra, want) in [
        (
            "[model]\nbackend = \"openai\"\nname = \"m\"\nbase_url = \"http://127.0.0.1:9\"\n",
            "model.backend must be `llama`",
        ),
        (
            "[self_report]\nscores = [1.0]\n",
            "self_report.scores: 1 scores for 3 options",
        ),
        (
            "[extraction]\ndepths = [2.0]\n",
            "extraction.depths must be in [0, 1]",
        ),
        (
            "[probe]\ntest_fraction = 0.9\n",
            "probe.test_fraction 0.9 of items.n_items 30",
        ),
        ("[extraction]\ndepht = [0.5]\n", "depht"),
    ] {
        let p = tmp.path().join("bad.toml");
        std::fs::write(&p, extra).unwrap();
        let err = run_err(
            &["run", "--config", p.to_str().unwrap(), "--dry-run"],
            tmp.path(),
        );
        assert!(err.contains(want), "{want} not in {err}");
    }
}

/// The activations of `layer` at `position`, rows in the order of `ids`.
fn activations(
    run: &Path,
    position: &str,
    layer: usize,
    width: usize,
    ids: &[String],
) -> Matrix<f32> {
    let store =
        pref_probe::ActivationStore::open(run.join("activations").join(position), &[layer], width)
            .unwrap();
    let (stored, m) = store.read_layer(layer).unwrap();
    assert_eq!(stored.len(), ids.len(), "one row per item, none twice");
    let mut data = Vec::new();
    for id in ids {
        let r = stored.iter().position(|s| s == id).unwrap();
        data.extend_from_slice(m.row(r));
    }
    Matrix::new(ids.len(), width, data).unwrap()
}

#[test]
fn a_small_run_resumes_after_a_kill_and_its_probes_are_recomputed() {
    if !models_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "");
    let cache = tmp.path().join("cache");

    // A layer the model does not have is named at the dry run.
    let bad = config(tmp.path(), "").replace(".toml", "-bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("depths = [0.5]", "depths = [0.5]\nlayers = [99]"),
    )
    .unwrap();
    let err = run_err(&["run", "--config", &bad, "--dry-run"], &cache);
    assert!(
        err.contains("extraction.layers: layer 99 does not exist"),
        "{err}"
    );

    let plan = run_ok(&["run", "--config", &cfg, "--dry-run"], &cache);
    let stages: Vec<(&str, u64)> = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["planned"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        stages,
        [
            ("completion", 10),
            ("self-report", 10),
            ("extract", 10),
            ("elicit", 90)
        ]
    );
    // SmolLM2-135M: 30 layers of 576; ⌊0.5 · 30⌋ = 15.
    assert_eq!(plan["details"]["layers"], serde_json::json!([15]));
    assert_eq!(plan["details"]["hidden_size"], 576);

    // A: uninterrupted.
    let run_a = tmp.path().join("a");
    let a = run_ok(
        &["run", "--config", &cfg, "--out", run_a.to_str().unwrap()],
        &cache,
    );
    assert_eq!(a["model_calls"]["made"], 10 + 10 + 90);
    for f in [
        "report.md",
        "index.html",
        "plots/r2_self-report.png",
        "plots/r2_utility.png",
        "plots/bt_accuracy.png",
        "plots/cosines.png",
    ] {
        assert!(run_a.join(f).is_file(), "{f}");
    }
    let ids: Vec<String> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    let test: Vec<bool> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["test"].as_bool().unwrap())
        .collect();
    // ceil(0.25 · 10) = 3 held out, chosen as pref-probe's seeded split.
    let split = pref_probe::Split::random(10, 0.25, 0).unwrap();
    assert_eq!(split.test.len(), 3);
    for (i, t) in test.iter().enumerate() {
        assert_eq!(*t, split.test.contains(&i));
    }

    // The self-report target: Σ p · score from each record (scores 1, 0, −1).
    let reports = lines(&run_a.join("records/self_reports.jsonl"));
    assert_eq!(reports.len(), 10);
    let mut y = Vec::new();
    for (id, item) in ids.iter().zip(a["items"].as_array().unwrap()) {
        let r = reports.iter().find(|r| &r["item"] == id).unwrap();
        let p: Vec<f64> = r["probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let expected = p[0] - p[2];
        assert!((item["self_report"].as_f64().unwrap() - expected).abs() < 1e-12);
        y.push(expected);
    }
    // Every extraction record: the turn boundary precedes the completion.
    for e in lines(&run_a.join("records/extraction.jsonl")) {
        let (n, p, ans) = (
            e["n_tokens"].as_u64().unwrap(),
            e["n_prompt_tokens"].as_u64().unwrap(),
            e["n_answer_tokens"].as_u64().unwrap(),
        );
        assert!(p + ans <= n && ans >= 1, "{e}");
    }

    // The self-report probe at L15 `last`, recomputed from the Parquet rows.
    let x = activations(&run_a, "last", 15, 576, &ids);
    let params = pref_probe::RidgeParams {
        standardize: true,
        ..Default::default()
    }
    .check()
    .unwrap();
    let st = pref_probe::probe_study(
        &params,
        &x,
        &Matrix::new(10, 1, y).unwrap(),
        &split,
        &pref_probe::Baselines {
            shuffle: None,
            random_seed: None,
        },
    )
    .unwrap();
    let site = a["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"]["name"] == "L15 last")
        .unwrap();
    let ridge = &site["ridge"][0];
    assert_eq!(ridge["target"], "self-report");
    assert_eq!(ridge["alpha"].as_f64().unwrap(), st.targets[0].best_alpha);
    assert!(
        (ridge["test_r2"]["value"].as_f64().unwrap() - st.targets[0].test_r2).abs() < 1e-9,
        "{ridge}"
    );
    // Four sites: two positions of one layer, and the text baseline; every
    // one with a ridge probe per target and a Bradley–Terry probe.
    let sites = a["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 3);
    assert_eq!(sites[2]["site"]["name"], "text (MiniLM)");
    assert_eq!(sites[2]["width"], 384);
    for s in sites {
        assert_eq!(s["ridge"].as_array().unwrap().len(), 2, "{s}");
        assert!(s["bt"]["test"]["log_loss"].is_f64(), "{s}");
    }
    // 45 pairs: 21 among the 7 training items, the other 24 touch a held-out one.
    assert_eq!(a["choices"]["n_train_pairs"], 21);
    assert_eq!(a["choices"]["n_heldout_pairs"], 24);
    assert_eq!(a["headlines"].as_array().unwrap().len(), 3);

    // B: the same plan with A's model cache, killed during the extraction.
    let run_b = tmp.path().join("b");
    let mut child = probe(
        &["run", "--config", &cfg, "--out", run_b.to_str().unwrap()],
        &cache,
    )
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let started = Instant::now();
    while lines(&run_b.join("records/extraction.jsonl")).len() < 4 {
        assert!(started.elapsed() < Duration::from_secs(300), "no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let st = run_ok(&["status", run_b.to_str().unwrap()], &cache);
    assert_eq!(st["finished"], false);
    let extract = st["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "extract")
        .unwrap();
    let done = extract["recorded"].as_u64().unwrap();
    assert!((4..10).contains(&done), "{extract}");
    let b = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache);
    assert_eq!(b["model_calls"]["made"], 0, "every answer is in the cache");
    assert_eq!(lines(&run_b.join("records/extraction.jsonl")).len(), 10);
    for position in ["last", "turn-boundary"] {
        let xa = activations(&run_a, position, 15, 576, &ids);
        let xb = activations(&run_b, position, 15, 576, &ids);
        assert_eq!(xa.data, xb.data, "{position}: the same activations");
    }
    for key in [
        "items",
        "sites",
        "headlines",
        "cosines",
        "choices",
        "self_report",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    // A rerun of the finished run asks nothing and extracts nothing.
    let c = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache);
    assert_eq!(c["model_calls"]["made"], 0);
    assert_eq!(c["extraction"]["conversations"], 0);
    assert_eq!(c["sites"], a["sites"]);
}
