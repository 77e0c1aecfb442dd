//! The model trait every study calls, and the content-addressed model id.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::types::{
    ChoiceLogprobs, Completion, ConversationStates, HiddenStates, Message, Pooling, Position,
    SamplingParams, TokenLogprobs,
};

/// Content-addressed identity of a model: backend kind + name + (local files)
/// the file's sha256 + (HTTP) the base URL. Part of every cache key and record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelId {
    /// Backend kind: `llama.cpp`, `openai`, `candle`.
    pub backend: String,
    /// Model name (embedded name, file stem, or the served model name).
    pub name: String,
    /// sha256 of the model file, for local models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Base URL, for HTTP backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Backend settings that change outputs (chat template, determinism settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.backend, self.name)?;
        if let Some(h) = &self.sha256 {
            write!(f, "@{}", &h[..h.len().min(12)])?;
        }
        if let Some(u) = &self.base_url {
            write!(f, "@{u}")?;
        }
        if let Some(v) = &self.variant {
            write!(f, "[{v}]")?;
        }
        Ok(())
    }
}

/// A language model. Every study calls models only through this trait, so the
/// same study runs on the embedded llama.cpp model or any OpenAI-compatible
/// endpoint; wrap any implementation in [`crate::cache::CachedModel`] to cache it.
#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// The model's content-addressed id.
    fn id(&self) -> &ModelId;

    /// Generates a completion of a chat.
    async fn generate(&self, messages: &[Message], params: &SamplingParams) -> Result<Completion>;

    /// Teacher forcing: log p of each token of `continuation` written by the
    /// assistant after the chat-templated `prompt`.
    async fn score(&self, prompt: &[Message], continuation: &str) -> Result<TokenLogprobs>;

    /// Log-probabilities of option labels (e.g. `A`/`B`) as the assistant's answer.
    async fn choice_logprobs(
        &self,
        messages: &[Message],
        options: &[String],
    ) -> Result<ChoiceLogprobs>;

    /// Residual-stream activations at `layers` for the chat-templated `messages`
    /// (local backends only).
    async fn hidden_states(
        &self,
        messages: &[Message],
        layers: &[usize],
        pooling: Pooling,
    ) -> Result<HiddenStates> {
        let _ = (messages, layers, pooling);
        Err(Error::Unsupported {
            backend: self.id().backend.clone(),
            what: "hidden states".into(),
        })
    }

    /// Residual-stream activations of a completed conversation, `prompt` then
    /// `answer` as the assistant's turn, at `layers` and `positions` (local
    /// backends only; never cached: a study writes them out as it goes).
    async fn conversation_states(
        &self,
        prompt: &[Message],
        answer: &str,
        layers: &[usize],
        positions: &[Position],
    ) -> Result<ConversationStates> {
        let _ = (prompt, answer, layers, positions);
        Err(Error::Unsupported {
            backend: self.id().backend.clone(),
            what: "hidden states".into(),
        })
    }

    /// The context window in tokens, when the backend knows it (the embedded
    /// backend: its `n_ctx`); `None` for endpoints, whose servers check it.
    fn context_tokens(&self) -> Option<usize> {
        None
    }

    /// The number of transformer layers whose activations
    /// [`LanguageModel::conversation_states`] can read (`0..n`), when the
    /// backend exposes hidden states (the embedded backend); `None` otherwise.
    /// Studies use it to turn a relative depth (0.5 = half-way) into a layer.
    fn n_layers(&self) -> Option<usize> {
        None
    }

    /// The width of those activations (the model's hidden size), when the
    /// backend exposes hidden states; `None` otherwise.
    fn hidden_size(&self) -> Option<usize> {
        None
    }

    /// A fingerprint of the tokenizer (the embedded backend: sha256 of its
    /// vocabulary), when the backend knows it; `None` otherwise. Teacher
    /// forcing one model's text under another compares log-probabilities over
    /// the same tokens only when the fingerprints are equal.
    fn tokenizer_id(&self) -> Option<String> {
        None
    }

    /// The number of tokens of the chat-templated `messages` with the
    /// assistant's turn opened, when the backend can count them without a model
    /// call (the embedded backend); `None` otherwise. Studies use it with
    /// [`LanguageModel::context_tokens`] to refuse prompts that cannot fit
    /// before the first model call.
    async fn prompt_tokens(&self, messages: &[Message]) -> Result<Option<usize>> {
        let _ = messages;
        Ok(None)
    }

    /// Generates completions for many requests; backends that can batch override it.
    async fn generate_batch(
        &self,
        requests: &[(Vec<Message>, SamplingParams)],
    ) -> Result<Vec<Completion>> {
        let mut out = Vec::with_capacity(requests.len());
        for (m, p) in requests {
            out.push(self.generate(m, p).await?);
        }
        Ok(out)
    }
}

/// A boxed model is a model (so `CachedModel<Box<dyn LanguageModel>>` works for a
/// backend chosen at run time).
#[async_trait]
impl<T: LanguageModel + ?Sized> LanguageModel for Box<T> {
    fn id(&self) -> &ModelId {
        (**self).id()
    }

    async fn generate(&self, messages: &[Message], params: &SamplingParams) -> Result<Completion> {
        (**self).generate(messages, params).await
    }

    async fn score(&self, prompt: &[Message], continuation: &str) -> Result<TokenLogprobs> {
        (**self).score(prompt, continuation).await
    }

    async fn choice_logprobs(
        &self,
        messages: &[Message],
        options: &[String],
    ) -> Result<ChoiceLogprobs> {
        (**self).choice_logprobs(messages, options).await
    }

    async fn hidden_states(
        &self,
        messages: &[Message],
        layers: &[usize],
        pooling: Pooling,
    ) -> Result<HiddenStates> {
        (**self).hidden_states(messages, layers, pooling).await
    }

    async fn conversation_states(
        &self,
        prompt: &[Message],
        answer: &str,
        layers: &[usize],
        positions: &[Position],
    ) -> Result<ConversationStates> {
        (**self)
            .conversation_states(prompt, answer, layers, positions)
            .await
    }

    fn context_tokens(&self) -> Option<usize> {
        (**self).context_tokens()
    }

    fn n_layers(&self) -> Option<usize> {
        (**self).n_layers()
    }

    fn hidden_size(&self) -> Option<usize> {
        (**self).hidden_size()
    }

    fn tokenizer_id(&self) -> Option<String> {
        (**self).tokenizer_id()
    }

    async fn prompt_tokens(&self, messages: &[Message]) -> Result<Option<usize>> {
        (**self).prompt_tokens(messages).await
    }

    async fn generate_batch(
        &self,
        requests: &[(Vec<Message>, SamplingParams)],
    ) -> Result<Vec<Completion>> {
        (**self).generate_batch(requests).await
    }
}
