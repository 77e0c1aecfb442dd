//! llama.cpp's own HTTP server, from the `xllamacpp` wheel, as a child process
//! on 127.0.0.1 (port chosen by the OS): a real OpenAI-compatible endpoint for
//! tests and for trying the HTTP path without a cluster.
//!
//! `cargo xtask setup` installs the pinned wheel into
//! [`pref_data::paths::xllamacpp_venv`]. The server runs with the embedded
//! backend's determinism settings (flash attention off, F32 K/V cache) and so
//! that no answer depends on other requests: one slot (requests queue), no
//! prompt cache, and each prompt decoded in one call of up to 4096 tokens.
//! llama.cpp computes a row with other kernels in a decode call of only a few
//! rows, so a server batching concurrent requests or resuming cached prompts
//! answers with log-probs that move by up to ~0.1 nats from run to run. The
//! child exits when its standard input closes, so it never outlives its parent,
//! and [`LocalServer`] kills and reaps it on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};

const SCRIPT: &str = include_str!("serve_llamacpp.py");

/// A running llama.cpp server; killed when dropped.
pub struct LocalServer {
    child: Child,
    url: String,
}

impl LocalServer {
    /// Starts the server on `model` (a GGUF file) with `threads` CPU threads and
    /// waits up to `timeout` for it to load. Fails with [`Error::ModelMissing`]
    /// when the venv or the model is missing.
    pub fn start(model: &Path, threads: u32, timeout: Duration) -> Result<Self> {
        Self::start_with_template(model, threads, timeout, None)
    }

    /// [`LocalServer::start`] with `chat_template` (a Jinja file) in place of
    /// the GGUF's own. llama.cpp's server renders a request's `tools` only
    /// through a template that handles them; with one that does not (SmolLM2's)
    /// it drops them without a word.
    pub fn start_with_template(
        model: &Path,
        threads: u32,
        timeout: Duration,
        chat_template: Option<&Path>,
    ) -> Result<Self> {
        let python = pref_data::paths::xllamacpp_python();
        if !python.exists() {
            return Err(Error::ModelMissing {
                name: "xllamacpp (llama.cpp's server)".into(),
                path: python,
            });
        }
        if !model.exists() {
            return Err(Error::ModelMissing {
                name: model.display().to_string(),
                path: model.to_path_buf(),
            });
        }
        let mut command = Command::new(&python);
        command
            .arg("-c")
            .arg(SCRIPT)
            .arg(model)
            .arg(threads.max(1).to_string());
        if let Some(t) = chat_template {
            command.arg(t);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::Backend(format!("cannot start {}: {e}", python.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Backend("the server's stdout is not piped".into()))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if let Some(url) = line.strip_prefix("listening ") {
                    let _ = tx.send(url.trim().to_string());
                    return;
                }
            }
        });
        match rx.recv_timeout(timeout) {
            Ok(url) => Ok(Self { child, url }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(Error::Backend(format!(
                    "llama.cpp's server did not report its address within {} s (exit status {status:?})",
                    timeout.as_secs()
                )))
            }
        }
    }

    /// Starts the server on the embedded default model (SmolLM2-135M-Instruct).
    pub fn start_default(threads: u32) -> Result<Self> {
        Self::start_default_with_template(threads, None)
    }

    /// [`LocalServer::start_default`] with another chat template
    /// (see [`LocalServer::start_with_template`]).
    pub fn start_default_with_template(threads: u32, chat_template: Option<&Path>) -> Result<Self> {
        let model = pref_data::paths::embedded_model("default")
            .and_then(|m| m.files.first().map(|f| m.dir_path().join(f.file)))
            .ok_or_else(|| Error::Invalid("no embedded default model".into()))?;
        Self::start_with_template(&model, threads, Duration::from_secs(300), chat_template)
    }

    /// [`LocalServer::start_default`] for tests: `None` (with a note) when the
    /// model or xllamacpp is missing, unless `PREF_REQUIRE_MODELS=1` (set by
    /// `cargo xtask test`), which makes that a panic; any other failure panics.
    pub fn start_default_or_skip(threads: u32) -> Option<Self> {
        Self::start_default_with_template_or_skip(threads, None)
    }

    /// [`LocalServer::start_default_or_skip`] with another chat template.
    pub fn start_default_with_template_or_skip(
        threads: u32,
        chat_template: Option<&Path>,
    ) -> Option<Self> {
        match Self::start_default_with_template(threads, chat_template) {
            Ok(s) => Some(s),
            Err(e @ Error::ModelMissing { .. }) => {
                let required = std::env::var("PREF_REQUIRE_MODELS").is_ok_and(|v| v == "1");
                assert!(!required, "PREF_REQUIRE_MODELS=1 but: {e}");
                eprintln!("skipping: {e}");
                None
            }
            Err(e) => panic!("cannot start llama.cpp's server: {e}"),
        }
    }

    /// `http://127.0.0.1:PORT` (append `/v1` for the OpenAI API).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
