//! Loaders for the public data sets the studies use, each turned into [`Task`]s.
//!
//! | loader | input | `id` | `prompt` | `reference` |
//! |---|---|---|---|---|
//! | [`load_alpaca`] | JSON array of `{instruction, input, output}` | `alpaca-<index>` | instruction (+ blank line + input) | output |
//! | [`load_math`] | JSONL `{problem, solution, answer, subject, level}` | `unique_id`, `id` or `math-<line>` | problem | answer |
//! | [`load_wildchat`] | JSONL with `conversation: [{role, content}]` or `first_user_message` | `conversation_id`, `id` or `wildchat-<line>` | first user turn | — |
//! | [`load_cnn_dailymail`] | JSONL `{article, highlights, id?, …}` | `id` or `cnndm-<line>` | article | highlights |
//! | [`load_arena_questions`] | arena-hard `question.jsonl` (`{uid, prompt}` or `{question_id, turns}`) | `uid` / `question_id` | prompt / first turn | — |
//! | [`load_outcomes`] | Utility Engineering `outcomes.jsonl` `{id, category, outcome}` | `outcome-<id>` | outcome | — |
//!
//! Source-specific fields go to `meta`. Every loader reports bad input as
//! `path:line: field: message`, and an empty file as an error.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::jsonl::{parse_json_array, parse_value, read_all, LineReader};
use crate::records::Task;

/// Reads JSON Lines rows of type `R`, mapping each to a task.
fn load_lines<R: DeserializeOwned>(
    path: &Path,
    kind: &'static str,
    mut to_task: impl FnMut(u64, R) -> std::result::Result<Option<Task>, (String, String)>,
) -> Result<Vec<Task>> {
    let mut lines = LineReader::open(path)?;
    let mut out = Vec::new();
    while let Some(l) = lines.next_line()? {
        let line = l.line;
        let row: R = parse_value(path, line, l.bytes, l.unterminated)?;
        let task = to_task(line, row).map_err(|(f, m)| Error::record(path, line, Some(f), m))?;
        out.extend(task);
    }
    if out.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            kind,
        });
    }
    Ok(out)
}

fn require(field: &str, s: String) -> std::result::Result<String, (String, String)> {
    if s.trim().is_empty() {
        Err((field.to_string(), "must not be empty".to_string()))
    } else {
        Ok(s)
    }
}

/// A string or integer id (data sets use both).
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyId {
    S(String),
    I(i64),
}

