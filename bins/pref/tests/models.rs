//! `pref models | generate | score | choice` on the embedded default model.

use std::process::Command;

use serde_json::Value;

fn pref(args: &[&str], cache: &std::path::Path) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pref"))
        .args(args)
        .env("PREF_CACHE_DIR", cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (
        out.status.success(),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn models_lists_the_three_embedded_models() {
    let cache = tempfile::tempdir().unwrap();
    let (ok, v, err) = pref(&["models"], cache.path());
    assert!(ok, "{err}");
    let names: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "gemma-3-270m", "all-minilm-l6-v2"]);
    assert_eq!(
        v["models"][0]["files"][0]["installed"], true,
        "run `cargo xtask setup`"
    );
    assert_eq!(v["models"][0]["files"][0]["size_bytes"], 98362432);
}

#[test]
fn score_is_identical_on_every_run_with_and_without_cache() {
    let cache = tempfile::tempdir().unwrap();
    let args = [
        "score",
        "--prompt",
        "Summarise: the cat sat on the mat.",
        "--continuation",
        "A cat sat on a mat.",
    ];
    let (ok, a, err) = pref(&args, cache.path());
    assert!(ok, "{err}");
    let (_, b, _) = pref(&args, cache.path()); // from the cache
    let mut no_cache = args.to_vec();
    no_cache.push("--no-cache");
    let (_, c, _) = pref(&no_cache, cache.path()); // recomputed in a new process
    assert_eq!(a, b);
    assert_eq!(a, c);
    let lps: Vec<f64> = a["token_logprobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!((lps.iter().sum::<f64>() - a["sum_logprob"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(lps.len(), a["tokens"].as_array().unwrap().len());
}

#[test]
fn generate_and_choice() {
    let cache = tempfile::tempdir().unwrap();
    let (ok, g, err) = pref(
        &[
            "generate",
            "--max-tokens",
            "8",
            "--logprobs",
            "2",
            "Name a colour.",
        ],
        cache.path(),
    );
    assert!(ok, "{err}");
    assert!(g["tokens"].as_u64().unwrap() >= 1 && g["tokens"].as_u64().unwrap() <= 8);
    assert_eq!(g["logprobs"][0]["top"].as_array().unwrap().len(), 2);
    let (ok, c, err) = pref(
        &[
            "choice",
            "--prompt",
            "Pick one. A: apples B: bananas. Answer A or B.",
            "--options",
            "A,B",
        ],
        cache.path(),
    );
    assert!(ok, "{err}");
    let p = c["normalised"]["A"].as_f64().unwrap() + c["normalised"]["B"].as_f64().unwrap();
    assert!((p - 1.0).abs() < 1e-12);
    assert!(c["options"]["A"].as_f64().unwrap() < 0.0);
}

#[test]
fn a_missing_model_says_to_run_setup() {
    let cache = tempfile::tempdir().unwrap();
    let (ok, _, err) = pref(
        &["generate", "--model", "/nope/model.gguf", "hi"],
        cache.path(),
    );
    assert!(!ok);
    assert!(
        err.contains("/nope/model.gguf") && err.contains("cargo xtask setup"),
        "{err}"
    );
}

/// `--base-url`: the same subcommands against llama.cpp's own server (xllamacpp,
/// installed by `cargo xtask setup`) serving the same GGUF agree with the
/// embedded model; `score` is refused clearly.
#[test]
fn base_url_subcommands_agree_with_the_embedded_model() {
    use pref_llm::openai::local_server::LocalServer;
    let Some(server) = LocalServer::start_default_or_skip(2) else {
        return;
    };
    let url = format!("{}/v1", server.url());
    let cache = tempfile::tempdir().unwrap();
    // With and without a system message: the embedded backend renders SmolLM2's
    // own Jinja template as the server does (which adds its default system prompt
    // when none is given), so both see the same prompt tokens.
    for system in [Some("You are a helpful assistant."), None] {
        let sys: Vec<&str> = system.map(|s| vec!["--system", s]).unwrap_or_default();
        let gen: Vec<&str> = [
            &["generate"][..],
            &sys,
            &["--max-tokens", "8", "Name three colours."],
        ]
        .concat();
        let (ok, local, err) = pref(&gen, cache.path());
        assert!(ok, "{err}");
        let mut remote_args = gen.clone();
        remote_args.extend(["--base-url", &url, "--model", "smollm2"]);
        let (ok, remote, err) = pref(&remote_args, cache.path());
        assert!(ok, "{err}");
        assert_eq!(remote["text"], local["text"], "system {system:?}");
        assert_eq!(
            remote["prompt_tokens"], local["prompt_tokens"],
            "system {system:?}"
        );

        let choice: Vec<&str> = [
            &["choice"][..],
            &sys,
            &[
                "--prompt",
                "Is the sky green? Answer Yes or No.",
                "--options",
                "Yes,No",
            ],
        ]
        .concat();
        let (ok, local, err) = pref(&choice, cache.path());
        assert!(ok, "{err}");
        let mut remote_args = choice.clone();
        remote_args.extend(["--base-url", &url, "--model", "smollm2"]);
        let (ok, remote, err) = pref(&remote_args, cache.path());
        assert!(ok, "{err}");
        let p = |v: &Value| v["normalised"]["Yes"].as_f64().unwrap();
        assert!(
            (p(&remote) - p(&local)).abs() < 0.005,
            "system {system:?}: {remote} vs {local}"
        );
    }

    let score = [
        "score",
        "--prompt",
        "Hi",
        "--continuation",
        "Hello",
        "--base-url",
        &url,
        "--model",
        "smollm2",
    ];
    let (ok, _, err) = pref(&score, cache.path());
    assert!(
        !ok && err.contains("not supported by this endpoint"),
        "{err}"
    );
}
