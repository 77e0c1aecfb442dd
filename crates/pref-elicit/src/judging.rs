//! The judging design: authors (models, model variants, recorded outputs)
//! write for each task (stage `write`), judges compare two outputs in both
//! orders and, optionally, say which one they wrote (stage `judge`). The
//! `self-preference` study is this design plus its analysis; studies that need
//! outputs compared by model judges reuse it. See `docs/self-preference.md`.

use pref_data::loaders::load_tasks;
use pref_data::{record_id, RecordLog, Task, Winner};
use pref_llm::{LanguageModel, Message, ModelSpec, SamplingParams};
use pref_rank::judges::JudgeDecision;
use pref_study::{
    with_system, BoxError, ContextCheck, ModelRoles, Picked, PlannedJob, Run, StagePlan,
    StudyConfig, TwoWayQuestion, TEXT_ANSWER_TOKENS,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{setting, Error, Result};

/// The sections of a study's configuration the design reads, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Judging<'a> {
    /// The articles or prompts.
    pub tasks: &'a TasksConfig,
    /// Who writes (and who judges); each model author's role in the run is its name.
    pub authors: &'a [Author],
    /// How authors write.
    pub generation: &'a GenerationConfig,
    /// How judges are asked.
    pub judging: &'a JudgingConfig,
}

impl Judging<'_> {
    /// Checks what serde cannot, naming the setting.
    pub fn check(&self) -> Result<()> {
        self.tasks
            .source
            .parse::<pref_data::loaders::Source>()
            .map_err(|e| Error::Setting(format!("tasks.source: {e}")))?;
        if self.tasks.n < 1 {
            setting!("tasks.n must be at least 1");
        }
        if self.tasks.max_chars < 50 {
            setting!("tasks.max_chars must be at least 50");
        }
        if self.authors.len() < 2 {
            setting!("give at least two [[authors]]");
        }
        let mut seen = std::collections::HashSet::new();
        for (k, a) in self.authors.iter().enumerate() {
            let at = format!("authors[{k}] (`{}`)", a.name);
            if a.name.trim().is_empty() {
                setting!("authors[{k}].name is empty");
            }
            if !seen.insert(a.name.as_str()) {
                setting!("{at}: the name is used twice");
            }
            match (&a.model, &a.recorded) {
                (Some(_), Some(_)) => setting!("{at}: give either `model` or `recorded`, not both"),
                (None, None) => setting!("{at}: give `model` (a model that writes) or `recorded` (a field of the task file)"),
                (Some(m), None) => m.check(&format!("authors[{k}].model"))?,
                (None, Some(_)) => {}
            }
            if let Some(t) = a.temperature {
                if !(0.0..=2.0).contains(&t) {
                    setting!("{at}: temperature must be in [0, 2]");
                }
            }
        }
        if !self.authors.iter().any(Author::is_judge) {
            setting!("no author judges: at least one model author needs `judge = true`");
        }
        let [a, b] = &self.judging.labels;
        if a.trim().is_empty() || b.trim().is_empty() || a.trim() == b.trim() {
            setting!("judging.labels must be two different non-empty labels (got {a:?}, {b:?})");
        }
        let g = &self.generation;
        if !(1..=32_768).contains(&g.max_tokens) {
            setting!(
                "generation.max_tokens must be in 1..=32768 (got {})",
                g.max_tokens
            );
        }
        if !(0.0..=2.0).contains(&g.temperature) {
            setting!(
                "generation.temperature must be in [0, 2] (got {})",
                g.temperature
            );
        }
        Ok(())
    }
}

/// What is written about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// News articles to summarise.
    Summarise,
    /// Prompts to answer.
    Answer,
}

/// The tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksConfig {
    /// The file (relative paths against the working directory).
    pub file: PathBuf,
    /// Its format: `cnn_dailymail`, `alpaca`, `math`, `wildchat`, `arena`, `tasks`.
    pub source: String,
    /// `summarise` (articles) or `answer` (prompts).
    pub kind: TaskKind,
    /// Tasks drawn (all when the file holds fewer).
    pub n: usize,
    /// Seed of the draw.
    pub seed: u64,
    /// Articles and prompts longer than this many characters are cut at a word
    /// boundary (small models have short contexts; every prompt repeats the task).
    pub max_chars: usize,
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self {
            file: PathBuf::from("fixtures/study/cnn_dailymail.jsonl"),
            source: "cnn_dailymail".into(),
            kind: TaskKind::Summarise,
            n: 6,
            seed: 0,
            max_chars: 800,
        }
    }
}

