//! `pref models | generate | score | choice`: poke at a model from the shell.
//! Every call goes through the content-addressed cache unless `--no-cache`.

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use pref_data::paths::{models_dir, EMBEDDED_MODELS};
use pref_llm::llama::{LlamaConfig, LlamaLm};
use pref_llm::openai::{Limits, OpenAiConfig, OpenAiLm};
use pref_llm::{CachedModel, LanguageModel, Message, ModelCache, SamplingParams};
use serde_json::{json, Value};

/// Options shared by the model subcommands.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model: `default` (SmolLM2-135M-Instruct), `gemma-3-270m`, or a path to a GGUF file;
    /// with `--base-url`, the served model name.
    #[arg(long, default_value = "default")]
    model: String,
    /// Use an OpenAI-compatible endpoint instead of the embedded model, e.g.
    /// `http://127.0.0.1:8080/v1` (vLLM, SGLang, TGI, llama.cpp server, Ollama, OpenAI).
    /// The key comes from OPENAI_API_KEY (or LAMBDA_API_KEY) and is never printed;
    /// without this flag OPENAI_BASE_URL is not consulted.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// With `--base-url`: most requests in flight at once.
    #[arg(long, default_value_t = 16, value_name = "N")]
    max_concurrency: usize,
    /// With `--base-url`: requests-per-minute limit (evenly paced).
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,
    /// With `--base-url`: retries on 429, 5xx, timeouts and malformed answers.
    #[arg(long, default_value_t = 6, value_name = "N")]
    max_retries: u32,
    /// Chat template (embedded model only): a llama.cpp built-in name (`gemma`, `chatml`,
    /// …); default: the GGUF's own Jinja template (`tokenizer.chat_template`), rendered
    /// as llama.cpp's server renders it, so both ask the same question (`gemma` for
    /// gemma-3-270m, whose GGUF has none). An unknown name is an error listing them.
    #[arg(long)]
    chat_template: Option<String>,
    /// System prompt placed before the user message.
    #[arg(long)]
    system: Option<String>,
    /// CPU threads (embedded model).
    #[arg(long, default_value_t = 2)]
    threads: i32,
    /// Context length in tokens (embedded model; at least 16). A prompt longer than this
    /// is an error naming both numbers.
    #[arg(long, default_value_t = 4096)]
    n_ctx: u32,
    /// Bypass the model-call cache ($PREF_CACHE_DIR or $PREF_HOME/cache).
    #[arg(long)]
    no_cache: bool,
}

/// `pref generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Sampling temperature; 0 is greedy (deterministic).
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Seed for temperature > 0 (same seed, same text).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Maximum number of generated tokens.
    #[arg(long, default_value_t = 256)]
    max_tokens: u32,
    /// Include per-token log-probabilities with this many alternatives (0 = none).
    #[arg(long)]
    logprobs: Option<u32>,
    /// The user message.
    prompt: String,
}

/// `pref score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The user message.
    #[arg(long)]
    prompt: String,
    /// The assistant text to score by teacher forcing.
    #[arg(long)]
    continuation: String,
}

/// `pref choice`.
#[derive(Debug, Args)]
pub struct ChoiceArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The user message (the question).
    #[arg(long)]
    prompt: String,
    /// Comma-separated option labels, e.g. `A,B` or `1,2,3,4,5`.
    #[arg(long, value_delimiter = ',', num_args = 1.., required = true)]
    options: Vec<String>,
}

fn load(args: &ModelArgs) -> Result<Box<dyn LanguageModel>> {
    if let Some(url) = &args.base_url {
        let mut cfg = OpenAiConfig::new(url.clone(), args.model.clone());
        cfg.limits = Limits {
            max_concurrency: args.max_concurrency,
            requests_per_minute: args.rpm,
            max_retries: args.max_retries,
            ..Limits::default()
        };
        let lm = OpenAiLm::new(cfg)?;
        return Ok(if args.no_cache {
            Box::new(lm)
        } else {
            Box::new(CachedModel::new(lm, Arc::new(ModelCache::open_default()?)))
        });
    }
    let cfg = LlamaConfig {
        model: args.model.clone(),
        chat_template: args.chat_template.clone(),
        n_ctx: args.n_ctx,
        n_threads: args.threads,
        ..LlamaConfig::default()
    };
    let lm = LlamaLm::load(cfg)?;
    Ok(if args.no_cache {
        Box::new(lm)
    } else {
        Box::new(CachedModel::new(lm, Arc::new(ModelCache::open_default()?)))
    })
}

