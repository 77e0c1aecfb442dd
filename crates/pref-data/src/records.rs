//! Record types shared by every pref crate (`docs/data-formats.md`).
//!
//! Field names are part of the file formats: they match the design document and,
//! for [`LoggedSample`], the CJE reference library, so users can bring their files
//! unchanged. Unknown fields are ignored on input (forward compatibility), and
//! [`Record::validate`] checks what serde cannot (finite numbers, a ≠ b, …).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::quote;

/// A record type that pref reads and writes.
pub trait Record: Serialize + for<'de> Deserialize<'de> {
    /// Human-readable name used in error messages ("Battle", "Task", …).
    const KIND: &'static str;

    /// Checks invariants that serde does not. On failure returns the offending
    /// field and what is wrong with it.
    fn validate(&self) -> std::result::Result<(), FieldError> {
        Ok(())
    }
}

/// A validation failure of one field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Name (or dotted path) of the field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// Creates a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn finite(field: &str, x: f64) -> std::result::Result<(), FieldError> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be a finite number, got {x}"),
        ))
    }
}

/// A finite log-probability: ≤ 0 (a positive value is not a log-probability).
fn logprob(field: &str, x: f64) -> std::result::Result<(), FieldError> {
    finite(field, x)?;
    if x > 0.0 {
        return Err(FieldError::new(
            field,
            format!("must be a log-probability ≤ 0, got {x}"),
        ));
    }
    Ok(())
}

/// A finite number in [0, 1] (judge scores and oracle labels).
fn unit_interval(field: &str, x: f64) -> std::result::Result<(), FieldError> {
    finite(field, x)?;
    if !(0.0..=1.0).contains(&x) {
        return Err(FieldError::new(
            field,
            format!("must lie in [0, 1], got {x}"),
        ));
    }
    Ok(())
}

fn non_empty(field: &str, s: &str) -> std::result::Result<(), FieldError> {
    if s.is_empty() {
        Err(FieldError::new(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// One item a model is asked about: a task prompt, an article to summarise, an outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Stable identifier, unique within a data set.
    pub id: String,
    /// Where the task comes from (`alpaca`, `math`, `wildchat`, …).
    pub source: String,
    /// The text shown to the model.
    pub prompt: String,
    /// A reference answer or summary, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Source-specific extra fields (subject, level, category, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
}

impl Record for Task {
    const KIND: &'static str = "Task";
    fn validate(&self) -> std::result::Result<(), FieldError> {
        non_empty("id", &self.id)?;
        non_empty("prompt", &self.prompt)
    }
}

/// Presentation order of a pairwise question: `ab` shows `a` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// `a` is shown as the first option.
    Ab,
    /// `b` is shown as the first option.
    Ba,
}

/// The option a model chose, in terms of the pair's `a`/`b` (not the position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    /// Item `a` was preferred.
    A,
    /// Item `b` was preferred.
    B,
    /// The model expressed no preference.
    Tie,
}

/// One elicited pairwise choice.
///
/// `choice = None` (JSON `null`) means the answer could not be parsed; such
/// records are kept, counted and reported, never dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Id of the first item of the pair.
    pub a: String,
    /// Id of the second item of the pair.
    pub b: String,
    /// Presentation order.
    pub order: Order,
    /// Parsed choice; `None` when unparseable.
    pub choice: Option<Choice>,
    /// The raw model output the choice was read from.
    pub raw: String,
    /// Log-probability of the label that stands for `a`, when read from log-probs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprob_a: Option<f64>,
    /// Log-probability of the label that stands for `b`, when read from log-probs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprob_b: Option<f64>,
    /// Content-addressed model id.
    pub model: String,
    /// Name of the prompt template.
    pub template: String,
    /// Sample index (0..K) for repeated sampling.
    pub sample: u32,
}

