//! Spawning commands: every command is printed before it runs, and a failure names the
//! command and its exit status.

use std::ffi::OsStr;
use std::io;
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

/// Shell-like rendering of a command (environment overrides, program, arguments).
pub fn describe(cmd: &Command) -> String {
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(key, value)| value.map(|v| format!("{}={}", key.to_string_lossy(), quote(v))))
        .collect();
    parts.push(quote(cmd.get_program()));
    parts.extend(cmd.get_args().map(quote));
    parts.join(" ")
}

/// Quotes one word for display, the way a POSIX shell would need it.
pub fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs a command with inherited stdio; a non-zero exit status is an error.
pub fn run(cmd: &mut Command) -> Result<()> {
    let desc = describe(cmd);
    println!("+ {desc}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{desc}`"))?;
    if !status.success() {
        bail!("`{desc}` failed ({status})");
    }
    Ok(())
}

/// Runs a command and returns its stdout (stderr is inherited); a non-zero exit status is
/// an error.
pub fn stdout_of(cmd: &mut Command) -> Result<Vec<u8>> {
    let desc = describe(cmd);
    println!("+ {desc}");
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{desc}`"))?;
    if !output.status.success() {
        bail!("`{desc}` failed ({})", output.status);
    }
    Ok(output.stdout)
}

/// Runs a probe quietly (stdout and stderr captured); the caller decides what a failure
/// to start or a non-zero exit status means.
pub fn probe(cmd: &mut Command) -> io::Result<Output> {
    println!("+ {}", describe(cmd));
    cmd.output()
}
