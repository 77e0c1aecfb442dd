//! A model described in a study's configuration: which backend, which model,
//! and its settings, as one serde (TOML/JSON) value that every study binary
//! shares. [`ModelSpec::load`] turns it into a model behind the
//! [`LanguageModel`] trait.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::LanguageModel;

/// Model backends a [`ModelSpec`] can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The embedded llama.cpp model (feature `llama`).
    #[default]
    Llama,
    /// An OpenAI-compatible HTTP endpoint (feature `openai`).
    Openai,
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "llama" => Ok(Self::Llama),
            "openai" => Ok(Self::Openai),
            other => Err(format!(
                "unknown backend `{other}`: expected llama or openai"
            )),
        }
    }
}

/// A model and its settings, as written in a configuration file.
///
/// `Eq + Hash`: a study loads one model per distinct spec (`pref_study::Models`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSpec {
    /// `llama` (embedded) or `openai` (any OpenAI-compatible endpoint).
    pub backend: Backend,
    /// Embedded: `default`, `gemma-3-270m` or a GGUF path. OpenAI: the served model name.
    pub name: String,
    /// OpenAI: the endpoint (`http://host:port/v1`); the key comes from OPENAI_API_KEY.
    pub base_url: Option<String>,
    /// Embedded: chat template override (a llama.cpp built-in name, e.g. `gemma`).
    pub chat_template: Option<String>,
    /// Embedded: CPU threads.
    pub threads: i32,
    /// Embedded: context length in tokens (0 = the backend's default).
    pub n_ctx: u32,
    /// OpenAI: requests in flight at once.
    pub max_concurrency: usize,
    /// OpenAI: requests-per-minute limit.
    pub requests_per_minute: Option<u32>,
    /// OpenAI: queue every request for the Batch API instead of sending it
    /// (a study stops at the first stage that needs answers; export, run the
    /// batch, import, resume: see docs/runs.md, "The Batch API").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            backend: Backend::Llama,
            name: "default".into(),
            base_url: None,
            chat_template: None,
            threads: 2,
            n_ctx: 0,
            max_concurrency: 8,
            requests_per_minute: None,
            batch: false,
        }
    }
}

/// Smallest context (`n_ctx`) the embedded backend accepts: its context holds up
/// to 16 sequences (shared-prefix scoring), and llama.cpp aborts on a context
/// smaller than its sequence count.
pub const MIN_N_CTX: u32 = 16;

