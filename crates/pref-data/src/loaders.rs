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
//!
//! ## Leaderboards
//!
//! [`load_leaderboard`] reads a rating table into [`LeaderboardEntry`]s
//! (`model, rating, lower?, upper?`, in file order), detecting the format by extension,
//! else by content (`.gz` is decompressed first):
//!
//! | format | example | `rating` | `lower` / `upper` |
//! |---|---|---|---|
//! | LMArena text-leaderboard JSON `{category: {model: {rating, rating_q975, rating_q025}}}` | arena-catalog `leaderboard-text.json` | `rating` | `rating_q025` / `rating_q975` |
//! | the same for one category `{model: {rating, …}}`, or `{model: rating}` | — | `rating` / the number | as above / — |
//! | CSV with a header naming a model column (`model`) and a rating column (`rating`, `Elo rating`, `elo`, `score`) | arena-catalog `*_raw_ranking.csv` (`index,Model,Elo rating`) | that column | `rating_q025`/`lower` / `rating_q975`/`upper` when present |
//! | the same CSV with quoted fields | arena-hard-auto `arena_hard_leaderboard_*.csv` (`model,score,rating_q025,rating_q975,CI,…`) | `score` (a win rate in %, **not** an Elo rating) | `rating_q025` / `rating_q975` |
//! | JSON Lines `{model, score, lower, upper, results}` | arena-hard-auto `bootstrap_stats_*_elo.jsonl` | `score` (or `rating`) | `lower` / `upper` |
//!
//! For the categorised JSON, `category = None` picks `full`, else `overall`, else
//! `text`, else the only category; a missing category is an error listing the
//! available ones ([`leaderboard_categories`]). Asking a category of a file that has
//! none is an error too. A model listed twice, a non-finite rating or `lower > upper`
//! is an error naming the file, line and field.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{quote, shorten_quotes, Error, Result};
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
                    "unknown source `{}`: expected tasks, alpaca, math, wildchat, cnn_dailymail, arena or outcomes",
                    quote(s)
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

// ------------------------------------------------------------------ leaderboards

/// One row of a rating leaderboard (Chatbot Arena, LMArena, arena-hard-auto, …).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LeaderboardEntry {
    /// Model name as the leaderboard spells it.
    pub model: String,
    /// Rating (Elo / Bradley–Terry scale, or a win rate for arena-hard-auto scores).
    pub rating: f64,
    /// Lower end of the published interval (e.g. the 2.5 % bootstrap quantile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    /// Upper end of the published interval (e.g. the 97.5 % quantile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
}

/// The leaderboard file kinds [`load_leaderboard`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeaderboardFormat {
    Json,
    Jsonl,
    Csv,
}

fn leaderboard_format(path: &Path, text: &str) -> LeaderboardFormat {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".csv") || name.ends_with(".tsv") {
        return LeaderboardFormat::Csv;
    }
    if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        return LeaderboardFormat::Jsonl;
    }
    if name.ends_with(".json") {
        return LeaderboardFormat::Json;
    }
    // By content: a first line that is a whole JSON object with a `model` field is
    // JSON Lines; anything else starting with `{` is one JSON object; else CSV.
    let t = text.trim_start();
    if t.starts_with('{') {
        let first = t.lines().next().unwrap_or("");
        let is_row = serde_json::from_str::<Map<String, Value>>(first)
            .is_ok_and(|m| m.contains_key("model"));
        if is_row {
            LeaderboardFormat::Jsonl
        } else {
            LeaderboardFormat::Json
        }
    } else {
        LeaderboardFormat::Csv
    }
}

/// Reads a leaderboard (format table in the [module docs](self)); `category` selects a
/// category of the LMArena JSON (default: `full`, `overall`, `text` or the only one).
pub fn load_leaderboard(
    path: impl AsRef<Path>,
    category: Option<&str>,
) -> Result<Vec<LeaderboardEntry>> {
    let path = path.as_ref();
    let bytes = read_all(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&c| c == b'\n')
            .count() as u64;
        Error::record(path, line, None, "invalid UTF-8")
    })?;
    if text.trim().is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            kind: "leaderboard",
        });
    }
    let format = leaderboard_format(path, text);
    if format != LeaderboardFormat::Json {
        if let Some(c) = category {
            return Err(Error::format(
                path,
                format!(
                    "category `{}` asked, but this leaderboard file has no categories",
                    quote(c)
                ),
            ));
        }
    }
    let rows = match format {
        LeaderboardFormat::Json => leaderboard_json(path, text, category)?,
        LeaderboardFormat::Jsonl => leaderboard_jsonl(path)?,
        LeaderboardFormat::Csv => leaderboard_csv(path, text)?,
    };
    check_entries(path, rows)
}