impl AnyId {
    fn into_string(self) -> String {
        match self {
            AnyId::S(s) => s,
            AnyId::I(i) => i.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct AlpacaRow {
    instruction: String,
    #[serde(default)]
    input: String,
    #[serde(default)]
    output: Option<String>,
}

/// Stanford Alpaca: a JSON array of `{instruction, input, output}`.
pub fn load_alpaca(path: impl AsRef<Path>) -> Result<Vec<Task>> {
    let path = path.as_ref();
    let bytes = read_all(path)?;
    let rows: Vec<(u64, AlpacaRow)> = parse_json_array(path, &bytes, "Alpaca")?;
    rows.into_iter()
        .enumerate()
        .map(|(i, (line, r))| {
            let instruction = require("instruction", r.instruction)
                .map_err(|(f, m)| Error::record(path, line, Some(f), m))?;
            let prompt = if r.input.trim().is_empty() {
                instruction
            } else {
                format!("{instruction}\n\n{}", r.input)
            };
            Ok(Task {
                id: format!("alpaca-{i}"),
                source: "alpaca".into(),
                prompt,
                reference: r.output,
                meta: None,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct MathRow {
    problem: String,
    #[serde(default)]
    solution: Option<String>,
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    level: Option<Value>,
    #[serde(default)]
    unique_id: Option<String>,
    #[serde(default)]
    id: Option<AnyId>,
}

/// MATH / MATH-500 JSON Lines: `{problem, solution, answer, subject, level}`.
pub fn load_math(path: impl AsRef<Path>) -> Result<Vec<Task>> {
    load_lines(path.as_ref(), "MATH", |line, r: MathRow| {
        let id = r
            .unique_id
            .or(r.id.map(AnyId::into_string))
            .unwrap_or_else(|| format!("math-{line}"));
        let mut meta = Map::new();
        if let Some(s) = r.subject {
            meta.insert("subject".into(), Value::String(s));
        }
        if let Some(l) = r.level {
            meta.insert("level".into(), l);
        }
        if let Some(s) = r.solution {
            meta.insert("solution".into(), Value::String(s));
        }
        Ok(Some(Task {
            id,
            source: "math".into(),
            prompt: require("problem", r.problem)?,
            reference: r.answer,
            meta: (!meta.is_empty()).then_some(Value::Object(meta)),
        }))
    })
}

#[derive(Deserialize)]
struct Turn {
    role: String,
    content: String,
}

#[derive(Deserialize)]
struct WildChatRow {
    #[serde(default)]
    conversation: Option<Vec<Turn>>,
    #[serde(default)]
    first_user_message: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    id: Option<AnyId>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

/// WildChat-style conversations: the first user turn of `conversation`
/// (`[{role, content}]`), or a `first_user_message` field.
///
/// Conversations whose first user turn is empty are skipped with a warning.
pub fn load_wildchat(path: impl AsRef<Path>) -> Result<Vec<Task>> {
    let path = path.as_ref();
    load_lines(path, "WildChat", |line, r: WildChatRow| {
        let prompt = match (r.conversation, r.first_user_message) {
            (Some(turns), _) => turns
                .into_iter()
                .find(|t| t.role == "user")
                .map(|t| t.content)
                .ok_or_else(|| ("conversation".to_string(), "has no user turn".to_string()))?,
            (None, Some(m)) => m,
            (None, None) => {
                return Err((
                    "conversation".to_string(),
                    "missing: expected `conversation` or `first_user_message`".to_string(),
                ))
            }
        };
        let id = r
            .conversation_id
            .or(r.id.map(AnyId::into_string))
            .unwrap_or_else(|| format!("wildchat-{line}"));
        let mut meta = Map::new();
        if let Some(l) = r.language {
            meta.insert("language".into(), Value::String(l));
        }
        if let Some(m) = r.model {
            meta.insert("model".into(), Value::String(m));
        }
        if prompt.trim().is_empty() {
            // Real WildChat has conversations whose first user turn is empty
            // (2 of the 500 in the shared sample): not a task, skipped loudly.
            tracing::warn!(
                "{}:{line}: skipping a conversation with an empty first user turn",
                path.display()
            );
            return Ok(None);
        }
        Ok(Some(Task {
            id,
            source: "wildchat".into(),
            prompt,
            reference: None,
            meta: (!meta.is_empty()).then_some(Value::Object(meta)),
        }))
    })
}

#[derive(Deserialize)]
struct CnnRow {
    article: String,
    #[serde(default)]
    highlights: Option<String>,
    #[serde(default)]
    id: Option<AnyId>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// CNN/DailyMail JSON Lines: `{article, highlights, id?}`; other fields
/// (e.g. recorded model summaries `summary_gpt4`) go to `meta`.
pub fn load_cnn_dailymail(path: impl AsRef<Path>) -> Result<Vec<Task>> {
    load_lines(path.as_ref(), "CNN/DailyMail", |line, r: CnnRow| {
        Ok(Some(Task {
            id: r
                .id
                .map(AnyId::into_string)
                .unwrap_or_else(|| format!("cnndm-{line}")),
            source: "cnn_dailymail".into(),
            prompt: require("article", r.article)?,
            reference: r.highlights,
            meta: (!r.rest.is_empty()).then_some(Value::Object(r.rest)),
        }))
    })
}

#[derive(Deserialize)]
struct ArenaContent {
    content: String,
}

#[derive(Deserialize)]
struct ArenaRow {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    question_id: Option<AnyId>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    turns: Option<Vec<ArenaContent>>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    subcategory: Option<String>,
}

/// arena-hard `question.jsonl`: `{uid, category, prompt}` (current) or
/// `{question_id, category, turns: [{content}]}` (original v0.1).
pub fn load_arena_questions(path: impl AsRef<Path>) -> Result<Vec<Task>> {
    load_lines(path.as_ref(), "arena-hard question", |_, r: ArenaRow| {
        let id = r
            .uid
            .or(r.question_id.map(AnyId::into_string))
            .ok_or_else(|| {
                (
                    "uid".to_string(),
                    "missing: expected `uid` or `question_id`".to_string(),
                )
            })?;
        let prompt = match (r.prompt, r.turns) {
            (Some(p), _) => p,
            (None, Some(t)) => t
                .into_iter()
                .next()
                .map(|c| c.content)
                .ok_or_else(|| ("turns".to_string(), "is empty".to_string()))?,
            (None, None) => {
                return Err((
                    "prompt".to_string(),
                    "missing: expected `prompt` or `turns`".to_string(),
                ))
            }
        };
        let meta =
            json!({"category": r.category, "cluster": r.cluster, "subcategory": r.subcategory});
        let meta: Map<String, Value> = meta
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Some(Task {
            id,
            source: "arena".into(),
            prompt: require("prompt", prompt)?,
            reference: None,
            meta: (!meta.is_empty()).then_some(Value::Object(meta)),
        }))
    })
}

#[derive(Deserialize)]
struct OutcomeRow {
    id: AnyId,
    outcome: String,
    #[serde(default)]
    category: Option<String>,
}

/// Utility Engineering outcomes: JSONL `{id, category, outcome}`.
pub fn load_outcomes(path: impl AsRef<Path>) -> Result<Vec<Task>> {
    load_lines(path.as_ref(), "outcome", |_, r: OutcomeRow| {
        Ok(Some(Task {
            id: format!("outcome-{}", r.id.into_string()),
            source: "emergent_values".into(),
            prompt: require("outcome", r.outcome)?,
            reference: None,
            meta: r.category.map(|c| json!({ "category": c })),
        }))
    })
}

/// The data sets [`load_tasks`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// pref's own `Task` records (JSONL, JSON array or Parquet).
    Tasks,
    /// [`load_alpaca`].
    Alpaca,
    /// [`load_math`].
    Math,
    /// [`load_wildchat`].
    WildChat,
    /// [`load_cnn_dailymail`].
    CnnDailyMail,
    /// [`load_arena_questions`].
    Arena,
    /// [`load_outcomes`].
    Outcomes,
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "tasks" | "task" => Source::Tasks,
            "alpaca" => Source::Alpaca,
            "math" => Source::Math,
            "wildchat" => Source::WildChat,
            "cnn_dailymail" | "cnn-dailymail" | "cnndm" => Source::CnnDailyMail,
            "arena" | "arena-hard" => Source::Arena,
            "outcomes" | "emergent-values" => Source::Outcomes,
            _ => {
                return Err(format!(
                    "unknown source `{s}`: expected tasks, alpaca, math, wildchat, cnn_dailymail, arena or outcomes"
                ))
            }
        })
    }
}

/// Loads tasks from `path` with the loader for `source`.
pub fn load_tasks(path: impl AsRef<Path>, source: Source) -> Result<Vec<Task>> {
    let path = path.as_ref();
    match source {
        Source::Tasks => crate::io::read_records(path),
        Source::Alpaca => load_alpaca(path),
        Source::Math => load_math(path),
        Source::WildChat => load_wildchat(path),
        Source::CnnDailyMail => load_cnn_dailymail(path),
        Source::Arena => load_arena_questions(path),
        Source::Outcomes => load_outcomes(path),
    }
}