/// One author: a model (with an optional system prompt, temperature and seed:
/// a "variant" is the same weights with its own settings) or outputs recorded
/// in the task file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Author {
    /// Unique name (used in records, tables and the ground-truth mapping).
    pub name: String,
    /// The model writing; `None` for recorded outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSpec>,
    /// System message when writing and judging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Sampling temperature when writing (default `generation.temperature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Sampling seed when writing.
    #[serde(default)]
    pub seed: u64,
    /// Whether this model author also judges (default true; recorded authors never judge).
    #[serde(default = "yes")]
    pub judge: bool,
    /// Recorded outputs: a field of the task file's rows (`highlights` is the
    /// reference summary; e.g. `summary_gpt4` in the shared CNN/DailyMail sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
}

fn yes() -> bool {
    true
}

impl Author {
    /// A model author that also judges.
    pub fn model(name: &str, spec: ModelSpec, system: Option<&str>) -> Self {
        Self {
            name: name.into(),
            model: Some(spec),
            system: system.map(String::from),
            temperature: None,
            seed: 0,
            judge: true,
            recorded: None,
        }
    }

    /// Whether this author judges.
    pub fn is_judge(&self) -> bool {
        self.judge && self.model.is_some()
    }
}

/// How authors write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationConfig {
    /// Token limit of each output.
    pub max_tokens: u32,
    /// Temperature (0 = greedy) unless an author sets its own.
    pub temperature: f32,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_tokens: 64,
            temperature: 0.0,
        }
    }
}

/// Which author pairs each judge compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Pairs {
    /// Its own output against each other author's (what self-preference needs).
    Own,
    /// Every pair of authors (also what a judge-derived rating of all authors needs).
    All,
}

/// How answers are read: `logprobs` (the two labels' log-probabilities at the
/// answer position, one call) or `text` (a strict parser; unparseable answers are
/// kept with `winner: null`).
pub use pref_study::AnswerMode as Answer;

/// How judges are asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JudgingConfig {
    /// `own` (default) or `all` author pairs.
    pub pairs: Pairs,
    /// Also ask "which of these did you write?" on own-vs-other pairs.
    pub recognition: bool,
    /// `logprobs` (default) or `text`.
    pub answer: Answer,
    /// The two option labels, first-shown first.
    pub labels: [String; 2],
}

impl Default for JudgingConfig {
    fn default() -> Self {
        Self {
            pairs: Pairs::Own,
            recognition: true,
            answer: Answer::Logprobs,
            labels: ["A".into(), "B".into()],
        }
    }
}

/// A drawn task.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Task id from the file.
    pub id: String,
    /// The article or prompt, cut to `tasks.max_chars`.
    pub text: String,
    /// The file's row, for recorded outputs.
    pub task: Task,
}

/// What an author wrote for a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// Author name.
    pub author: String,
    /// Task id.
    pub task: String,
    /// The text.
    pub text: String,
    /// Model id (`None` for recorded outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tokens generated (0 for recorded outputs).
    #[serde(default)]
    pub tokens: u32,
}

/// The question a judge is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Question {
    /// Which output is better?
    Preference,
    /// Which output did you write?
    Recognition,
}

/// A judge's verdict, in FastChat's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The output shown first.
    #[serde(rename = "model_a")]
    ModelA,
    /// The output shown second.
    #[serde(rename = "model_b")]
    ModelB,
    /// Equal log-probabilities.
    #[serde(rename = "tie")]
    Tie,
}

impl From<Verdict> for Winner {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::ModelA => Winner::A,
            Verdict::ModelB => Winner::B,
            Verdict::Tie => Winner::Tie,
        }
    }
}

/// Which author of a pair the judge sees first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shown {
    /// The pair's first author first.
    Forward,
    /// The pair's second author first.
    Backward,
}

impl Shown {
    /// `forward` or `backward`.
    pub fn as_str(self) -> &'static str {
        match self {
            Shown::Forward => "forward",
            Shown::Backward => "backward",
        }
    }
}