/// The categories of an LMArena leaderboard JSON, in file order (empty for a file
/// without categories).
pub fn leaderboard_categories(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let bytes = read_all(path)?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| Error::record(path, 0, None, "invalid UTF-8"))?;
    if leaderboard_format(path, text) != LeaderboardFormat::Json {
        return Ok(Vec::new());
    }
    let top = json_object(path, text, None, text)?;
    if is_categorised(&top) {
        Ok(top.into_iter().map(|(k, _)| k).collect())
    } else {
        Ok(Vec::new())
    }
}

/// Checks ratings and intervals, and that no model appears twice.
fn check_entries(
    path: &Path,
    rows: Vec<(u64, String, LeaderboardEntry)>,
) -> Result<Vec<LeaderboardEntry>> {
    let mut seen = std::collections::HashMap::with_capacity(rows.len());
    let mut out = Vec::with_capacity(rows.len());
    for (line, prefix, e) in rows {
        let field = |f: &str| Some(format!("{prefix}{f}"));
        if e.model.trim().is_empty() {
            return Err(Error::record(
                path,
                line,
                field("model"),
                "must not be empty",
            ));
        }
        if !e.rating.is_finite() {
            return Err(Error::record(
                path,
                line,
                field("rating"),
                format!("must be a finite number, got {}", e.rating),
            ));
        }
        for (f, v) in [("lower", e.lower), ("upper", e.upper)] {
            if let Some(v) = v.filter(|v| !v.is_finite()) {
                return Err(Error::record(
                    path,
                    line,
                    field(f),
                    format!("must be a finite number, got {v}"),
                ));
            }
        }
        if let (Some(l), Some(u)) = (e.lower, e.upper) {
            if l > u {
                return Err(Error::record(
                    path,
                    line,
                    field("lower"),
                    format!("lower bound {l} is above the upper bound {u}"),
                ));
            }
        }
        if let Some(first) = seen.insert(e.model.clone(), line) {
            return Err(Error::record(
                path,
                line,
                field("model"),
                format!(
                    "`{}` is listed twice (first at line {first})",
                    quote(&e.model)
                ),
            ));
        }
        out.push(e);
    }
    if out.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            kind: "leaderboard",
        });
    }
    Ok(out)
}

/// 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> u64 {
    1 + text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&c| c == b'\n')
        .count() as u64
}

/// Byte offset of a borrowed sub-slice of `text`.
fn offset_in(text: &str, sub: &str) -> usize {
    (sub.as_ptr() as usize).saturating_sub(text.as_ptr() as usize)
}

type RawEntries<'a> = Vec<(String, &'a serde_json::value::RawValue)>;

/// The entries of a JSON object, in file order (serde_json's map would sort them).
fn json_object<'a>(
    path: &Path,
    text: &'a str,
    field: Option<&str>,
    object: &'a str,
) -> Result<RawEntries<'a>> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = RawEntries<'de>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                out.push((k, map.next_value()?));
            }
            Ok(out)
        }
    }
    struct Wrap<'a>(RawEntries<'a>);
    impl<'de> serde::Deserialize<'de> for Wrap<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            d.deserialize_map(Entries).map(Wrap)
        }
    }
    serde_json::from_str::<Wrap<'a>>(object)
        .map(|w| w.0)
        .map_err(|e| {
            let line = line_at(text, offset_in(text, object)) + e.line().saturating_sub(1) as u64;
            let msg = e.to_string();
            let msg = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
            Error::record(
                path,
                line,
                field.map(|f| quote(f).into_owned()),
                shorten_quotes(msg),
            )
        })
}

