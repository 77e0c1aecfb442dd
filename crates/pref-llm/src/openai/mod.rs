//! Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, SGLang, TGI,
//! llama.cpp's server, Ollama, Lambda) behind [`LanguageModel`].
//!
//! Requests are built as JSON (they carry fields outside OpenAI's schema, such
//! as `top_k`, that vLLM and llama.cpp accept and async-openai's request type
//! cannot express); responses and Batch API lines are parsed with async-openai's
//! types. The transport ([`transport`]) adds rate limits, retries and adaptive
//! concurrency. In deferred mode ([`OpenAiLm::deferred`]) requests are queued for
//! the OpenAI Batch API instead of being sent: export them with
//! [`OpenAiLm::export_batch`], run the batch, and [`OpenAiLm::import_batch`] puts
//! the answers into the cache, so the rerun makes no live calls.

pub mod local_server;
pub mod transport;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use async_openai::types::batches::{
    BatchEndpoint, BatchRequestInput, BatchRequestInputMethod, BatchRequestOutput,
};
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, CreateChatCompletionResponse, FinishReason as OaFinish,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cache::{cache_key, choice_request, generate_request, ModelCache};
use crate::error::{Error, Result};
use crate::model::{LanguageModel, ModelId};
use crate::types::{
    ChoiceLogprobs, Completion, FinishReason, Message, SamplingParams, TokenLogprob, TokenLogprobs,
};
use transport::Transport;
pub use transport::{ApiKey, Limits, TransportStats};

/// OpenAI's marker for "not among the top log-probs" (its `-9999.0`); an option
/// label absent from the top alternatives gets this log-prob.
pub const NOT_IN_TOP_LOGPROBS: f64 = -9999.0;

const CHAT_PATH: &str = "chat/completions";

/// Configuration of an OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiConfig {
    /// Base URL ending in `/v1` (e.g. `http://127.0.0.1:8080/v1`). `None`: the
    /// environment (`OPENAI_BASE_URL`, then `LAMBDA_API_URL`), else OpenAI's.
    pub base_url: Option<String>,
    /// The served model name sent as `model`.
    pub model: String,
    /// Environment variable holding the API key. `None`: `OPENAI_API_KEY`, then
    /// `LAMBDA_API_KEY`; no key at all is fine for local servers.
    pub api_key_env: Option<String>,
    /// A key given directly (takes precedence over the environment). Never
    /// serialised, never printed.
    #[serde(skip)]
    pub api_key: Option<ApiKey>,
    /// Rate limits, retries, timeouts and concurrency.
    pub limits: Limits,
    /// Top alternatives requested per position for `choice_logprobs` (≤ 20).
    pub choice_top_logprobs: u32,
    /// Samples drawn for `choice_logprobs` when the endpoint returns no log-probs.
    pub choice_samples: u32,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            model: String::new(),
            api_key_env: None,
            api_key: None,
            limits: Limits::default(),
            choice_top_logprobs: 20,
            choice_samples: 20,
        }
    }
}

impl OpenAiConfig {
    /// A configuration for `model` at `base_url`, other fields default.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: Some(base_url.into()),
            model: model.into(),
            ..Self::default()
        }
    }
}

/// A deferred request as stored in the cache's pending table.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingRequest {
    body: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    options: Option<Vec<String>>,
}

/// What [`OpenAiLm::import_batch`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Answers stored in the cache.
    pub completed: usize,
    /// Result lines that were errors or unusable (still pending): `(custom_id, why)`.
    pub failed: Vec<(String, String)>,
    /// Result lines whose `custom_id` is not pending for this model (already
    /// imported, or from another run): skipped.
    pub unknown: usize,
}

