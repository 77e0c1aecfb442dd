//! `cargo xtask demo`: every study, small, on the embedded models and the
//! project's fixtures, in one visible pass: the models, one release build of
//! every binary (cargo's own progress), each study with its progress bar, then
//! `runs/demo/index.html` linking every report. Prints the time of each phase,
//! this run's and the first run's on this machine (`runs/demo/timings.json`;
//! the first is cold when the model cache and the build were).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{cargo, cmd, setup, workspace_root};

/// Where the demo writes (relative to the workspace root).
pub const DEMO_DIR: &str = "runs/demo";

/// One study of the demo.
pub struct DemoStudy {
    /// Binary (and package) name.
    pub bin: &'static str,
    /// What it answers, for the terminal and the index.
    pub question: &'static str,
    /// Arguments after `run`; paths relative to the workspace root.
    pub args: &'static [&'static str],
    /// Roughly how long it takes on 2 cores with a cold model cache.
    pub cold: &'static str,
}

/// The six studies, in the order they run.
pub const STUDIES: &[DemoStudy] = &[
    DemoStudy {
        bin: "utility",
        question: "Which tasks does the model prefer? Thurstonian utilities from pairwise choices",
        args: &["--config", "examples/configs/utility.toml"],
        cold: "20 s",
    },
    DemoStudy {
        bin: "self-preference",
        question:
            "Do judges prefer their own outputs? Self-preference, recognition and position bias",
        args: &["--config", "examples/configs/self-preference.toml"],
        cold: "2 min",
    },
    DemoStudy {
        bin: "robustness",
        question: "Do utilities survive changes of the prompt template?",
        // 10 items (the least analysis.min_shared compares), 6 configurations (15
        // pairs of configurations for the intercept and 11 factors).
        args: &[
            "--config",
            "examples/configs/robustness.toml",
            "--n-items",
            "10",
            "--n-configs",
            "6",
        ],
        cold: "3 min",
    },
    DemoStudy {
        bin: "probe",
        question: "Can a linear probe read preferences from the model's activations?",
        args: &[
            "--config",
            "examples/configs/probe.toml",
            "--n-items",
            "12",
            "--max-tokens",
            "16",
        ],
        cold: "2 min",
    },
    DemoStudy {
        bin: "personal-rank",
        question: "Whose ranking? Personalised rankings of models for personas",
        args: &[
            "--config",
            "examples/configs/personal-rank.toml",
            "--prompts",
            "4",
            "--heldout",
            "1",
            "--max-tokens",
            "48",
        ],
        cold: "4 min",
    },
    DemoStudy {
        bin: "arena-cje",
        question: "What would each policy score? Causal judge evaluation on Arena-style prompts",
        args: &[
            "--config",
            "examples/configs/arena-cje.toml",
            "--n",
            "16",
            "--oracle-fraction",
            "0.5",
        ],
        cold: "1.5 min",
    },
];

/// The release binaries' directory (`$CARGO_TARGET_DIR/release` or `target/release`).
fn release_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_absolute() { d } else { root.join(d) })
        .unwrap_or_else(|| root.join("target"))
        .join("release")
}

/// Phase times of the first demo run and of this one (`runs/demo/timings.json`).
fn record_times(out: &Path, now: &[(String, f64)]) -> Result<Option<Vec<(String, f64)>>> {
    let path = out.join("timings.json");
    let mut all: BTreeMap<String, Vec<(String, f64)>> = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let first = all.get("first").cloned();
    if first.is_none() {
        all.insert("first".into(), now.to_vec());
    }
    all.insert("last".into(), now.to_vec());
    fs::write(&path, serde_json::to_vec_pretty(&all)?)
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(first)
}

fn fmt_secs(s: f64) -> String {
    if s >= 60.0 {
        format!("{}m {:02.0}s", (s / 60.0).floor(), s % 60.0)
    } else {
        format!("{s:.1}s")
    }
}

/// `cargo xtask demo`.
pub fn run() -> Result<()> {
    let root = workspace_root();
    let out = root.join(DEMO_DIR);
    fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
    let mut times: Vec<(String, f64)> = Vec::new();
    let total = Instant::now();

    println!("[1/4] the embedded models (SmolLM2-135M, Gemma-3-270M, MiniLM; fetched once)");
    let t = Instant::now();
    setup::run(&[])?;
    times.push(("models".into(), t.elapsed().as_secs_f64()));

    println!(
        "[2/4] one release build of the six study binaries and `pref` (cold: about 20 min on \
         2 cores, most of it llama.cpp, arrow and candle; warm: seconds)"
    );
    let t = Instant::now();
    let mut build = cargo(&root);
    build.args(["build", "--release", "-p", "pref"]);
    for s in STUDIES {
        build.args(["-p", s.bin]);
    }
    cmd::run(&mut build).context("the release build failed")?;
    times.push(("build".into(), t.elapsed().as_secs_f64()));

    let bin_dir = release_dir(&root);
    println!(
        "[3/4] the six studies on the embedded models and the fixtures (cold: about 10 min; \
         a second demo answers from the model cache)"
    );
    for (i, s) in STUDIES.iter().enumerate() {
        println!(
            "  ({}/{}) {}: {} (cold ≈ {})",
            i + 1,
            STUDIES.len(),
            s.bin,
            s.question,
            s.cold
        );
        let run_dir = out.join(s.bin);
        if run_dir.exists() {
            fs::remove_dir_all(&run_dir)
                .with_context(|| format!("could not remove {}", run_dir.display()))?;
        }
        let t = Instant::now();
        let exe = bin_dir.join(s.bin);
        let mut command = Command::new(&exe);
        command
            .arg("run")
            .args(s.args)
            .arg("--out")
            .arg(&run_dir)
            .current_dir(&root);
        let stdout =
            cmd::stdout_of(&mut command).with_context(|| format!("the {} study failed", s.bin))?;
        let results = out.join(format!("{}-results.json", s.bin));
        fs::write(&results, &stdout)
            .with_context(|| format!("could not write {}", results.display()))?;
        for f in ["report.md", "index.html", "results.json"] {
            if !run_dir.join(f).is_file() {
                bail!("the {} study did not write {f}", s.bin);
            }
        }
        let secs = t.elapsed().as_secs_f64();
        println!("      done in {}", fmt_secs(secs));
        times.push((s.bin.to_string(), secs));
    }

    println!("[4/4] runs/demo/index.html");
    let t = Instant::now();
    let index = crate::demo_index::write(&out, STUDIES)?;
    times.push(("index".into(), t.elapsed().as_secs_f64()));
    times.push(("total".into(), total.elapsed().as_secs_f64()));

    let first = record_times(&out, &times)?;
    println!();
    println!("{:<16} {:>12} {:>16}", "phase", "this run", "first run");
    for (phase, secs) in &times {
        let cold = first
            .as_ref()
            .and_then(|f| f.iter().find(|(p, _)| p == phase))
            .map_or_else(|| fmt_secs(*secs), |(_, s)| fmt_secs(*s));
        println!("{phase:<16} {:>12} {cold:>16}", fmt_secs(*secs));
    }
    println!();
    println!("open {}", index.display());
    Ok(())
}