/// One judgment, in the shape of recorded LLM-judge battles
/// (`question_id`, `model_a` = the output shown first, `model_b`, `winner`,
/// `judge`, `order`, `choice_prob`) plus what this study adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgment {
    /// Task id.
    pub question_id: String,
    /// Author of the output shown first.
    pub model_a: String,
    /// Author of the output shown second.
    pub model_b: String,
    /// `model_a`, `model_b`, `tie` (equal log-probs), or `null` when unparseable.
    pub winner: Option<Verdict>,
    /// The judge (an author name).
    pub judge: String,
    /// `forward` (the pair's first author shown first) or `backward`.
    pub order: Shown,
    /// Which question.
    pub question: Question,
    /// Probability of the chosen option, renormalised over the two labels (log-prob answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_prob: Option<f64>,
    /// Log-prob of the first label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprob_a: Option<f64>,
    /// Log-prob of the second label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprob_b: Option<f64>,
    /// The raw answer.
    pub raw: String,
    /// Prompt template name.
    pub template: String,
}

/// One question to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Judge (author index).
    pub judge: usize,
    /// Task index.
    pub task: usize,
    /// The pair's first author (index, `x < y`).
    pub x: usize,
    /// The pair's second author.
    pub y: usize,
    /// `x` shown first.
    pub forward: bool,
    /// Which question.
    pub question: Question,
}

impl Job {
    /// The authors in the order the judge sees their outputs: (first, second).
    pub fn shown(&self) -> (usize, usize) {
        if self.forward {
            (self.x, self.y)
        } else {
            (self.y, self.x)
        }
    }
}

/// The prompt template's name, recorded in every judgment (part of its id).
pub const TEMPLATE: &str = "self-preference-v1";

/// Cuts `text` to at most `max` characters at a word boundary, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let at = cut.rfind(char::is_whitespace).unwrap_or(cut.len());
    format!("{} …", cut[..at].trim_end())
}

/// Draws `tasks.n` tasks (seeded); every recorded author's field must be in each.
pub fn draw_tasks(cfg: Judging<'_>) -> Result<Vec<Item>> {
    let source = cfg
        .tasks
        .source
        .parse()
        .map_err(|e| Error::Setting(format!("tasks.source: {e}")))?;
    let mut tasks: Vec<Task> = load_tasks(&cfg.tasks.file, source)?
        .into_iter()
        .filter(|t| !t.prompt.trim().is_empty())
        .collect();
    tasks.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.tasks.seed));
    tasks.truncate(cfg.tasks.n);
    if tasks.is_empty() {
        return Err(Error::Input(format!(
            "{}: no usable tasks",
            cfg.tasks.file.display()
        )));
    }
    let items: Vec<Item> = tasks
        .into_iter()
        .map(|t| Item {
            id: t.id.clone(),
            text: truncate(&t.prompt, cfg.tasks.max_chars),
            task: t,
        })
        .collect();
    for a in cfg.authors {
        let Some(field) = &a.recorded else { continue };
        let missing: Vec<&str> = items
            .iter()
            .filter(|it| recorded_output(it, field).is_none())
            .map(|it| it.id.as_str())
            .collect();
        if let Some(first) = missing.first() {
            return Err(Error::Input(format!(
                "{}: author `{}` reads field `{field}`, which {} of {} drawn tasks lack (first: {first})",
                cfg.tasks.file.display(),
                a.name,
                missing.len(),
                items.len(),
            )));
        }
    }
    Ok(items)
}

/// A recorded output of a task: `highlights` is the reference; any other
/// field comes from the row's extra fields.
pub fn recorded_output(item: &Item, field: &str) -> Option<String> {
    if field == "highlights" || field == "reference" {
        return item.task.reference.clone();
    }
    item.task
        .meta
        .as_ref()
        .and_then(|m| m.get(field))
        .and_then(serde_json::Value::as_str)
        .map(String::from)
}

/// The writing prompt.
pub fn write_messages(cfg: Judging<'_>, author: &Author, item: &Item) -> Vec<Message> {
    let user = match cfg.tasks.kind {
        TaskKind::Summarise => format!(
            "Summarise this news article in two or three sentences.\n\nArticle:\n{}",
            item.text
        ),
        TaskKind::Answer => item.text.clone(),
    };
    with_system(author.system.as_deref(), vec![Message::user(user)])
}