/// An OpenAI-compatible endpoint.
pub struct OpenAiLm {
    id: ModelId,
    model: String,
    config: OpenAiConfig,
    transport: Transport,
    defer_to: Option<Arc<ModelCache>>,
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn estimate_tokens(messages: &[Message], max_tokens: u32) -> u32 {
    let chars: usize = messages.iter().map(|m| m.content.chars().count()).sum();
    (chars / 4) as u32 + max_tokens
}

fn messages_json(messages: &[Message]) -> Value {
    Value::Array(
        messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect(),
    )
}

impl OpenAiLm {
    /// Connects (lazily: no request is sent here) to the configured endpoint.
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        if config.model.trim().is_empty() {
            return Err(Error::Invalid(
                "the OpenAI backend needs a model name".into(),
            ));
        }
        if config.choice_top_logprobs == 0 || config.choice_top_logprobs > 20 {
            return Err(Error::Invalid(format!(
                "choice_top_logprobs must be in 1..=20 (got {})",
                config.choice_top_logprobs
            )));
        }
        if config.choice_samples == 0 {
            return Err(Error::Invalid("choice_samples must be at least 1".into()));
        }
        let base_url = config
            .base_url
            .clone()
            .or_else(|| env_nonempty("OPENAI_BASE_URL"))
            .or_else(|| env_nonempty("LAMBDA_API_URL"))
            .unwrap_or_else(|| "https://api.openai.com/v1".into());
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|e| Error::Invalid(format!("base URL `{base_url}`: {e}")))?;
        if !parsed.username().is_empty()
            || parsed.password().is_some()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(Error::Invalid(
                "the base URL must not carry credentials, a query string or a fragment (they \
                 would be stored in every record and the cache); put the key in OPENAI_API_KEY"
                    .into(),
            ));
        }
        let key = match (&config.api_key, &config.api_key_env) {
            (Some(k), _) => Some(k.clone()),
            (None, Some(var)) => env_nonempty(var).map(ApiKey::new),
            (None, None) => env_nonempty("OPENAI_API_KEY")
                .or_else(|| env_nonempty("LAMBDA_API_KEY"))
                .map(ApiKey::new),
        };
        let transport = Transport::new(base_url.clone(), key, config.limits.clone())?;
        let id = ModelId {
            backend: "openai".into(),
            name: config.model.clone(),
            sha256: None,
            base_url: Some(transport.base_url().to_string()),
            variant: None,
        };
        Ok(Self {
            id,
            model: config.model.clone(),
            config,
            transport,
            defer_to: None,
        })
    }

    /// Deferred mode: `generate` and `choice_logprobs` queue their request in
    /// `cache`'s pending table (keyed by the same key a [`crate::CachedModel`]
    /// over this backend uses) and return [`Error::Deferred`] without sending.
    pub fn deferred(mut self, cache: Arc<ModelCache>) -> Self {
        self.defer_to = Some(cache);
        self
    }

    /// The endpoint's base URL.
    pub fn base_url(&self) -> &str {
        self.transport.base_url()
    }

    /// `e` with the key replaced by `<redacted>` in every message text (and long
    /// quoted values cut): errors built from a server's answer pass through here.
    fn redacted(&self, e: Error) -> Error {
        e.map_text(|t| pref_data::shorten_quotes(&self.transport.redact(t)).into_owned())
    }

    /// Attempts, retries, waits and the adaptive concurrency limit so far.
    pub fn stats(&self) -> TransportStats {
        self.transport.stats()
    }

    fn generate_body(&self, messages: &[Message], params: &SamplingParams) -> Value {
        let mut b = json!({
            "model": self.model,
            "messages": messages_json(messages),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        });
        if params.top_k > 0 {
            b["top_k"] = json!(params.top_k);
        }
        if !params.stop.is_empty() {
            b["stop"] = json!(params.stop);
        }
        if params.logprobs {
            b["logprobs"] = json!(true);
            b["top_logprobs"] = json!(params.top_logprobs.min(20));
        }
        if !params.tools.is_empty() {
            b["tools"] = json!(params.tools);
            b["tool_choice"] = json!("required");
        }
        b
    }

    fn choice_body(&self, messages: &[Message]) -> Value {
        json!({
            "model": self.model,
            "messages": messages_json(messages),
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": true,
            "top_logprobs": self.config.choice_top_logprobs,
        })
    }

    fn defer(&self, method: &str, request: &Value, pending: PendingRequest) -> Result<Error> {
        let cache = self
            .defer_to
            .as_ref()
            .ok_or_else(|| Error::Backend("not deferred".into()))?;
        let key = cache_key(&self.id, method, request);
        let stored = serde_json::to_string(&pending)
            .map_err(|e| Error::Backend(format!("cannot serialise a pending request: {e}")))?;
        cache.put_pending(&key, method, &self.id.to_string(), &stored)?;
        Ok(Error::Deferred { custom_id: key })
    }

    /// Writes the pending requests of this model as an OpenAI Batch API input
    /// file (JSONL of `{custom_id, method, url, body}`), atomically; returns how
    /// many. `custom_id` is the cache key.
    pub fn export_batch(&self, cache: &ModelCache, path: impl AsRef<Path>) -> Result<usize> {
        let rows = cache.pending(&self.id.to_string())?;
        let mut out = String::new();
        for (key, _method, request) in &rows {
            let p: PendingRequest = serde_json::from_str(request)
                .map_err(|e| Error::Backend(format!("pending request {key} is unreadable: {e}")))?;
            let line = BatchRequestInput {
                custom_id: key.clone(),
                method: BatchRequestInputMethod::POST,
                url: BatchEndpoint::V1ChatCompletions,
                body: Some(p.body),
            };
            out += &serde_json::to_string(&line)
                .map_err(|e| Error::Backend(format!("cannot serialise a batch line: {e}")))?;
            out.push('\n');
        }
        pref_data::run::write_atomic(path.as_ref(), out.as_bytes())?;
        Ok(rows.len())
    }

    /// Reads an OpenAI Batch API output file and stores every successful answer
    /// in `cache` under its `custom_id`, removing it from the pending list.
    /// Unparseable lines are errors naming the file and line.
    pub fn import_batch(&self, cache: &ModelCache, path: impl AsRef<Path>) -> Result<ImportReport> {
        let path = path.as_ref();
        let model = self.id.to_string();
        let pending: HashMap<String, (String, String)> = cache
            .pending(&model)?
            .into_iter()
            .map(|(k, m, r)| (k, (m, r)))
            .collect();
        let file = std::fs::File::open(path).map_err(|e| pref_data::Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut report = ImportReport::default();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| pref_data::Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let at = || format!("{}:{}", path.display(), i + 1);
            let out: BatchRequestOutput = serde_json::from_str(&line).map_err(|e| {
                Error::Invalid(format!("{}: not a Batch API output line: {e}", at()))
            })?;
            let Some((method, request)) = pending.get(&out.custom_id) else {
                report.unknown += 1;
                continue;
            };
            let p: PendingRequest = serde_json::from_str(request).map_err(|e| {
                Error::Backend(format!(
                    "pending request {} is unreadable: {e}",
                    out.custom_id
                ))
            })?;
            let body = match (&out.response, &out.error) {
                (Some(r), None) if (200..300).contains(&r.status_code) => r.body.clone(),
                (Some(r), _) => {
                    let why = format!(
                        "HTTP {}: {}",
                        r.status_code,
                        self.transport.redact(&r.body.to_string())
                    );
                    report.failed.push((out.custom_id.clone(), why));
                    continue;
                }
                (None, Some(e)) => {
                    let why = format!("{}: {}", e.code, self.transport.redact(&e.message));
                    report.failed.push((out.custom_id.clone(), why));
                    continue;
                }
                (None, None) => {
                    report
                        .failed
                        .push((out.custom_id.clone(), "neither response nor error".into()));
                    continue;
                }
            };
            let value = match method.as_str() {
                "generate" => parse_completion(body).and_then(|c| to_json(&c)),
                "choice_logprobs" => {
                    let options = p.options.clone().unwrap_or_default();
                    match parse_choice(body, &options) {
                        Ok(Some(c)) => to_json(&c),
                        Ok(None) => Err(Error::Backend("the answer has no log-probs".into())),
                        Err(e) => Err(e),
                    }
                }
                other => Err(Error::Backend(format!("cannot import a `{other}` request"))),
            }
            .map_err(|e| self.redacted(e));
            match value {
                Ok(v) => {
                    cache.complete_pending(&out.custom_id, method, &model, &v)?;
                    report.completed += 1;
                }
                Err(e) => report
                    .failed
                    .push((out.custom_id.clone(), format!("{}: {e}", at()))),
            }
        }
        Ok(report)
    }

    async fn choice_by_sampling(
        &self,
        messages: &[Message],
        options: &[String],
    ) -> Result<ChoiceLogprobs> {
        let k = self.config.choice_samples;
        let mut counts = vec![0u32; options.len()];
        let mut matched = 0u32;
        // Longest label first, so "10" is not read as "1".
        let mut order: Vec<usize> = (0..options.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(options[i].len()));
        for s in 0..k {
            let params = SamplingParams {
                max_tokens: 8,
                temperature: 1.0,
                seed: u64::from(s),
                ..SamplingParams::default()
            };
            let c = self.generate(messages, &params).await?;
            let answer = c.text.trim();
            if let Some(&i) = order
                .iter()
                .find(|&&i| answer.starts_with(options[i].as_str()))
            {
                counts[i] += 1;
                matched += 1;
            }
        }
        let denom = f64::from(matched) + 0.5 * options.len() as f64;
        let logprobs = counts
            .iter()
            .map(|&c| ((f64::from(c) + 0.5) / denom).ln())
            .collect();
        let mut out = ChoiceLogprobs::from_logprobs(options.to_vec(), logprobs);
        out.sampled = Some(k);
        Ok(out)
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Backend(format!("cannot serialise: {e}")))
}

