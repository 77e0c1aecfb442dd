//! The study on pref-study: draw tasks, let every author write (stage `write`),
//! let every judge compare outputs in both orders and optionally say which one
//! it wrote (stage `judge`), then analyse (`crate::analysis`).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Result};
use pref_data::loaders::load_tasks;
use pref_data::{record_id, Task, Winner};
use pref_llm::{LanguageModel, Message, SamplingParams};
use pref_study::{
    with_system, BoxError, Calls, ModelRoles, Picked, PlannedJob, Run, StagePlan, Study,
    TwoWayQuestion,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::analysis::Measures;
use crate::config::{Author, Config, Pairs, TaskKind};

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

const TEMPLATE: &str = "self-preference-v1";

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
pub fn draw_tasks(cfg: &Config) -> Result<Vec<Item>> {
    let source = cfg
        .tasks
        .source
        .parse()
        .map_err(|e| anyhow::anyhow!("tasks.source: {e}"))?;
    let mut tasks: Vec<Task> = load_tasks(&cfg.tasks.file, source)?
        .into_iter()
        .filter(|t| !t.prompt.trim().is_empty())
        .collect();
    tasks.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.tasks.seed));
    tasks.truncate(cfg.tasks.n);
    if tasks.is_empty() {
        bail!("{}: no usable tasks", cfg.tasks.file.display());
    }
    let items: Vec<Item> = tasks
        .into_iter()
        .map(|t| Item {
            id: t.id.clone(),
            text: truncate(&t.prompt, cfg.tasks.max_chars),
            task: t,
        })
        .collect();
    for a in &cfg.authors {
        let Some(field) = &a.recorded else { continue };
        let missing: Vec<&str> = items
            .iter()
            .filter(|it| recorded_output(it, field).is_none())
            .map(|it| it.id.as_str())
            .collect();
        if let Some(first) = missing.first() {
            bail!(
                "{}: author `{}` reads field `{field}`, which {} of {} drawn tasks lack (first: {first})",
                cfg.tasks.file.display(),
                a.name,
                missing.len(),
                items.len(),
            );
        }
    }
    Ok(items)
}