/// The judging prompt: the task, two outputs, one question.
pub fn judge_messages(
    cfg: Judging<'_>,
    judge: &Author,
    item: &Item,
    first: &str,
    second: &str,
    question: Question,
) -> Vec<Message> {
    let [l1, l2] = &cfg.judging.labels;
    let (task, what, heading) = match cfg.tasks.kind {
        TaskKind::Summarise => (
            format!("Here is a news article:\n\n{}", item.text),
            "summary",
            "Summary",
        ),
        TaskKind::Answer => (
            format!("Here is a request:\n\n{}", item.text),
            "answer",
            "Answer",
        ),
    };
    let ask = match question {
        Question::Preference => format!("Which {what} is better?"),
        Question::Recognition => format!("One of these {what}s was written by you. Which one?"),
    };
    let text = format!(
        "{task}\n\n{heading} {l1}:\n{first}\n\n{heading} {l2}:\n{second}\n\n{ask} Answer with {l1} or {l2} only."
    );
    with_system(judge.system.as_deref(), vec![Message::user(text)])
}

/// Words a strict text answer may put before its label (`Summary A`).
pub const PREFIXES: &[&str] = &["Summary ", "Answer ", "summary ", "answer "];

/// Every question of a run, judge by judge, task by task. Within one judge and
/// task, questions that show the same output first follow each other: the
/// embedded backend then reuses the prompt's KV cells up to the end of that
/// output and decodes only the second one (see `pref_llm::llama`).
pub fn plan(cfg: Judging<'_>, n_tasks: usize) -> Vec<Job> {
    let n = cfg.authors.len();
    let mut jobs = Vec::new();
    for (j, judge) in cfg.authors.iter().enumerate() {
        if !judge.is_judge() {
            continue;
        }
        for task in 0..n_tasks {
            let start = jobs.len();
            for x in 0..n {
                for y in x + 1..n {
                    let own = x == j || y == j;
                    let mut questions = Vec::new();
                    if own || cfg.judging.pairs == Pairs::All {
                        questions.push(Question::Preference);
                    }
                    if own && cfg.judging.recognition {
                        questions.push(Question::Recognition);
                    }
                    for question in questions {
                        for forward in [true, false] {
                            jobs.push(Job {
                                judge: j,
                                task,
                                x,
                                y,
                                forward,
                                question,
                            });
                        }
                    }
                }
            }
            // Stable: ties keep the pair order.
            jobs[start..].sort_by_key(|job| (job.question == Question::Recognition, job.shown().0));
        }
    }
    jobs
}

/// The record id of an author's output for a task.
pub fn output_id(author: &Author, item: &Item) -> String {
    record_id(&[author.name.as_str(), item.id.as_str(), TEMPLATE])
}

/// The record id of a judgment: stable across resumes.
pub fn job_id(cfg: Judging<'_>, items: &[Item], job: &Job) -> String {
    let a = &cfg.authors;
    record_id(&[
        a[job.judge].name.as_str(),
        items[job.task].id.as_str(),
        a[job.x].name.as_str(),
        a[job.y].name.as_str(),
        if job.forward { "forward" } else { "backward" },
        match job.question {
            Question::Preference => "preference",
            Question::Recognition => "recognition",
        },
        TEMPLATE,
    ])
}

/// How an author writes.
pub fn write_params(cfg: Judging<'_>, author: &Author) -> SamplingParams {
    SamplingParams {
        max_tokens: cfg.generation.max_tokens,
        temperature: author.temperature.unwrap_or(cfg.generation.temperature),
        seed: author.seed,
        ..SamplingParams::default()
    }
}

/// Every (author, task) to write: recorded authors' outputs are copied from the
/// task file, model authors write.
pub fn writing_jobs(cfg: Judging<'_>, items: &[Item]) -> Vec<(usize, usize)> {
    (0..cfg.authors.len())
        .flat_map(|a| (0..items.len()).map(move |t| (a, t)))
        .collect()
}

