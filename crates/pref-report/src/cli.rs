//! The `main` every study binary shares: log events on stderr (filtered by
//! `RUST_LOG`, warnings and errors by default), the result as one pretty JSON
//! object on stdout, and on failure the error with its causes on stderr and exit
//! code 1.

use std::fmt::Display;
use std::process::ExitCode;

/// Sets up logging, runs `run` and reports its outcome (module docs). The error
/// is printed with `{:#}`, which for an `anyhow::Error` lists every cause.
pub fn json_main<E: Display>(run: impl FnOnce() -> Result<serde_json::Value, E>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run() {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