/// A recorded output of a task: `highlights` is the reference; any other
/// field comes from the row's extra fields.
fn recorded_output(item: &Item, field: &str) -> Option<String> {
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
pub fn write_messages(cfg: &Config, author: &Author, item: &Item) -> Vec<Message> {
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
    cfg: &Config,
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
pub fn plan(cfg: &Config, n_tasks: usize) -> Vec<Job> {
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

fn output_id(author: &Author, item: &Item) -> String {
    record_id(&[author.name.as_str(), item.id.as_str(), TEMPLATE])
}

fn job_id(cfg: &Config, items: &[Item], job: &Job) -> String {
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
fn write_params(cfg: &Config, author: &Author) -> SamplingParams {
    SamplingParams {
        max_tokens: cfg.generation.max_tokens,
        temperature: author.temperature.unwrap_or(cfg.generation.temperature),
        seed: author.seed,
        ..SamplingParams::default()
    }
}

/// Every (author, task) to write: recorded authors' outputs are copied from the
/// task file, model authors write.
fn writing_jobs(cfg: &Config, items: &[Item]) -> Vec<(usize, usize)> {
    (0..cfg.authors.len())
        .flat_map(|a| (0..items.len()).map(move |t| (a, t)))
        .collect()
}

/// Wall-clock seconds by phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seconds {
    /// Writing the outputs.
    pub writing: f64,
    /// Judging.
    pub judging: f64,
    /// The analysis.
    pub analysis: f64,
    /// This process in all.
    pub total: f64,
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

/// What `results.json` of a run holds: the measures and the run's facts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Every measure (also what `analyze` and `merge` write).
    #[serde(flatten)]
    pub measures: Measures,
    /// Output lengths by author.
    pub outputs: BTreeMap<String, OutputStats>,
    /// Model calls this process made and had answered by the cache.
    pub model_calls: Calls,
    /// Tasks.
    pub n_tasks: usize,
    /// Judgments recorded.
    pub n_judgments: usize,
    /// Model ids by author.
    pub models: BTreeMap<String, String>,
    /// Seconds by phase.
    pub seconds: Seconds,
}

/// The self-preference study.
pub struct SelfPreference;

impl Study for SelfPreference {
    const NAME: &'static str = "self-preference";
    type Config = Config;
    type Results = Results;

    fn plan(
        cfg: &Config,
        models: &ModelRoles,
    ) -> Result<(Vec<StagePlan>, serde_json::Value), BoxError> {
        let items = draw_tasks(cfg)?;
        let mut writing = Vec::new();
        for (a, t) in writing_jobs(cfg, &items) {
            let author = &cfg.authors[a];
            let cached = match &author.model {
                None => true, // copied from the task file
                Some(_) => models.get(&author.name)?.is_cached_generate(
                    &write_messages(cfg, author, &items[t]),
                    &write_params(cfg, author),
                )?,
            };
            writing.push(PlannedJob {
                id: output_id(author, &items[t]),
                cached: Some(cached),
            });
        }
        let judging = plan(cfg, items.len())
            .iter()
            .map(|j| PlannedJob {
                id: job_id(cfg, &items, j),
                cached: None, // the prompt holds the outputs
            })
            .collect();
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

    fn run(run: &Run<Config>) -> Result<Results, BoxError> {
        Ok(run_study(run)?)
    }
}

fn run_study(run: &Run<Config>) -> Result<Results> {
    let cfg = run.config();
    let a = &cfg.authors;
    let items = draw_tasks(cfg)?;

    // Stage `write`: recorded outputs are copied, model authors write.
    let t_write = Instant::now();
    let jobs = writing_jobs(cfg, &items);
    let mut writing = run.stage("write", "outputs")?.planned(jobs.len());
    let items = &items;
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
    let outputs = writing.finish();
    let write_seconds = t_write.elapsed().as_secs_f64();

    // Stage `judge`.
    let t_judge = Instant::now();
    let jobs = plan(cfg, items.len());
    let mut judging = run
        .stage("judge", "judgments")?
        .parsed_when(|j: &Judgment| j.winner.is_some())
        .planned(jobs.len());
    judging.run(
        &jobs,
        |j| job_id(cfg, items, j),
        |job| {
            let outputs = &outputs;
            let items = &items;
            async move {
                let (judge, item) = (&a[job.judge], &items[job.task]);
                let (first, second) = job.shown();
                let text = |i: usize| -> Result<String> {
                    outputs
                        .get(&output_id(&a[i], item))
                        .map(|o| o.text.clone())
                        .ok_or_else(|| {
                            anyhow::anyhow!("no output of `{}` for task {}", a[i].name, item.id)
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
                Ok::<_, anyhow::Error>(Judgment {
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
        },
    )?;
    let log = judging.finish();
    let judge_seconds = t_judge.elapsed().as_secs_f64();

    let judgments: Vec<Judgment> = jobs
        .iter()
        .filter_map(|j| log.get(&job_id(cfg, items, j)).cloned())
        .collect();
    let t_analyse = Instant::now();
    let measures = crate::analysis::analyse(cfg, &judgments)?;
    let output_stats = a
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
        .collect();
    let results = Results {
        measures,
        outputs: output_stats,
        model_calls: run.calls(),
        n_tasks: items.len(),
        n_judgments: judgments.len(),
        models: run.model_ids(),
        seconds: Seconds {
            writing: write_seconds,
            judging: judge_seconds,
            analysis: t_analyse.elapsed().as_secs_f64(),
            total: run.seconds(),
        },
    };
    run.write_results(&results)?;
    crate::report::write(run, &results)?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_cuts_at_a_word_and_marks_it() {
        assert_eq!(truncate("short text", 50), "short text");
        assert_eq!(truncate("one two three four", 9), "one two …");
        assert_eq!(truncate("ééé ééé", 5), "ééé …");
    }

    #[test]
    fn plan_counts_questions() {
        let cfg = Config::default();
        // 4 authors, 3 judges; each judge: 3 own pairs × 2 orders × (preference +
        // recognition) = 12 per task.
        assert_eq!(plan(&cfg, 2).len(), 3 * 12 * 2);
        let mut all = Config::default();
        all.judging.pairs = Pairs::All;
        all.judging.recognition = false;
        // 6 pairs × 2 orders per judge and task.
        assert_eq!(plan(&all, 2).len(), 3 * 12 * 2);
        let jobs = plan(&cfg, 1);
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