impl Comparison {
    /// The first-shown option's score in this answer: 1 when it was chosen, 0 when
    /// the other one was, ½ for a tie, `None` when the answer is unparseable.
    ///
    /// This is pref's one definition of "the first-shown option wins": position
    /// bias everywhere (`pref inspect`, `pref_utility::position_bias`, the judge
    /// statistics' `first_option_rate`) is the mean of this score over the parseable
    /// answers, ties counting ½ (see `docs/data-formats.md`).
    pub fn first_shown_score(&self) -> Option<f64> {
        let a = self.choice?.score_a();
        Some(match self.order {
            Order::Ab => a,
            Order::Ba => 1.0 - a,
        })
    }
}

impl Choice {
    /// The score of `a`: 1, 0, or ½ for a tie.
    pub fn score_a(self) -> f64 {
        match self {
            Choice::A => 1.0,
            Choice::B => 0.0,
            Choice::Tie => 0.5,
        }
    }
}

impl Record for Comparison {
    const KIND: &'static str = "Comparison";
    fn validate(&self) -> std::result::Result<(), FieldError> {
        non_empty("a", &self.a)?;
        non_empty("b", &self.b)?;
        if self.a == self.b {
            return Err(FieldError::new(
                "b",
                format!("compares `{}` with itself", quote(&self.a)),
            ));
        }
        for (f, v) in [("logprob_a", self.logprob_a), ("logprob_b", self.logprob_b)] {
            if let Some(v) = v {
                if v.is_nan() || v > 0.0 {
                    return Err(FieldError::new(
                        f,
                        format!("must be a log-probability ≤ 0, got {v}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Aggregated outcomes of comparisons between `a` and `b`, the input of every fit.
///
/// Read from either `{a, b, count_a, count_b}` or `{a, b, p_a, n}`; written in
/// the count form. Counts are real numbers because a tie adds ½ to each side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PairCountsRepr")]
pub struct PairCounts {
    /// First item.
    pub a: String,
    /// Second item.
    pub b: String,
    /// Times `a` was preferred.
    pub count_a: f64,
    /// Times `b` was preferred.
    pub count_b: f64,
}

impl PairCounts {
    /// Total number of comparisons.
    pub fn n(&self) -> f64 {
        self.count_a + self.count_b
    }
    /// Share of comparisons won by `a` (NaN when `n = 0`).
    pub fn p_a(&self) -> f64 {
        self.count_a / self.n()
    }
}

#[derive(Deserialize)]
struct PairCountsRepr {
    a: String,
    b: String,
    count_a: Option<f64>,
    count_b: Option<f64>,
    p_a: Option<f64>,
    n: Option<f64>,
}

impl TryFrom<PairCountsRepr> for PairCounts {
    type Error = String;
    fn try_from(r: PairCountsRepr) -> std::result::Result<Self, String> {
        let (count_a, count_b) = match (r.count_a, r.count_b, r.p_a, r.n) {
            (Some(ca), Some(cb), None, None) => (ca, cb),
            (None, None, Some(p), Some(n)) => {
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!("p_a: must lie in [0, 1], got {p}"));
                }
                (p * n, (1.0 - p) * n)
            }
            _ => {
                return Err(
                    "expected either `count_a` and `count_b`, or `p_a` and `n` (not a mix)"
                        .to_string(),
                )
            }
        };
        Ok(PairCounts {
            a: r.a,
            b: r.b,
            count_a,
            count_b,
        })
    }
}

impl Record for PairCounts {
    const KIND: &'static str = "PairCounts";
    fn validate(&self) -> std::result::Result<(), FieldError> {
        non_empty("a", &self.a)?;
        non_empty("b", &self.b)?;
        if self.a == self.b {
            return Err(FieldError::new(
                "b",
                format!("pairs `{}` with itself", quote(&self.a)),
            ));
        }
        for (f, v) in [("count_a", self.count_a), ("count_b", self.count_b)] {
            finite(f, v)?;
            if v < 0.0 {
                return Err(FieldError::new(f, format!("must be ≥ 0, got {v}")));
            }
        }
        Ok(())
    }
}

/// Outcome of an Arena-style battle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Winner {
    /// `a` won (FastChat: `model_a`).
    #[serde(rename = "a", alias = "model_a")]
    A,
    /// `b` won (FastChat: `model_b`).
    #[serde(rename = "b", alias = "model_b")]
    B,
    /// A tie (FastChat: `tie` or `tie (bothbad)`).
    #[serde(rename = "tie", alias = "tie (bothbad)")]
    Tie,
}

impl Winner {
    /// The score of `a`: 1, 0, or ½ for a tie. In a judge decision `model_a` is
    /// the output shown first, so this is the first-shown option's score
    /// ([`Comparison::first_shown_score`]).
    pub fn score_a(self) -> f64 {
        match self {
            Winner::A => 1.0,
            Winner::B => 0.0,
            Winner::Tie => 0.5,
        }
    }

    /// Parses the project's and FastChat's spellings.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "a" | "model_a" => Some(Self::A),
            "b" | "model_b" => Some(Self::B),
            "tie" | "tie (bothbad)" => Some(Self::Tie),
            _ => None,
        }
    }
    /// The project's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "a",
            Self::B => "b",
            Self::Tie => "tie",
        }
    }
    /// Expected spellings, for error messages.
    pub const EXPECTED: &'static str =
        "one of `a`, `b`, `tie`, `model_a`, `model_b`, `tie (bothbad)`";
}

/// One Arena-style battle between two models.
///
/// Reads both the project's `{a, b, winner}` and FastChat/LMArena's
/// `{model_a, model_b, winner}` (extra fields such as `judge` are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Battle {
    /// First model.
    #[serde(alias = "model_a")]
    pub a: String,
    /// Second model.
    #[serde(alias = "model_b")]
    pub b: String,
    /// Who won.
    pub winner: Winner,
}