fn parse_response(body: Value) -> Result<CreateChatCompletionResponse> {
    serde_json::from_value(body).map_err(|e| {
        Error::Backend(format!(
            "the endpoint's answer is not a chat completion: {e}"
        ))
    })
}

/// A chat-completion response body as a [`Completion`].
fn parse_completion(body: Value) -> Result<Completion> {
    let r = parse_response(body)?;
    let choice = r
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| Error::Backend("the endpoint returned no choices".into()))?;
    let logprobs = choice.logprobs.and_then(|l| l.content).map(|tokens| {
        tokens
            .into_iter()
            .map(|t| TokenLogprob {
                token: t.token,
                logprob: f64::from(t.logprob),
                top: t
                    .top_logprobs
                    .into_iter()
                    .map(|a| (a.token, f64::from(a.logprob)))
                    .collect(),
            })
            .collect()
    });
    let (prompt_tokens, completion_tokens) = r
        .usage
        .map(|u| (u.prompt_tokens, u.completion_tokens))
        .unwrap_or((0, 0));
    // A tool call is the answer: its name and arguments as one JSON object
    // (arguments that are not JSON are kept as the string the model wrote).
    let call = choice
        .message
        .tool_calls
        .into_iter()
        .flatten()
        .find_map(|c| match c {
            ChatCompletionMessageToolCalls::Function(f) => Some(f.function),
            ChatCompletionMessageToolCalls::Custom(_) => None,
        });
    let text = match call {
        Some(f) => {
            let arguments = serde_json::from_str::<Value>(&f.arguments)
                .unwrap_or_else(|_| Value::String(f.arguments.clone()));
            json!({"name": f.name, "arguments": arguments}).to_string()
        }
        None => choice.message.content.unwrap_or_default(),
    };
    Ok(Completion {
        text,
        finish_reason: match choice.finish_reason {
            Some(OaFinish::Length) => FinishReason::Length,
            _ => FinishReason::Stop,
        },
        prompt_tokens,
        completion_tokens,
        logprobs,
    })
}

