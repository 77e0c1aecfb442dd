//! The `robustness` binary end to end on the embedded SmolLM2: a small design
//! run, killed and resumed, rerun without model calls; its regression checked
//! against `pref robustness` on the same utilities (itself checked against
//! numpy in bins/pref/tests/robustness_cli.rs) and its cycle counts against a
//! recount from the records; bad configurations named before any model call.
//!
//! Skips when the model is missing, unless `PREF_REQUIRE_MODELS=1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_present() -> bool {
    pref_data::paths::embedded_models_present(&["default"])
}

fn robustness(args: &[&str], cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_robustness"));
    c.args(args)
        .env("PREF_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run_ok(args: &[&str], cache: &Path) -> Value {
    let out = robustness(args, cache).output().unwrap();
    assert!(
        out.status.success(),
        "robustness {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run_err(args: &[&str], cache: &Path) -> String {
    let out = robustness(args, cache).output().unwrap();
    assert!(!out.status.success(), "robustness {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn records(run: &Path) -> (usize, BTreeMap<String, Value>) {
    let text = std::fs::read_to_string(run.join("records/comparisons.jsonl")).unwrap_or_default();
    let mut by_id = BTreeMap::new();
    let mut n = 0;
    for l in text.lines().filter(|l| l.ends_with('}')) {
        n += 1;
        let v: Value = serde_json::from_str(l).unwrap();
        by_id.insert(v["id"].as_str().unwrap().to_string(), v);
    }
    (n, by_id)
}

/// 5 items (10 pairs), the factorial of order × language: 6 configurations,
/// 60 questions with one-token answers.
fn config(dir: &Path, extra: &str) -> String {
    let fx = root().join("fixtures/study");
    let text = format!(
        "[items]\nn_items = 5\nfiles = [{{ path = {:?}, source = \"alpaca\" }}, {{ path = {:?}, source = \"math\" }}]\n\
         [design]\nsampling = \"factorial\"\nvary = [\"order\", \"language\"]\n\
         [analysis]\nmin_shared = 5\nbootstrap = 200\n[positivity]\nenabled = false\n{extra}",
        fx.join("alpaca.json"),
        fx.join("math.jsonl")
    );
    let p = dir.join("robustness.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn bad_designs_are_named_before_any_model_call() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path();
    for (extra, want) in [
        (
            "[design]\nvary = [\"colour\"]\n",
            "design.vary: unknown factor `colour`",
        ),
        (
            "[design]\nvary = [\"order\"]\nfixed = { language = \"de\" }\n",
            "design.fixed.language: unknown level `de`",
        ),
        (
            "[design]\nvary = [\"order\"]\nfixed = { order = \"reversed\" }\n",
            "design.fixed.order: `order` is also in design.vary",
        ),
        (
            "[design]\nn_configs = 3\n",
            "3 configurations give 3 pairs, too few for 12 coefficients",
        ),
        (
            "[design]\nsampling = \"factorial\"\n",
            "configurations; between 2 and 1000",
        ),
        (
            "[analysis]\nbootstrap = 5\n",
            "analysis.bootstrap must be in 100..=100000",
        ),
        (
            "[elicitation]\norders = \"reversed\"\n",
            "elicitation.orders is set by the `order` factor",
        ),
        (
            "[elicitation]\nmode = \"rate\"\n",
            "elicitation.mode must be `choose`",
        ),
    ] {
        let p = tmp.path().join("bad.toml");
        std::fs::write(&p, extra).unwrap();
        let args = ["run", "--config", p.to_str().unwrap(), "--dry-run"];
        let err = run_err(&args, cache);
        assert!(err.contains(want), "{want} not in {err}");
    }
}

#[test]
fn small_design_runs_resumes_and_agrees_with_pref_robustness() {
    if !model_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "");
    let plan = run_ok(&["run", "--config", &cfg, "--dry-run"], tmp.path());
    // One stage per configuration, 10 questions each, then nothing else.
    let stages = plan["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 6);
    assert_eq!(stages[0]["stage"], "elicit c00");
    assert!(stages.iter().all(|s| s["planned"] == 10));
    assert_eq!(plan["expected_model_calls"], 60);
    assert_eq!(plan["details"]["configs"].as_array().unwrap().len(), 6);

    // A: uninterrupted.
    let run_a = tmp.path().join("a");
    let a = run_ok(
        &["run", "--config", &cfg, "--out", run_a.to_str().unwrap()],
        &tmp.path().join("ca"),
    );
    let (n, recs_a) = records(&run_a);
    assert_eq!((n, recs_a.len()), (60, 60));
    assert_eq!(a["configs"].as_array().unwrap().len(), 6);
    // Every prompt differs (order or language): 60 calls.
    assert_eq!(a["model_calls"]["made"], 60);
    for f in [
        "report.md",
        "index.html",
        "plots/coefficients.png",
        "plots/correlations.png",
        "plots/cycles.png",
    ] {
        assert!(run_a.join(f).is_file(), "{f}");
    }
    let g = &a["regression"];
    assert_eq!(g["n_pairs"], 15);
    let constant: Vec<&str> = g["constant"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        constant.len(),
        9,
        "every factor not varied is constant: {constant:?}"
    );
    assert!(g["coefficients"]["order"]["estimate"].is_f64());

    // The same regression refitted from the reported utilities and levels.
    let runs: Vec<pref_utility::UtilityRun> = a["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| pref_utility::UtilityRun {
            name: c["name"].as_str().unwrap().into(),
            utilities: serde_json::from_value(c["utilities"].clone()).unwrap(),
            factors: serde_json::from_value(c["levels"].clone()).unwrap(),
        })
        .collect();
    let fr = pref_utility::factor_regression(&runs, pref_utility::CorrelationMethod::Pearson, 5)
        .unwrap();
    assert_eq!(g["r2"].as_f64().unwrap(), fr.fit.r2);
    assert_eq!(g["intercept"]["estimate"].as_f64().unwrap(), fr.fit.coef[0]);
    assert_eq!(fr.fit.names, ["const", "language", "order"]);

    // Hard cycles of one configuration recounted from its records.
    let c0 = &a["configs"][0];
    let template = c0["template"].as_str().unwrap();
    let mut p_first: BTreeMap<(String, String), f64> = BTreeMap::new();
    // The template's text does not hold the order: records of the other order
    // share its name and belong to another configuration.
    let order = if c0["levels"]["order"] == "canonical" {
        "ab"
    } else {
        "ba"
    };
    for r in recs_a
        .values()
        .filter(|r| r["template"] == template && r["order"] == order)
    {
        let (la, lb) = (
            r["logprob_a"].as_f64().unwrap(),
            r["logprob_b"].as_f64().unwrap(),
        );
        let pa = 1.0 / (1.0 + (lb - la).exp());
        p_first.insert(
            (
                r["a"].as_str().unwrap().into(),
                r["b"].as_str().unwrap().into(),
            ),
            pa,
        );
    }
    let items: Vec<String> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    let p = |x: &String, y: &String| match p_first.get(&(x.clone(), y.clone())) {
        Some(&v) => v,
        None => 1.0 - p_first[&(y.clone(), x.clone())],
    };
    let (mut triads, mut cycles) = (0, 0);
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            for k in j + 1..items.len() {
                let (a1, b1, c1) = (
                    p(&items[i], &items[j]),
                    p(&items[j], &items[k]),
                    p(&items[k], &items[i]),
                );
                triads += 1;
                if ![a1, b1, c1].contains(&0.5)
                    && (a1 > 0.5) == (b1 > 0.5)
                    && (b1 > 0.5) == (c1 > 0.5)
                {
                    cycles += 1;
                }
            }
        }
    }
    assert_eq!(c0["n_triads"], triads);
    assert_eq!(
        c0["hard_cycle_rate"][0].as_f64().unwrap(),
        cycles as f64 / triads as f64
    );

    // B: killed after 20 records, resumed: the same records and results.
    let run_b = tmp.path().join("b");
    let cache_b = tmp.path().join("cb");
    let mut child = robustness(
        &["run", "--config", &cfg, "--out", run_b.to_str().unwrap()],
        &cache_b,
    )
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let started = Instant::now();
    while records(&run_b).0 < 20 {
        assert!(started.elapsed() < Duration::from_secs(600), "no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let st = run_ok(&["status", run_b.to_str().unwrap()], &cache_b);
    assert_eq!(st["finished"], false);
    // Per configuration, in the order they run: the first two complete.
    let recorded: Vec<u64> = st["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["recorded"].as_u64().unwrap())
        .collect();
    assert_eq!(recorded.iter().sum::<u64>(), records(&run_b).0 as u64);
    assert_eq!(recorded[..2], [10, 10], "{recorded:?}");
    let b = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache_b);
    let (n_b, recs_b) = records(&run_b);
    assert_eq!(n_b, 60, "no duplicate records");
    assert_eq!(recs_a, recs_b);
    assert!(b["model_calls"]["made"].as_u64().unwrap() < 60);
    for key in ["configs", "regression", "correlations", "items"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    // A rerun of the finished run asks nothing.
    let c = run_ok(&["run", "--resume", run_b.to_str().unwrap()], &cache_b);
    assert_eq!(
        (
            c["model_calls"]["made"].as_u64(),
            c["model_calls"]["cached"].as_u64()
        ),
        (Some(0), Some(0))
    );
}

#[test]
fn every_response_format_is_read_on_the_embedded_model() {
    if !model_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fx = root().join("fixtures/study");
    let text = format!(
        "[items]\nn_items = 3\nfiles = [{{ path = {:?}, source = \"alpaca\" }}]\n\
         [design]\nsampling = \"factorial\"\nvary = [\"response_format\"]\n\
         [analysis]\nmin_shared = 3\nbootstrap = 100\n\
         [positivity]\nn_items = 2\nmax_tokens = 24\ntemplates = {:?}\n",
        fx.join("alpaca.json"),
        tmp.path().join("positivity.toml")
    );
    std::fs::write(
        tmp.path().join("positivity.toml"),
        "response_instruction = \"Respond with only '{0}', '{1}', or '{2}'.\"\n\
         [[framings]]\nname = \"plain\"\ntemplate = \"Did you enjoy that task? Rate it as {options}.\"\n\
         [[option_sets]]\nname = \"gnb\"\noptions = [\"good\", \"neutral\", \"bad\"]\n\
         [[option_sets]]\nname = \"ysn\"\noptions = [\"yes\", \"somewhat\", \"no\"]\n",
    )
    .unwrap();
    // Completions too long for the context are refused before any call: the
    // self-report holds the completion (4,090 tokens of room) and the answer.
    let long = tmp.path().join("long.toml");
    std::fs::write(&long, text.replace("max_tokens = 24", "max_tokens = 4090")).unwrap();
    let err = run_err(
        &["run", "--config", long.to_str().unwrap(), "--dry-run"],
        tmp.path(),
    );
    assert!(
        err.contains("the positivity self-report `plain` × `")
            && err.contains("beyond the model's context of 4096 tokens"),
        "{err}"
    );
    let cfg = tmp.path().join("f.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = tmp.path().join("run");
    let r = run_ok(
        &[
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let (_, recs) = records(&out);
    assert_eq!(recs.len(), 9);
    for rec in recs.values() {
        // Log-prob answers: always a choice, the options as the format writes them.
        assert!(rec["choice"].is_string(), "{rec}");
        let raw = rec["raw"].as_str().unwrap();
        assert!(
            raw.starts_with("Task A:")
                || raw.starts_with("<choice>Task A:")
                || raw.starts_with("{\"name\""),
            "{raw}"
        );
    }
    assert_eq!(r["configs"].as_array().unwrap().len(), 3);
    // The positivity check: 2 tasks completed, each rated under 1 framing × 2
    // option sets, from the options' probabilities and from a written answer.
    let p = &r["positivity"];
    assert_eq!(p["n_items"], 2);
    let cells = p["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    for c in cells {
        assert_eq!(c["n"], 2);
        let s = &c["logprobs"];
        let total = s["positive"].as_f64().unwrap()
            + s["neutral"].as_f64().unwrap()
            + s["negative"].as_f64().unwrap();
        assert!((total - 1.0).abs() < 1e-9, "{c}");
    }
    let text = std::fs::read_to_string(out.join("records/self_reports.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert!(out.join("plots/positivity_score.png").is_file());
    // A rerun asks nothing: every stage, the positivity check's included.
    let again = run_ok(&["run", "--resume", out.to_str().unwrap()], tmp.path());
    assert_eq!(again["model_calls"]["made"], 0);
    assert_eq!(again["positivity"], r["positivity"]);
}

/// On an OpenAI-compatible endpoint with text answers, the `tool` format goes
/// through the endpoint's tools API: llama.cpp's own server, with a chat
/// template that renders tools (crates/pref-llm/tests/data/chatml_tools.jinja).
/// The run completes with every answer recorded (SmolLM2 writes text, which
/// the strict parsers mostly cannot read: kept and counted), and the `tool`
/// configuration's template is the tools-API one, not the one that writes the
/// schema into the prompt (the embedded model's plan of the same design).
#[test]
fn the_tool_format_goes_through_an_endpoints_tools_api() {
    if !model_present() {
        return;
    }
    let template = root().join("crates/pref-llm/tests/data/chatml_tools.jinja");
    let Some(server) =
        pref_llm::openai::local_server::LocalServer::start_default_with_template_or_skip(
            2,
            Some(&template),
        )
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let fx = root().join("fixtures/study");
    std::fs::write(
        tmp.path().join("e.toml"),
        format!(
            "[items]\nn_items = 3\nfiles = [{{ path = {:?}, source = \"alpaca\" }}]\n\
             [design]\nsampling = \"factorial\"\nvary = [\"response_format\"]\n\
             [analysis]\nmin_shared = 3\nbootstrap = 100\n[positivity]\nenabled = false\n",
            fx.join("alpaca.json")
        ),
    )
    .unwrap();
    let cfg = tmp.path().join("e.toml");
    let cfg = cfg.to_str().unwrap();
    let url = format!("{}/v1", server.url());
    let out = tmp.path().join("run");
    let r = run_ok(
        &[
            "run",
            "--config",
            cfg,
            "--answer",
            "text",
            "--backend",
            "openai",
            "--model",
            "smollm2",
            "--base-url",
            &url,
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let (n, recs) = records(&out);
    assert_eq!((n, recs.len()), (9, 9), "3 pairs × 3 formats, each once");
    let configs = r["configs"].as_array().unwrap();
    let tool = configs
        .iter()
        .find(|c| c["levels"]["response_format"] == "tool")
        .unwrap();
    assert_eq!(tool["n_comparisons"], 3);
    let unparseable: u64 = configs
        .iter()
        .map(|c| c["unparseable"].as_u64().unwrap())
        .sum();
    let null_choices = recs.values().filter(|v| v["choice"].is_null()).count() as u64;
    assert_eq!(
        unparseable, null_choices,
        "every unparseable answer is kept and counted"
    );

    let plan = run_ok(
        &["run", "--config", cfg, "--answer", "text", "--dry-run"],
        tmp.path(),
    );
    let embedded_tool = plan["details"]["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["levels"]["response_format"] == "tool")
        .unwrap();
    assert_ne!(embedded_tool["template"], tool["template"]);
    let plain = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|c| c["levels"]["response_format"] == "plain")
            .unwrap()["template"]
            .clone()
    };
    assert_eq!(plain(&plan["details"]["configs"]), plain(&r["configs"]));
}