impl Record for Battle {
    const KIND: &'static str = "Battle";
    fn validate(&self) -> std::result::Result<(), FieldError> {
        non_empty("a", &self.a)?;
        non_empty("b", &self.b)?;
        if self.a == self.b {
            return Err(FieldError::new(
                "b",
                format!("self-battle: `{}` against itself", quote(&self.a)),
            ));
        }
        Ok(())
    }
}

/// One decision of an LLM judge between two authors' outputs for the same question.
///
/// FastChat's judgment fields `{question_id, model_a, model_b, winner, judge}` plus
/// the presentation `order` (`"forward"`/`"backward"`, informational) and
/// `choice_prob`, the probability the judge gave to the option it chose. `model_a`
/// is the output shown **first**. `winner` reads `model_a`, `model_b`, `tie`,
/// `tie (bothbad)`, `a` or `b` and is written in FastChat's spelling (`model_a`,
/// `model_b`, `tie`); `question_id` may be a string or an integer (MT-Bench).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeDecision {
    /// The question (article, prompt) both outputs answer; the bootstrap cluster.
    #[serde(deserialize_with = "string_or_integer")]
    pub question_id: String,
    /// Author of the output shown first.
    pub model_a: String,
    /// Author of the output shown second.
    pub model_b: String,
    /// Which output the judge chose.
    #[serde(serialize_with = "winner_fastchat")]
    pub winner: Winner,
    /// The judge model.
    pub judge: String,
    /// Presentation order label (`forward` / `backward`), informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Probability the judge gave to the option it chose, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_prob: Option<f64>,
}

impl JudgeDecision {
    /// The author whose output won, or `None` for a tie.
    pub fn winner_model(&self) -> Option<&str> {
        match self.winner {
            Winner::A => Some(&self.model_a),
            Winner::B => Some(&self.model_b),
            Winner::Tie => None,
        }
    }
}

/// Writes a winner in FastChat's spelling.
fn winner_fastchat<S: serde::Serializer>(w: &Winner, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match w {
        Winner::A => "model_a",
        Winner::B => "model_b",
        Winner::Tie => "tie",
    })
}

/// Reads a string, or an integer as its decimal string.
fn string_or_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or an integer")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