/// Option log-probs from the first position's top alternatives: each option's
/// log-prob is the log-sum-exp over the alternatives that equal it once
/// surrounding whitespace is removed ("A" and " A"); an option that is absent
/// gets [`NOT_IN_TOP_LOGPROBS`]. `None` when the answer carries no log-probs.
fn parse_choice(body: Value, options: &[String]) -> Result<Option<ChoiceLogprobs>> {
    let c = parse_completion(body)?;
    let Some(first) = c.logprobs.as_ref().and_then(|l| l.first()) else {
        return Ok(None);
    };
    let mut alts = first.top.clone();
    if alts.is_empty() {
        alts.push((first.token.clone(), first.logprob));
    }
    let logprobs = options
        .iter()
        .map(|o| {
            let hits: Vec<f64> = alts
                .iter()
                .filter(|(t, _)| t.trim() == o.trim())
                .map(|(_, l)| *l)
                .collect();
            if hits.is_empty() {
                NOT_IN_TOP_LOGPROBS
            } else {
                let m = hits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                m + hits.iter().map(|l| (l - m).exp()).sum::<f64>().ln()
            }
        })
        .collect();
    Ok(Some(ChoiceLogprobs::from_logprobs(
        options.to_vec(),
        logprobs,
    )))
}

#[async_trait]
impl LanguageModel for OpenAiLm {
    fn id(&self) -> &ModelId {
        &self.id
    }

    async fn generate(&self, messages: &[Message], params: &SamplingParams) -> Result<Completion> {
        if messages.is_empty() {
            return Err(Error::Invalid("no messages".into()));
        }
        let body = self.generate_body(messages, params);
        if self.defer_to.is_some() {
            let req = generate_request(messages, params);
            return Err(self.defer(
                "generate",
                &req,
                PendingRequest {
                    body,
                    options: None,
                },
            )?);
        }
        let answer = self
            .transport
            .post(
                CHAT_PATH,
                &body,
                estimate_tokens(messages, params.max_tokens),
            )
            .await?;
        parse_completion(answer).map_err(|e| self.redacted(e))
    }

