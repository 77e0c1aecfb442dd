//! Requests and responses shared by every backend.

use serde::{Deserialize, Serialize};

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System instructions.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role's name as chat templates spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Speaker.
    pub role: Role,
    /// Text.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Per-request sampling parameters. Every field is part of the cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// Maximum number of generated tokens.
    pub max_tokens: u32,
    /// 0 = greedy (deterministic, seed ignored); > 0 samples with `seed`.
    pub temperature: f32,
    /// Nucleus sampling threshold (1 = off).
    pub top_p: f32,
    /// Top-k cut-off (0 = off).
    pub top_k: u32,
    /// Seed for temperature > 0. Callers drawing K samples use K distinct seeds
    /// (e.g. `base_seed + sample_index`) so each sample is its own cache entry.
    pub seed: u64,
    /// Return per-token log-probabilities of the generated tokens.
    pub logprobs: bool,
    /// Number of top alternatives per position when `logprobs` is set (0–20).
    pub top_logprobs: u32,
    /// Stop when one of these strings is generated (not included in the text).
    pub stop: Vec<String>,
    /// Functions the model may call, each an OpenAI `tools` entry
    /// (`{"type": "function", "function": {"name", "description", "parameters"}}`).
    /// Sent to endpoints only, with `tool_choice: "required"`; the embedded
    /// backend refuses them (it reads a tool-call format's answer from
    /// log-probabilities instead). A call the endpoint returns becomes the
    /// completion's text as `{"name": …, "arguments": {…}}`. Empty: no tools
    /// (and nothing added to the cache key).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            seed: 0,
            logprobs: false,
            top_logprobs: 0,
            stop: Vec::new(),
            tools: Vec::new(),
        }
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// End-of-turn token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
}

/// Log-probability of one token with its top alternatives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The token's text.
    pub token: String,
    /// Its log-probability (natural log, temperature 1).
    pub logprob: f64,
    /// The most likely tokens at this position, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<(String, f64)>,
}

/// A generated completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Generated text.
    pub text: String,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// Number of prompt tokens.
    pub prompt_tokens: u32,
    /// Number of generated tokens.
    pub completion_tokens: u32,
    /// Per-token log-probabilities, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<TokenLogprob>>,
}

/// Teacher-forced log-probabilities of a given continuation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprobs {
    /// Sum over the continuation's tokens.
    pub sum_logprob: f64,
    /// log p of each continuation token given everything before it.
    pub token_logprobs: Vec<f64>,
    /// The continuation's tokens as text.
    pub tokens: Vec<String>,
}

/// Log-probabilities of option labels at the answer position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceLogprobs {
    /// The options, in request order.
    pub options: Vec<String>,
    /// Raw log p of each option (sum over its tokens when it has several).
    pub logprobs: Vec<f64>,
    /// Probabilities renormalised over the options (they sum to 1).
    pub normalised: Vec<f64>,
    /// `Some(K)` when the endpoint gave no log-probs and the probabilities were
    /// estimated from K sampled answers (add-½ smoothed frequencies); `None` when
    /// they are the model's own log-probs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled: Option<u32>,
}

impl ChoiceLogprobs {
    /// Checks the options of a choice request, as every backend does before asking:
    /// at least two, none empty (or only whitespace), none repeated (a repeated
    /// option would split its probability between two entries).
    pub fn check_options(options: &[String]) -> crate::Result<()> {
        if options.len() < 2 {
            return Err(crate::Error::Invalid(format!(
                "a choice needs at least two options, got {}",
                options.len()
            )));
        }
        if let Some(i) = options.iter().position(|o| o.trim().is_empty()) {
            return Err(crate::Error::Invalid(format!("option {i} is empty")));
        }
        for (j, o) in options.iter().enumerate() {
            if let Some(i) = options[..j].iter().position(|p| p == o) {
                return Err(crate::Error::Invalid(format!(
                    "option `{}` is given twice (options {i} and {j}): options must differ",
                    pref_data::quote(o)
                )));
            }
        }
        Ok(())
    }

    /// Builds the normalised probabilities from raw log-probs (log-sum-exp, max-shifted).
    pub fn from_logprobs(options: Vec<String>, logprobs: Vec<f64>) -> Self {
        let m = logprobs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logprobs.iter().map(|l| (l - m).exp()).sum();
        let normalised = logprobs.iter().map(|l| (l - m).exp() / z).collect();
        Self {
            options,
            logprobs,
            normalised,
            sampled: None,
        }
    }
}

/// How to reduce per-token activations to one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The last token's activation.
    Last,
    /// The mean over all tokens.
    Mean,
}

/// Where in a completed conversation (a prompt and the assistant's answer) an
/// activation is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    /// The conversation's last token, as the chat template closes the answer
    /// (the seed study's position).
    Last,
    /// The prompt's last token, just before the answer: the end of the
    /// assistant turn's opening.
    TurnBoundary,
    /// The mean over the answer's own tokens (accumulated in f64).
    AnswerMean,
}

/// Activations of one completed conversation at several layers and positions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationStates {
    /// The layers, as requested.
    pub layers: Vec<usize>,
    /// The positions, as requested.
    pub positions: Vec<Position>,
    /// `values[p][l]`: the activation at `positions[p]` of `layers[l]`.
    pub values: Vec<Vec<Vec<f32>>>,
    /// Tokens of the whole conversation.
    pub n_tokens: usize,
    /// Tokens of the prompt (with the assistant turn's opening); the
    /// [`Position::TurnBoundary`] row is `n_prompt_tokens − 1`.
    pub n_prompt_tokens: usize,
    /// Tokens of the answer: rows `n_prompt_tokens .. n_prompt_tokens + n_answer_tokens`.
    pub n_answer_tokens: usize,
    /// Token id at [`Position::Last`].
    pub last_token: i32,
    /// Token id at [`Position::TurnBoundary`].
    pub boundary_token: i32,
}

/// Residual-stream activations of one input at several layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HiddenStates {
    /// The layers, as requested.
    pub layers: Vec<usize>,
    /// One pooled vector per layer (`values[i]` belongs to `layers[i]`).
    pub values: Vec<Vec<f32>>,
    /// Number of tokens the input had.
    pub n_tokens: usize,
}

/// Strict reading of a generated answer that should be one of `labels`: the
/// label alone, optionally wrapped in `**…**`, followed by `.`, `)` or `:`, or
/// preceded by one of `prefixes` (e.g. `"Task "`). Returns the label's index;
/// anything else (prose, two labels, another case) is `None`, i.e. unparseable.
pub fn parse_label(text: &str, labels: &[String], prefixes: &[&str]) -> Option<usize> {
    let mut t = text.trim().trim_matches('*').trim();
    t = t.trim_end_matches(['.', ')', ':']).trim();
    for prefix in prefixes {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.trim();
        }
    }
    labels.iter().position(|l| l.trim() == t)
}