/// True when the object's values are categories (objects of model entries) rather
/// than model entries.
fn is_categorised(top: &RawEntries<'_>) -> bool {
    top.first().is_some_and(|(_, v)| {
        serde_json::from_str::<Map<String, Value>>(v.get())
            .is_ok_and(|m| !m.contains_key("rating") && m.values().all(Value::is_object))
    })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonRating {
    Number(f64),
    Entry(JsonEntry),
}

#[derive(Deserialize)]
struct JsonEntry {
    rating: f64,
    #[serde(default, alias = "lower")]
    rating_q025: Option<f64>,
    #[serde(default, alias = "upper")]
    rating_q975: Option<f64>,
}

fn leaderboard_json(
    path: &Path,
    text: &str,
    category: Option<&str>,
) -> Result<Vec<(u64, String, LeaderboardEntry)>> {
    let top = json_object(path, text, None, text)?;
    let (prefix, models) = if is_categorised(&top) {
        let names: Vec<&str> = top.iter().map(|(k, _)| k.as_str()).collect();
        let chosen = match category {
            Some(c) => names.iter().copied().find(|n| *n == c).ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "no category `{}` in this leaderboard; available: {}",
                        quote(c),
                        quote(&names.join(", "))
                    ),
                )
            })?,
            None => ["full", "overall", "text"]
                .into_iter()
                .find(|c| names.contains(c))
                .or((names.len() == 1).then(|| names[0]))
                .ok_or_else(|| {
                    Error::format(
                        path,
                        format!(
                            "several categories and none of them is `full`, `overall` or \
                             `text`: choose one of {}",
                            quote(&names.join(", "))
                        ),
                    )
                })?,
        };
        let raw = top
            .iter()
            .find(|(k, _)| k == chosen)
            .map(|(_, v)| v.get())
            .unwrap_or("{}");
        (
            format!("{}.", quote(chosen)),
            json_object(path, text, Some(chosen), raw)?,
        )
    } else {
        if let Some(c) = category {
            return Err(Error::format(
                path,
                format!(
                    "category `{}` asked, but this leaderboard file has no categories",
                    quote(c)
                ),
            ));
        }
        (String::new(), top)
    };
    let mut out = Vec::with_capacity(models.len());
    for (model, raw) in models {
        let line = line_at(text, offset_in(text, raw.get()));
        let entry = match serde_json::from_str::<JsonRating>(raw.get()) {
            Ok(JsonRating::Number(rating)) => LeaderboardEntry {
                model: model.clone(),
                rating,
                lower: None,
                upper: None,
            },
            Ok(JsonRating::Entry(e)) => LeaderboardEntry {
                model: model.clone(),
                rating: e.rating,
                lower: e.rating_q025,
                upper: e.rating_q975,
            },
            Err(_) => {
                // Name the field: re-read as an entry for serde's located message.
                let err = parse_value::<JsonEntry>(path, line, raw.get().as_bytes(), false)
                    .err()
                    .unwrap_or_else(|| {
                        Error::record(path, line, None, "expected a rating or {rating, …}")
                    });
                return Err(match err {
                    Error::Record { at, field, message } => Error::Record {
                        at,
                        field: Some(format!(
                            "{prefix}{}{}",
                            quote(&model),
                            field.map(|f| format!(".{f}")).unwrap_or_default()
                        )),
                        message,
                    },
                    e => e,
                });
            }
        };
        out.push((line, format!("{prefix}{}.", quote(&model)), entry));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct JsonlEntry {
    model: String,
    #[serde(alias = "rating")]
    score: f64,
    #[serde(default)]
    lower: Option<f64>,
    #[serde(default)]
    upper: Option<f64>,
}

fn leaderboard_jsonl(path: &Path) -> Result<Vec<(u64, String, LeaderboardEntry)>> {
    let mut lines = LineReader::open(path)?;
    let mut out = Vec::new();
    while let Some(l) = lines.next_line()? {
        let r: JsonlEntry = parse_value(path, l.line, l.bytes, l.unterminated)?;
        out.push((
            l.line,
            String::new(),
            LeaderboardEntry {
                model: r.model,
                rating: r.score,
                lower: r.lower,
                upper: r.upper,
            },
        ));
    }
    Ok(out)
}

fn leaderboard_csv(path: &Path, text: &str) -> Result<Vec<(u64, String, LeaderboardEntry)>> {
    let delimiter = if path
        .to_string_lossy()
        .to_ascii_lowercase()
        .trim_end_matches(".gz")
        .ends_with(".tsv")
    {
        b'\t'
    } else {
        b','
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        let msg = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("expected {expected_len} fields, found {len}"),
            _ => shorten_quotes(&e.to_string()).into_owned(),
        };
        Error::record(path, line, None, msg)
    };
    let header: Vec<String> = rdr
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(str::to_string)
        .collect();
    let find = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let model_col = find(&["model", "model_name", "name"]).ok_or_else(|| {
        Error::record(
            path,
            1,
            None,
            format!(
                "header has no model column (`model`): {}",
                quote(&header.join(","))
            ),
        )
    })?;
    let rating_col =
        find(&["rating", "elo rating", "elo", "score", "arena score"]).ok_or_else(|| {
            Error::record(
                path,
                1,
                None,
                format!(
                    "header has no rating column (`rating`, `Elo rating`, `elo`, `score`): {}",
                    quote(&header.join(","))
                ),
            )
        })?;
    let lower_col = find(&["rating_q025", "lower", "ci_lower"]);
    let upper_col = find(&["rating_q975", "upper", "ci_upper"]);
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        let number = |col: usize| -> Result<f64> {
            let s = rec.get(col).unwrap_or("");
            s.parse::<f64>().map_err(|_| {
                Error::record(
                    path,
                    line,
                    Some(quote(&header[col]).into_owned()),
                    format!("expected a number, got `{}`", quote(s)),
                )
            })
        };
        let optional = |col: Option<usize>| -> Result<Option<f64>> {
            match col {
                Some(c) if !rec.get(c).unwrap_or("").is_empty() => number(c).map(Some),
                _ => Ok(None),
            }
        };
        out.push((
            line,
            String::new(),
            LeaderboardEntry {
                model: rec.get(model_col).unwrap_or("").to_string(),
                rating: number(rating_col)?,
                lower: optional(lower_col)?,
                upper: optional(upper_col)?,
            },
        ));
    }
    Ok(out)
}