    /// All requests at once, bounded by the transport's concurrency and rate
    /// limits; results in request order, the first error wins.
    async fn generate_batch(
        &self,
        requests: &[(Vec<Message>, SamplingParams)],
    ) -> Result<Vec<Completion>> {
        futures::future::join_all(requests.iter().map(|(m, p)| self.generate(m, p)))
            .await
            .into_iter()
            .collect()
    }

    async fn score(&self, _prompt: &[Message], _continuation: &str) -> Result<TokenLogprobs> {
        Err(Error::Unsupported {
            backend: "openai".into(),
            what: format!(
                "teacher-forced scoring is not supported by this endpoint ({}): chat completions \
                 return log-probs of generated tokens only; use the embedded llama.cpp backend",
                self.base_url()
            ),
        })
    }

    async fn choice_logprobs(
        &self,
        messages: &[Message],
        options: &[String],
    ) -> Result<ChoiceLogprobs> {
        ChoiceLogprobs::check_options(options)?;
        if messages.is_empty() {
            return Err(Error::Invalid("no messages".into()));
        }
        let body = self.choice_body(messages);
        if self.defer_to.is_some() {
            let req = choice_request(messages, options);
            let pending = PendingRequest {
                body,
                options: Some(options.to_vec()),
            };
            return Err(self.defer("choice_logprobs", &req, pending)?);
        }
        let answer = self
            .transport
            .post(CHAT_PATH, &body, estimate_tokens(messages, 1))
            .await?;
        match parse_choice(answer, options).map_err(|e| self.redacted(e))? {
            Some(c) => Ok(c),
            None => self.choice_by_sampling(messages, options).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chat-completion body in the shape llama.cpp's server returns.
    fn body(top: &[(&str, f64)]) -> Value {
        json!({
            "id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "length",
                "message": {"role": "assistant", "content": top[0].0},
                "logprobs": {"content": [{"token": top[0].0, "logprob": top[0].1, "bytes": null,
                    "top_logprobs": top.iter().map(|(t, l)| json!({"token": t, "logprob": l, "bytes": null})).collect::<Vec<_>>()}]}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}
        })
    }

    #[test]
    fn choice_sums_whitespace_variants_and_marks_absent_options() {
        let b = body(&[("A", -0.5), (" A", -2.0), ("B", -1.5), ("C", -3.0)]);
        let opts = vec!["A".to_string(), "B".to_string(), "D".to_string()];
        let c = parse_choice(b, &opts).unwrap().unwrap();
        // log(exp(-0.5) + exp(-2.0)) = -0.29858672201724756 (python: math.log(math.exp(-.5)+math.exp(-2)))
        assert!((c.logprobs[0] - (-0.298_586_722_017)).abs() < 1e-6, "{c:?}");
        assert!((c.logprobs[1] - (-1.5)).abs() < 1e-6);
        assert_eq!(c.logprobs[2], NOT_IN_TOP_LOGPROBS);
        assert!((c.normalised.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(c.sampled, None);
    }

    #[test]
    fn completion_fields_are_read() {
        let c = parse_completion(body(&[("Hi", -0.25)])).unwrap();
        assert_eq!(c.text, "Hi");
        assert_eq!(c.finish_reason, FinishReason::Length);
        assert_eq!((c.prompt_tokens, c.completion_tokens), (7, 1));
        assert_eq!(c.logprobs.unwrap()[0].top[0], ("Hi".to_string(), -0.25));
        let bad = parse_completion(json!({"choices": "nope"})).unwrap_err();
        assert!(bad.to_string().contains("not a chat completion"), "{bad}");
    }

    /// A tool call as the chat-completions reference documents it
    /// (platform.openai.com/docs/api-reference/chat/object: `message.tool_calls`
    /// with `function.arguments` a JSON string) becomes the completion's text.
    #[test]
    fn a_tool_call_is_the_text() {
        let call = |arguments: &str| {
            json!({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null,
                    "message": {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "submit_choice", "arguments": arguments}}]}}]})
        };
        let c = parse_completion(call("{\"choice\": \"Task B\"}")).unwrap();
        let v: Value = serde_json::from_str(&c.text).unwrap();
        assert_eq!(
            v,
            json!({"name": "submit_choice", "arguments": {"choice": "Task B"}})
        );
        assert_eq!(c.finish_reason, FinishReason::Stop);
        // Arguments that are not JSON are kept as written.
        let c = parse_completion(call("choice=B")).unwrap();
        let v: Value = serde_json::from_str(&c.text).unwrap();
        assert_eq!(v, json!({"name": "submit_choice", "arguments": "choice=B"}));
    }
}