fn messages(args: &ModelArgs, prompt: &str) -> Vec<Message> {
    let mut m = Vec::new();
    if let Some(s) = &args.system {
        m.push(Message::system(s.clone()));
    }
    m.push(Message::user(prompt.to_string()));
    m
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `pref models`: the embedded models, where they are and whether they are installed.
pub fn models() -> Result<Value> {
    let list: Vec<Value> = EMBEDDED_MODELS
        .iter()
        .map(|m| {
            let files: Vec<Value> = m
                .files
                .iter()
                .map(|f| {
                    let path = m.dir_path().join(f.file);
                    let size = std::fs::metadata(&path).ok().map(|md| md.len());
                    json!({"path": path, "installed": size.is_some(), "size_bytes": size, "sha256": f.sha256})
                })
                .collect();
            json!({"name": m.name, "role": m.role, "description": m.description,
                   "wheels": m.wheels, "files": files})
        })
        .collect();
    Ok(json!({"models_dir": models_dir(), "models": list,
              "setup": "cargo xtask setup [--only NAME] fetches and verifies missing models"}))
}

/// `pref generate`.
pub fn generate(a: GenerateArgs) -> Result<Value> {
    let lm = load(&a.model)?;
    let params = SamplingParams {
        max_tokens: a.max_tokens,
        temperature: a.temperature,
        seed: a.seed,
        logprobs: a.logprobs.is_some(),
        top_logprobs: a.logprobs.unwrap_or(0),
        ..SamplingParams::default()
    };
    let c = runtime()?.block_on(lm.generate(&messages(&a.model, &a.prompt), &params))?;
    let mut v = json!({"text": c.text, "tokens": c.completion_tokens, "prompt_tokens": c.prompt_tokens,
                       "finish_reason": c.finish_reason, "model": lm.id().to_string()});
    if let Some(lp) = c.logprobs {
        v["logprobs"] = json!(lp);
    }
    Ok(v)
}

/// `pref score`.
pub fn score(a: ScoreArgs) -> Result<Value> {
    let lm = load(&a.model)?;
    let s = runtime()?.block_on(lm.score(&messages(&a.model, &a.prompt), &a.continuation))?;
    Ok(
        json!({"sum_logprob": s.sum_logprob, "token_logprobs": s.token_logprobs, "tokens": s.tokens,
              "model": lm.id().to_string()}),
    )
}

/// `pref choice`.
pub fn choice(a: ChoiceArgs) -> Result<Value> {
    // Before the model loads: `--options A,A` is refused, not answered {"A": 0.5}.
    pref_llm::ChoiceLogprobs::check_options(&a.options).context("--options")?;
    let lm = load(&a.model)?;
    let c = runtime()?.block_on(lm.choice_logprobs(&messages(&a.model, &a.prompt), &a.options))?;
    let options: serde_json::Map<String, Value> = c
        .options
        .iter()
        .zip(&c.logprobs)
        .map(|(o, l)| (o.clone(), json!(l)))
        .collect();
    let normalised: serde_json::Map<String, Value> = c
        .options
        .iter()
        .zip(&c.normalised)
        .map(|(o, p)| (o.clone(), json!(p)))
        .collect();
    let mut v = json!({"options": options, "normalised": normalised, "model": lm.id().to_string()});
    if let Some(k) = c.sampled {
        // The endpoint gave no log-probs: frequencies of k sampled answers.
        v["sampled"] = json!(k);
    }
    Ok(v)
}