/// The stages `write` and `judge` with their planned jobs (for `status` and
/// `--dry-run`; a judgment's prompt holds the outputs, so whether the cache
/// answers it is unknown before they are written), and the plan's details.
pub fn stage_plans(
    cfg: Judging<'_>,
    models: &ModelRoles,
) -> Result<(Vec<StagePlan>, serde_json::Value), BoxError> {
    let items = draw_tasks(cfg)?;
    // Every prompt is offered to the context check (docs/runs.md).
    let mut context = ContextCheck::new();
    let setting = |a: usize| format!("authors[{a}].model");
    let mut writing = Vec::new();
    for (a, t) in writing_jobs(cfg, &items) {
        let (author, item) = (&cfg.authors[a], &items[t]);
        let cached = match &author.model {
            None => true, // copied from the task file
            Some(_) => {
                let lm = models.get(&author.name)?;
                let (m, params) = (write_messages(cfg, author, item), write_params(cfg, author));
                context.offer(&setting(a), lm, &m, params.max_tokens as usize, || {
                    format!("author `{}`'s output for task `{}`", author.name, item.id)
                });
                lm.is_cached_generate(&m, &params)?
            }
        };
        writing.push(PlannedJob {
            id: output_id(author, item),
            cached: Some(cached),
        });
    }
    // A judgment's prompt holds two outputs: recorded ones as they are, a
    // model's (not yet written) as room for `generation.max_tokens` tokens.
    let answer_room = match cfg.judging.answer {
        Answer::Logprobs => cfg
            .judging
            .labels
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0),
        Answer::Text => TEXT_ANSWER_TOKENS as usize,
    };
    let mut judging = Vec::new();
    for j in plan(cfg, items.len()) {
        let (judge, item) = (&cfg.authors[j.judge], &items[j.task]);
        let (f, g) = j.shown();
        let mut room = answer_room;
        let mut shown = |x: usize| match &cfg.authors[x].recorded {
            Some(field) => recorded_output(item, field).unwrap_or_default(),
            None => {
                room += cfg.generation.max_tokens as usize;
                String::new()
            }
        };
        let (first, second) = (shown(f), shown(g));
        let m = judge_messages(cfg, judge, item, &first, &second, j.question);
        let id = job_id(cfg, &items, &j);
        context.offer(
            &setting(j.judge),
            models.get(&judge.name)?,
            &m,
            room,
            || {
                format!(
                    "judgment `{id}` (judge `{}`, task `{}`)",
                    judge.name, item.id
                )
            },
        );
        judging.push(PlannedJob { id, cached: None });
    }
    context.check()?;
    let details = serde_json::json!({
        "tasks": items.iter().map(|i| &i.id).collect::<Vec<_>>(),
        "authors": cfg.authors.iter().map(|a| &a.name).collect::<Vec<_>>(),
        "judges": cfg.authors.iter().filter(|a| a.is_judge()).map(|a| &a.name).collect::<Vec<_>>(),
    });
    Ok((
        vec![
            StagePlan::known("write", "outputs", writing),
            StagePlan::known("judge", "judgments", judging).unparseable_when_null("winner"),
        ],
        details,
    ))
}

/// Stage `write`: recorded authors' outputs are copied from the task file,
/// model authors write (each through the model of its role, its name).
pub fn write_outputs<C: StudyConfig>(
    run: &Run<C>,
    cfg: Judging<'_>,
    items: &[Item],
) -> Result<RecordLog<Output>> {
    let a = cfg.authors;
    let jobs = writing_jobs(cfg, items);
    let mut writing = run.stage("write", "outputs")?.planned(jobs.len());
    writing.run(
        &jobs,
        |&(x, t)| output_id(&a[x], &items[t]),
        |&(x, t)| async move {
            let (author, item) = (&a[x], &items[t]);
            if let Some(field) = &author.recorded {
                return Ok(Output {
                    author: author.name.clone(),
                    task: item.id.clone(),
                    text: recorded_output(item, field).unwrap_or_default(),
                    model: None,
                    tokens: 0,
                });
            }
            let lm = run.model(&author.name)?;
            let c = lm
                .generate(
                    &write_messages(cfg, author, item),
                    &write_params(cfg, author),
                )
                .await?;
            Ok::<_, BoxError>(Output {
                author: author.name.clone(),
                task: item.id.clone(),
                text: c.text.trim().to_string(),
                model: Some(lm.id().to_string()),
                tokens: c.completion_tokens,
            })
        },
    )?;
    Ok(writing.finish())
}

