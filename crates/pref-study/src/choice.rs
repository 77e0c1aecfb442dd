//! Two-option questions ("which of these two…? Answer with A or B only"), the
//! question under the `utility` elicitation, the self-preference judge and the
//! studies built on them: ask once, read the answer from the labels'
//! log-probabilities or from a generated text (strict parser), and say which
//! shown option won. See `docs/architecture.md`.

use pref_llm::{LanguageModel, Message, SamplingParams};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Tokens a text answer may take (a label, perhaps after a word such as `Task`).
pub const TEXT_ANSWER_TOKENS: u32 = 8;

/// How an answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// Log-probabilities of the labels at the answer position (one call).
    Logprobs,
    /// A generated answer, read by a strict parser (unparseable answers are kept).
    Text,
}

/// Which shown option an answer picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Picked {
    /// The option shown first.
    First,
    /// The option shown second.
    Second,
    /// Neither: equal log-probabilities.
    Tie,
}

/// One answer to a two-option question.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoWayAnswer {
    /// What was picked; `None` when a text answer is unparseable.
    pub picked: Option<Picked>,
    /// The raw answer: the text, or `A: -0.123456, B: -1.234567` for log-probs.
    pub raw: String,
    /// Log-probs of the (first, second) label (log-prob answers).
    pub logprobs: Option<(f64, f64)>,
    /// Probability of the first label renormalised over the two (log-prob answers).
    pub first_prob: Option<f64>,
}

/// Reads a text answer: `Some(0)` the first label, `Some(1)` the second,
/// `None` unparseable.
pub type TextParser<'a> = dyn Fn(&str) -> Option<usize> + Sync + 'a;

/// How to ask a two-option question.
#[derive(Clone)]
pub struct TwoWayQuestion<'a> {
    /// The two labels, first-shown first.
    pub labels: &'a [String; 2],
    /// How the answer is read.
    pub mode: AnswerMode,
    /// Words a strict text answer may put before the label (`"Task "`).
    pub prefixes: &'a [&'a str],
    /// Text answers: temperature (0 = greedy).
    pub temperature: f32,
    /// Text answers: sampling seed (the sample index).
    pub seed: u64,
    /// Text answers: a parser to use instead of the strict label parser
    /// (`Some(0)` first label, `Some(1)` second, `None` unparseable); for
    /// answers in a format such as `<choice>Task A</choice>`.
    pub parse: Option<&'a TextParser<'a>>,
    /// Text answers: tokens at most ([`TEXT_ANSWER_TOKENS`] for a bare label).
    pub max_tokens: u32,
    /// Text answers: functions the endpoint's tools API offers (empty: none);
    /// a call comes back as the text `{"name": …, "arguments": {…}}` for `parse`.
    pub tools: &'a [serde_json::Value],
}

impl TwoWayQuestion<'_> {
    /// Asks `messages` of `lm` and reads the answer.
    pub async fn ask<M: LanguageModel + ?Sized>(
        &self,
        lm: &M,
        messages: &[Message],
    ) -> Result<TwoWayAnswer> {
        let [l1, l2] = self.labels;
        match self.mode {
            AnswerMode::Logprobs => {
                let c = lm.choice_logprobs(messages, self.labels).await?;
                let (a, b) = (c.logprobs[0], c.logprobs[1]);
                let picked = if a > b {
                    Picked::First
                } else if b > a {
                    Picked::Second
                } else {
                    Picked::Tie
                };
                Ok(TwoWayAnswer {
                    picked: Some(picked),
                    raw: format!("{l1}: {a:.6}, {l2}: {b:.6}"),
                    logprobs: Some((a, b)),
                    first_prob: Some(c.normalised[0]),
                })
            }
            AnswerMode::Text => {
                let params = SamplingParams {
                    max_tokens: self.max_tokens,
                    temperature: self.temperature,
                    seed: self.seed,
                    tools: self.tools.to_vec(),
                    ..SamplingParams::default()
                };
                let c = lm.generate(messages, &params).await?;
                let parsed = match self.parse {
                    Some(parse) => parse(&c.text),
                    None => pref_llm::parse_label(&c.text, self.labels, self.prefixes),
                };
                let picked = parsed.map(|k| {
                    if k == 0 {
                        Picked::First
                    } else {
                        Picked::Second
                    }
                });
                Ok(TwoWayAnswer {
                    picked,
                    raw: c.text,
                    logprobs: None,
                    first_prob: None,
                })
            }
        }
    }
}

/// `messages` after a system message, when there is one.
pub fn with_system(system: Option<&str>, messages: Vec<Message>) -> Vec<Message> {
    match system {
        Some(s) => std::iter::once(Message::system(s.to_string()))
            .chain(messages)
            .collect(),
        None => messages,
    }
}