impl Record for JudgeDecision {
    const KIND: &'static str = "JudgeDecision";
    fn validate(&self) -> std::result::Result<(), FieldError> {
        non_empty("question_id", &self.question_id)?;
        non_empty("model_a", &self.model_a)?;
        non_empty("model_b", &self.model_b)?;
        non_empty("judge", &self.judge)?;
        if self.model_a == self.model_b {
            return Err(FieldError::new(
                "model_b",
                format!("compares `{}` with itself", quote(&self.model_a)),
            ));
        }
        if let Some(p) = self.choice_prob {
            unit_interval("choice_prob", p)?;
        }
        Ok(())
    }
}

/// One logged response for causal judge evaluation (field names as the CJE library).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedSample {
    /// Prompt identifier (the cluster for cluster-robust intervals).
    pub prompt_id: String,
    /// Prompt text.
    pub prompt: String,
    /// Response of the logging policy.
    pub response: String,
    /// log p of the response under the logging (base) policy.
    pub base_policy_logprob: f64,
    /// log p of the same response under each target policy.
    pub target_policy_logprobs: BTreeMap<String, f64>,
    /// Judge score of the response, in [0, 1].
    pub judge_score: f64,
    /// Oracle label in [0, 1], for the rows that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_label: Option<f64>,
    /// Anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

impl Record for LoggedSample {
    const KIND: &'static str = "LoggedSample";
    fn validate(&self) -> std::result::Result<(), FieldError> {
        non_empty("prompt_id", &self.prompt_id)?;
        logprob("base_policy_logprob", self.base_policy_logprob)?;
        for (policy, lp) in &self.target_policy_logprobs {
            logprob(&format!("target_policy_logprobs.{}", quote(policy)), *lp)?;
        }
        unit_interval("judge_score", self.judge_score)?;
        if let Some(o) = self.oracle_label {
            unit_interval("oracle_label", o)?;
        }
        Ok(())
    }
}

/// A fitted utility: mean and scale (Thurstonian μ and σ).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MuSigma {
    /// Mean utility.
    pub mu: f64,
    /// Its scale.
    pub sigma: f64,
}

/// One elicitation run of a robustness design: its factor levels and its
/// fitted utilities (the format of `pref robustness --runs`; see
/// `docs/robustness.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UtilityRunRecord {
    /// The run's name (unique in a file).
    pub run: String,
    /// Factor name → level (strings, compared exactly).
    pub factors: BTreeMap<String, String>,
    /// Item id → utility.
    pub utilities: BTreeMap<String, MuSigma>,
}

impl Record for UtilityRunRecord {
    const KIND: &'static str = "UtilityRun";
    fn validate(&self) -> std::result::Result<(), FieldError> {
        non_empty("run", &self.run)?;
        for (item, u) in &self.utilities {
            non_empty("utilities", item)?;
            finite(&format!("utilities.{item}.mu"), u.mu)?;
            finite(&format!("utilities.{item}.sigma"), u.sigma)?;
            if u.sigma < 0.0 {
                return Err(FieldError::new(
                    format!("utilities.{item}.sigma"),
                    format!("must be ≥ 0, got {}", u.sigma),
                ));
            }
        }
        Ok(())
    }
}

/// Which of two shown items a pairwise question's answer chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chosen {
    /// The item in field `a`.
    A,
    /// The item in field `b`.
    B,
}

/// One recorded pairwise choice (the format of `pref transitivity
/// --comparisons`): `choice` is `null` for a refusal or an unparseable answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairChoice {
    /// One item (shown first, where the order is known).
    pub a: String,
    /// The other item.
    pub b: String,
    /// What was chosen (`null`: no choice).
    pub choice: Option<Chosen>,
}

impl Record for PairChoice {
    const KIND: &'static str = "PairChoice";
    fn validate(&self) -> std::result::Result<(), FieldError> {
        non_empty("a", &self.a)?;
        non_empty("b", &self.b)?;
        if self.a == self.b {
            return Err(FieldError::new(
                "b",
                format!("pairs `{}` with itself", quote(&self.a)),
            ));
        }
        Ok(())
    }
}
