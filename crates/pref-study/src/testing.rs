//! Helpers for a study binary's end-to-end tests: run it with its own model
//! cache, get the JSON it prints or the error it reports, read a record log.
//! (Tests of every study binary need exactly these; `docs/architecture.md`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// A study binary run from a working directory with a model cache of its own.
#[derive(Debug, Clone)]
pub struct StudyBin {
    exe: PathBuf,
    cwd: PathBuf,
    cache: PathBuf,
}

impl StudyBin {
    /// The binary `exe` (e.g. `env!("CARGO_BIN_EXE_utility")`), run in `cwd`
    /// with `PREF_CACHE_DIR=cache`.
    pub fn new(
        exe: impl Into<PathBuf>,
        cwd: impl Into<PathBuf>,
        cache: impl Into<PathBuf>,
    ) -> Self {
        Self {
            exe: exe.into(),
            cwd: cwd.into(),
            cache: cache.into(),
        }
    }

    /// The same binary with another model cache.
    pub fn with_cache(&self, cache: impl Into<PathBuf>) -> Self {
        Self {
            cache: cache.into(),
            ..self.clone()
        }
    }

    /// A command running the binary with `args`, stdout and stderr piped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(args)
            .current_dir(&self.cwd)
            .env("PREF_CACHE_DIR", &self.cache)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs `args`, which must succeed, and parses what it printed.
    ///
    /// # Panics
    /// When the run fails (with its stderr) or prints no JSON.
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.command(args).output().expect("the binary starts");
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            self.exe.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }

    /// Runs `args`, which must fail, and returns its stderr.
    ///
    /// # Panics
    /// When the run succeeds.
    pub fn err(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("the binary starts");
        assert!(
            !out.status.success(),
            "{} {args:?} succeeded",
            self.exe.display()
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// The complete lines of a JSON Lines file (a torn last line, left by a killed
/// writer, is skipped); an absent file has none.
///
/// # Panics
/// When a complete line is not JSON.
pub fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with('}'))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}