/// One judgment, asked (or answered by the cache) but not recorded.
async fn judge_one<C: StudyConfig>(
    run: &Run<C>,
    cfg: Judging<'_>,
    item: &Item,
    outputs: &RecordLog<Output>,
    job: &Job,
) -> Result<Judgment> {
    let a = cfg.authors;
    let judge = &a[job.judge];
    let (first, second) = job.shown();
    let text = |i: usize| -> Result<String> {
        outputs
            .get(&output_id(&a[i], item))
            .map(|o| o.text.clone())
            .ok_or_else(|| {
                Error::Input(format!("no output of `{}` for task {}", a[i].name, item.id))
            })
    };
    let messages = judge_messages(
        cfg,
        judge,
        item,
        &text(first)?,
        &text(second)?,
        job.question,
    );
    let question = TwoWayQuestion {
        labels: &cfg.judging.labels,
        mode: cfg.judging.answer,
        prefixes: PREFIXES,
        temperature: 0.0,
        seed: 0,
        parse: None,
        max_tokens: TEXT_ANSWER_TOKENS,
        tools: &[],
    };
    let ans = question
        .ask(run.model(&judge.name)?.as_ref(), &messages)
        .await?;
    let (winner, choice_prob) = match (ans.picked, ans.first_prob) {
        (None, _) => (None, None),
        (Some(Picked::First), p) => (Some(Verdict::ModelA), p),
        (Some(Picked::Second), p) => (Some(Verdict::ModelB), p.map(|p| 1.0 - p)),
        (Some(Picked::Tie), p) => (Some(Verdict::Tie), p.map(|_| 0.5)),
    };
    Ok(Judgment {
        question_id: item.id.clone(),
        model_a: a[first].name.clone(),
        model_b: a[second].name.clone(),
        winner,
        judge: judge.name.clone(),
        order: if job.forward {
            Shown::Forward
        } else {
            Shown::Backward
        },
        question: job.question,
        choice_prob,
        logprob_a: ans.logprobs.map(|l| l.0),
        logprob_b: ans.logprobs.map(|l| l.1),
        raw: ans.raw,
        template: TEMPLATE.into(),
    })
}

/// Stage `judge`: every question of [`plan`], each judge through the model of
/// its role; returns the recorded judgments in plan order.
pub fn judge_outputs<C: StudyConfig>(
    run: &Run<C>,
    cfg: Judging<'_>,
    items: &[Item],
    outputs: &RecordLog<Output>,
) -> Result<Vec<Judgment>> {
    let jobs = plan(cfg, items.len());
    let mut judging = run
        .stage("judge", "judgments")?
        .parsed_when(|j: &Judgment| j.winner.is_some())
        .planned(jobs.len());
    judging.run(
        &jobs,
        |j| job_id(cfg, items, j),
        |job| judge_one(run, cfg, &items[job.task], outputs, job),
    )?;
    let log = judging.finish();
    Ok(jobs
        .iter()
        .filter_map(|j| log.get(&job_id(cfg, items, j)).cloned())
        .collect())
}

/// The outputs of one author.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputStats {
    /// Mean length in characters.
    pub mean_chars: f64,
    /// Empty outputs.
    pub empty: usize,
    /// Whether they come from the task file.
    pub recorded: bool,
}

/// Output lengths by author.
pub fn output_stats(
    cfg: Judging<'_>,
    items: &[Item],
    outputs: &RecordLog<Output>,
) -> BTreeMap<String, OutputStats> {
    cfg.authors
        .iter()
        .map(|au| {
            let texts: Vec<&Output> = items
                .iter()
                .filter_map(|it| outputs.get(&output_id(au, it)))
                .collect();
            let chars = texts.iter().map(|o| o.text.chars().count()).sum::<usize>() as f64
                / texts.len().max(1) as f64;
            let stats = OutputStats {
                mean_chars: chars,
                empty: texts.iter().filter(|o| o.text.trim().is_empty()).count(),
                recorded: au.recorded.is_some(),
            };
            (au.name.clone(), stats)
        })
        .collect()
}

/// A parsed judgment as a pref-rank decision (`None` when unparseable).
pub fn to_decision(j: &Judgment) -> Option<JudgeDecision> {
    Some(JudgeDecision {
        question_id: j.question_id.clone(),
        model_a: j.model_a.clone(),
        model_b: j.model_b.clone(),
        winner: j.winner?.into(),
        judge: j.judge.clone(),
        order: Some(j.order.as_str().to_string()),
        choice_prob: j.choice_prob,
    })
}