impl ModelSpec {
    /// Checks what serde cannot; `what` names the spec in the message (e.g. `model`).
    pub fn check(&self, what: &str) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::Invalid(format!("{what}.name is empty")));
        }
        if let Some(url) = &self.base_url {
            let authority = url.split("://").nth(1).unwrap_or(url).split('/').next();
            if authority.is_some_and(|a| a.contains('@')) || url.contains(['?', '#']) {
                // Never echo the URL: what it carries may be a key.
                return Err(Error::Invalid(format!(
                    "{what}.base_url must not carry credentials, a query string or a fragment \
                     (they would be stored in every record, the cache and the report); put the \
                     key in OPENAI_API_KEY"
                )));
            }
        }
        if self.batch && self.backend != Backend::Openai {
            return Err(Error::Invalid(format!(
                "{what}.batch needs {what}.backend = \"openai\": the Batch API serves endpoints"
            )));
        }
        if self.backend == Backend::Openai && self.base_url.is_none() {
            return Err(Error::Invalid(format!(
                "{what}.backend = \"openai\" needs {what}.base_url"
            )));
        }
        if self.threads < 1 {
            return Err(Error::Invalid(format!("{what}.threads must be at least 1")));
        }
        if self.n_ctx != 0 && self.n_ctx < MIN_N_CTX {
            return Err(Error::Invalid(format!(
                "{what}.n_ctx must be 0 (the backend's default) or at least {MIN_N_CTX}, got {}",
                self.n_ctx
            )));
        }
        if self.max_concurrency == 0 {
            return Err(Error::Invalid(format!(
                "{what}.max_concurrency must be at least 1"
            )));
        }
        Ok(())
    }

    /// Requests a study should send at once: 1 on the embedded model (it has one
    /// worker), `max_concurrency` on an HTTP endpoint.
    pub fn parallel_requests(&self) -> usize {
        match self.backend {
            Backend::Llama => 1,
            Backend::Openai => self.max_concurrency.max(1),
        }
    }

    /// Loads the model for use behind `cache`: with `batch` set, an endpoint
    /// queues its requests in `cache` for the Batch API instead of sending them
    /// ([`crate::openai::OpenAiLm::deferred`]).
    pub fn load_for(
        &self,
        cache: &std::sync::Arc<crate::ModelCache>,
    ) -> Result<Box<dyn LanguageModel>> {
        #[cfg(feature = "openai")]
        if self.batch {
            return Ok(Box::new(self.load_openai()?.deferred(cache.clone())));
        }
        let _ = cache;
        self.load()
    }

    /// The endpoint of an `openai` spec.
    #[cfg(feature = "openai")]
    pub fn load_openai(&self) -> Result<crate::openai::OpenAiLm> {
        if self.backend != Backend::Openai {
            return Err(Error::Invalid(format!(
                "model `{}` is not an endpoint (backend {:?})",
                self.name, self.backend
            )));
        }
        let mut cfg = crate::openai::OpenAiConfig::new(
            self.base_url.clone().unwrap_or_default(),
            self.name.clone(),
        );
        cfg.limits = crate::openai::Limits {
            max_concurrency: self.max_concurrency,
            requests_per_minute: self.requests_per_minute,
            ..crate::openai::Limits::default()
        };
        crate::openai::OpenAiLm::new(cfg)
    }

    /// Loads the model (no cache: wrap it in a [`crate::CachedModel`]).
    pub fn load(&self) -> Result<Box<dyn LanguageModel>> {
        match self.backend {
            #[cfg(feature = "llama")]
            Backend::Llama => {
                let mut cfg = crate::llama::LlamaConfig {
                    model: self.name.clone(),
                    chat_template: self.chat_template.clone(),
                    n_threads: self.threads,
                    ..crate::llama::LlamaConfig::default()
                };
                if self.n_ctx > 0 {
                    cfg.n_ctx = self.n_ctx;
                }
                Ok(Box::new(crate::llama::LlamaLm::load(cfg)?))
            }
            #[cfg(feature = "openai")]
            Backend::Openai => Ok(Box::new(self.load_openai()?)),
            #[allow(unreachable_patterns)] // reachable when a backend's feature is off
            other => Err(Error::Invalid(format!(
                "backend {other:?} is not compiled in (enable pref-llm's `{}` feature)",
                match other {
                    Backend::Llama => "llama",
                    Backend::Openai => "openai",
                }
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_checks_name_the_field() {
        let s = ModelSpec {
            backend: Backend::Openai,
            ..ModelSpec::default()
        };
        let e = s.check("judge").unwrap_err().to_string();
        assert!(e.contains("judge.base_url"), "{e}");
        assert!(ModelSpec::default().check("model").is_ok());
        let small = ModelSpec {
            n_ctx: 8,
            ..ModelSpec::default()
        };
        assert_eq!(
            small.check("authors[1].model").unwrap_err().to_string(),
            "invalid request: authors[1].model.n_ctx must be 0 (the backend's default) or at \
             least 16, got 8"
        );
        assert_eq!("openai".parse::<Backend>(), Ok(Backend::Openai));
        assert!("vllm".parse::<Backend>().is_err());
        for url in [
            "http://host:8080/v1?api-key=sk-secret",
            "http://user:sk-secret@host/v1",
            "https://host/v1#sk-secret",
        ] {
            let s = ModelSpec {
                backend: Backend::Openai,
                base_url: Some(url.into()),
                ..ModelSpec::default()
            };
            let e = s.check("model").unwrap_err().to_string();
            assert!(
                e.contains("model.base_url") && !e.contains("sk-secret"),
                "{e}"
            );
        }
        let t: std::result::Result<ModelSpec, _> = serde_json::from_str(r#"{"nmae": "x"}"#);
        assert!(t.unwrap_err().to_string().contains("nmae"));
    }
}
