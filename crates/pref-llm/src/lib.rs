#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod cache;
pub mod error;
pub mod model;
pub mod spec;
pub mod types;

#[cfg(feature = "candle")]
pub mod embed;
#[cfg(feature = "llama")]
pub mod hidden;
#[cfg(feature = "llama")]
pub mod jinja;
#[cfg(feature = "llama")]
pub mod llama;
#[cfg(feature = "openai")]
pub mod openai;

pub use cache::{CacheStats, CachedModel, ModelCache};
pub use error::{Error, Result};
pub use model::{LanguageModel, ModelId};
pub use spec::{Backend, ModelSpec};
pub use types::{
    parse_label, ChoiceLogprobs, Completion, ConversationStates, FinishReason, HiddenStates,
    Message, Pooling, Position, Role, SamplingParams, TokenLogprob, TokenLogprobs,
};