/// Judgments as pref-rank decisions: preference and recognition apart, and
/// the unparseable answers counted per judge and question.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// Parsed "which is better?" decisions.
    pub preference: Vec<JudgeDecision>,
    /// Parsed "which did you write?" decisions.
    pub recognition: Vec<JudgeDecision>,
    /// Unparseable answers: judge → question (`preference`, `recognition`) → count.
    pub unparseable: BTreeMap<String, BTreeMap<String, usize>>,
}

impl Decisions {
    /// Splits judgments by question, counting the unparseable ones.
    pub fn of(judgments: &[Judgment]) -> Self {
        let mut s = Self::default();
        for j in judgments {
            match (to_decision(j), j.question) {
                (Some(d), Question::Preference) => s.preference.push(d),
                (Some(d), Question::Recognition) => s.recognition.push(d),
                (None, q) => {
                    let q = match q {
                        Question::Preference => "preference",
                        Question::Recognition => "recognition",
                    };
                    *s.unparseable
                        .entry(j.judge.clone())
                        .or_default()
                        .entry(q.to_string())
                        .or_default() += 1
                }
            }
        }
        s
    }

    /// Unparseable answers in all.
    pub fn n_unparseable(&self) -> usize {
        self.unparseable.values().flat_map(|m| m.values()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The self-preference study's default design: three model authors (all
    /// judges) and the recorded reference.
    struct Design {
        tasks: TasksConfig,
        authors: Vec<Author>,
        generation: GenerationConfig,
        judging: JudgingConfig,
    }

    impl Design {
        fn new() -> Self {
            let spec = ModelSpec::default();
            let mut reference = Author::model("reference", spec.clone(), None);
            (reference.model, reference.judge) = (None, false);
            reference.recorded = Some("highlights".into());
            Self {
                tasks: TasksConfig::default(),
                authors: vec![
                    Author::model("smollm2", spec.clone(), None),
                    Author::model("gemma", spec.clone(), None),
                    Author::model("brief", spec, Some("Be brief.")),
                    reference,
                ],
                generation: GenerationConfig::default(),
                judging: JudgingConfig::default(),
            }
        }

        fn get(&self) -> Judging<'_> {
            Judging {
                tasks: &self.tasks,
                authors: &self.authors,
                generation: &self.generation,
                judging: &self.judging,
            }
        }
    }

    #[test]
    fn truncation_cuts_at_a_word_and_marks_it() {
        assert_eq!(truncate("short text", 50), "short text");
        assert_eq!(truncate("one two three four", 9), "one two …");
        assert_eq!(truncate("ééé ééé", 5), "ééé …");
    }

    #[test]
    fn plan_counts_questions() {
        let d = Design::new();
        let cfg = d.get();
        cfg.check().unwrap();
        // 4 authors, 3 judges; each judge: 3 own pairs × 2 orders × (preference +
        // recognition) = 12 per task.
        assert_eq!(plan(cfg, 2).len(), 3 * 12 * 2);
        let mut all = Design::new();
        all.judging.pairs = Pairs::All;
        all.judging.recognition = false;
        // 6 pairs × 2 orders per judge and task.
        assert_eq!(plan(all.get(), 2).len(), 3 * 12 * 2);
        let jobs = plan(cfg, 1);
        assert!(jobs.iter().all(|j| j.x < j.y));
        assert!(jobs
            .iter()
            .filter(|j| j.question == Question::Recognition)
            .all(|j| j.x == j.judge || j.y == j.judge));
        // Questions showing the same output first are consecutive (prefix reuse),
        // and every (pair, order, question) appears once.
        let key = |j: &Job| {
            (
                j.judge,
                j.task,
                j.question == Question::Recognition,
                j.shown().0,
            )
        };
        let mut runs: Vec<_> = jobs.iter().map(key).collect();
        runs.dedup();
        let mut distinct = runs.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(runs.len(), distinct.len(), "{runs:?}");
        let mut ids: Vec<_> = jobs
            .iter()
            .map(|j| {
                (
                    j.judge,
                    j.task,
                    j.x,
                    j.y,
                    j.forward,
                    j.question == Question::Recognition,
                )
            })
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), jobs.len());
    }

    #[test]
    fn strict_parser() {
        let l = ["A".to_string(), "B".to_string()];
        for (t, want) in [
            ("A", Some(0)),
            ("Summary B.", Some(1)),
            ("**B**", Some(1)),
            ("A is better", None),
            ("", None),
        ] {
            assert_eq!(pref_llm::parse_label(t, &l, PREFIXES), want, "{t:?}");
        }
    }
}
