//! The study: draw tasks, let every model author write, let every judge
//! compare outputs in both orders (and optionally say which one it wrote),
//! then measure self-preference, recognition, position bias and order flips,
//! and rate the authors against a ground truth.
//!
//! Every model call goes through the content-addressed cache and every answer
//! is appended to a record log under a deterministic id, so a killed run
//! resumes without losing, duplicating or repeating anything.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pref_data::loaders::{load_tasks, Source};
use pref_data::{record_id, RecordLog, RunDir, Task};
use pref_llm::{CachedModel, LanguageModel, Message, ModelCache, ModelSpec, SamplingParams};
use pref_report::progress;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{Answer, Author, Config, Pairs, Resolved, TaskKind};

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
    pub winner: Option<String>,
    /// The judge (an author name).
    pub judge: String,
    /// `forward` (the pair's first author shown first) or `backward`.
    pub order: String,
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

/// Draws `tasks.n` tasks (seeded).
pub fn draw_tasks(cfg: &Config) -> Result<Vec<Item>> {
    let source: Source = cfg
        .tasks
        .source
        .parse()
        .map_err(|e| anyhow::anyhow!("tasks.source: {e}"))?;
    let mut tasks: Vec<Task> = load_tasks(&cfg.tasks.file, source)?
        .into_iter()
        .filter(|t| !t.prompt.trim().is_empty())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.tasks.seed);
    tasks.shuffle(&mut rng);
    tasks.truncate(cfg.tasks.n);
    if tasks.is_empty() {
        bail!("{}: no usable tasks", cfg.tasks.file.display());
    }
    Ok(tasks
        .into_iter()
        .map(|t| Item {
            id: t.id.clone(),
            text: truncate(&t.prompt, cfg.tasks.max_chars),
            task: t,
        })
        .collect())
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
        .and_then(Value::as_str)
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
    with_system(author, vec![Message::user(user)])
}

fn with_system(author: &Author, messages: Vec<Message>) -> Vec<Message> {
    match &author.system {
        Some(s) => std::iter::once(Message::system(s.clone()))
            .chain(messages)
            .collect(),
        None => messages,
    }
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
    let (task, what) = match cfg.tasks.kind {
        TaskKind::Summarise => (
            format!("Here is a news article:\n\n{}", item.text),
            "summary",
        ),
        TaskKind::Answer => (format!("Here is a request:\n\n{}", item.text), "answer"),
    };
    let ask = match question {
        Question::Preference => format!("Which {what} is better?"),
        Question::Recognition => format!("One of these {what}s was written by you. Which one?"),
    };
    let cap = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    let text = format!(
        "{task}\n\n{} {l1}:\n{first}\n\n{} {l2}:\n{second}\n\n{ask} Answer with {l1} or {l2} only.",
        cap(what),
        cap(what)
    );
    with_system(judge, vec![Message::user(text)])
}

/// Strict reading of a text answer (see the `utility` study): the label alone,
/// optionally `**A**`, `A.`, `A)`, `Summary A`, `Answer A`.
pub fn parse_answer(text: &str, labels: &[String; 2]) -> Option<usize> {
    pref_llm::parse_label(
        text,
        labels,
        &["Summary ", "Answer ", "summary ", "answer "],
    )
}

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

/// The models of a run: one loaded model per distinct spec, shared by the
/// authors that use it (variants), all behind one cache.
pub struct Models {
    by_spec: HashMap<String, Arc<Model>>,
    of_author: Vec<Option<Arc<Model>>>,
}

/// A model behind the shared cache.
pub type Model = CachedModel<Box<dyn LanguageModel>>;

fn spec_key(s: &ModelSpec) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

impl Models {
    /// Loads every model author's model once.
    pub fn load(cfg: &Config) -> Result<Self> {
        let cache = Arc::new(ModelCache::open_default()?);
        let mut by_spec = HashMap::new();
        let mut of_author = Vec::new();
        for a in &cfg.authors {
            let Some(spec) = &a.model else {
                of_author.push(None);
                continue;
            };
            let key = spec_key(spec);
            if !by_spec.contains_key(&key) {
                let lm = spec
                    .load()
                    .with_context(|| format!("author `{}`: cannot load its model", a.name))?;
                by_spec.insert(key.clone(), Arc::new(CachedModel::new(lm, cache.clone())));
            }
            of_author.push(by_spec.get(&key).cloned());
        }
        Ok(Self { by_spec, of_author })
    }

    /// The model of author `i`.
    pub fn of(&self, i: usize) -> Option<&Model> {
        self.of_author[i].as_deref()
    }

    /// Model ids by author name.
    pub fn ids(&self, cfg: &Config) -> BTreeMap<String, String> {
        cfg.authors
            .iter()
            .enumerate()
            .filter_map(|(i, a)| Some((a.name.clone(), self.of(i)?.id().to_string())))
            .collect()
    }

    /// Calls made and answered by the cache, over all models.
    pub fn calls(&self) -> (u64, u64) {
        self.by_spec.values().fold((0, 0), |(m, c), lm| {
            let s = lm.stats();
            (m + s.made, c + s.cached)
        })
    }
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

/// Writes every output not yet recorded (model authors) and checks recorded ones.
fn write_outputs(
    cfg: &Config,
    items: &[Item],
    models: &Models,
    log: &mut RecordLog<Output>,
    rt: &tokio::runtime::Runtime,
) -> Result<()> {
    // Recorded authors first: a missing field is an error before any model call.
    for a in &cfg.authors {
        let Some(field) = &a.recorded else { continue };
        let missing: Vec<&str> = items
            .iter()
            .filter(|it| recorded_output(it, field).is_none())
            .map(|it| it.id.as_str())
            .collect();
        if !missing.is_empty() {
            bail!(
                "{}: author `{}` reads field `{field}`, which {} of {} drawn tasks lack (first: {})",
                cfg.tasks.file.display(),
                a.name,
                missing.len(),
                items.len(),
                missing[0]
            );
        }
    }
    let todo: Vec<(usize, usize)> = (0..cfg.authors.len())
        .flat_map(|a| (0..items.len()).map(move |t| (a, t)))
        .filter(|&(a, t)| !log.contains(&output_id(&cfg.authors[a], &items[t])))
        .collect();
    let bar = progress(todo.len() as u64, "writing");
    for (a, t) in todo {
        let author = &cfg.authors[a];
        let item = &items[t];
        let out = match (&author.recorded, models.of(a)) {
            (Some(field), _) => Output {
                author: author.name.clone(),
                task: item.id.clone(),
                text: recorded_output(item, field).unwrap_or_default(),
                model: None,
                tokens: 0,
            },
            (None, Some(lm)) => {
                let params = SamplingParams {
                    max_tokens: cfg.generation.max_tokens,
                    temperature: author.temperature.unwrap_or(cfg.generation.temperature),
                    seed: author.seed,
                    ..SamplingParams::default()
                };
                let c = rt.block_on(lm.generate(&write_messages(cfg, author, item), &params))?;
                Output {
                    author: author.name.clone(),
                    task: item.id.clone(),
                    text: c.text.trim().to_string(),
                    model: Some(lm.id().to_string()),
                    tokens: c.completion_tokens,
                }
            }
            (None, None) => bail!(
                "author `{}` has neither a model nor recorded outputs",
                author.name
            ),
        };
        log.append(&output_id(author, item), out)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// Asks one question (or gets it from the cache); not recorded yet.
async fn ask(
    cfg: &Config,
    items: &[Item],
    outputs: &RecordLog<Output>,
    models: &Models,
    job: &Job,
) -> Result<Judgment> {
    let a = &cfg.authors;
    let judge = &a[job.judge];
    let lm = models
        .of(job.judge)
        .ok_or_else(|| anyhow::anyhow!("judge `{}` has no model", judge.name))?;
    let item = &items[job.task];
    let (first, second) = job.shown();
    let text = |i: usize| -> Result<String> {
        outputs
            .get(&output_id(&a[i], item))
            .map(|o| o.text.clone())
            .ok_or_else(|| anyhow::anyhow!("no output of `{}` for task {}", a[i].name, item.id))
    };
    let messages = judge_messages(
        cfg,
        judge,
        item,
        &text(first)?,
        &text(second)?,
        job.question,
    );
    let labels = cfg.judging.labels.to_vec();
    let (winner, choice_prob, lp, raw) = match cfg.judging.answer {
        Answer::Logprobs => {
            let c = lm.choice_logprobs(&messages, &labels).await?;
            let (l1, l2) = (c.logprobs[0], c.logprobs[1]);
            let p1 = c.normalised[0];
            let (w, p) = if l1 > l2 {
                ("model_a", p1)
            } else if l2 > l1 {
                ("model_b", 1.0 - p1)
            } else {
                ("tie", 0.5)
            };
            let raw = format!("{}: {l1:.6}, {}: {l2:.6}", labels[0], labels[1]);
            (Some(w.to_string()), Some(p), Some((l1, l2)), raw)
        }
        Answer::Text => {
            let params = SamplingParams {
                max_tokens: 8,
                ..SamplingParams::default()
            };
            let c = lm.generate(&messages, &params).await?;
            let w = parse_answer(&c.text, &cfg.judging.labels)
                .map(|k| if k == 0 { "model_a" } else { "model_b" }.to_string());
            (w, None, None, c.text)
        }
    };
    Ok(Judgment {
        question_id: item.id.clone(),
        model_a: a[first].name.clone(),
        model_b: a[second].name.clone(),
        winner,
        judge: judge.name.clone(),
        order: if job.forward { "forward" } else { "backward" }.into(),
        question: job.question,
        choice_prob,
        logprob_a: lp.map(|l| l.0),
        logprob_b: lp.map(|l| l.1),
        raw,
        template: TEMPLATE.into(),
    })
}

/// A single-threaded async runtime (the model calls are the only async work).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs (or resumes) the study; returns `results.json`'s value.
pub fn run(run: &RunDir, cfg: &Config, models: &Models) -> Result<Value> {
    let started = Instant::now();
    let items = draw_tasks(cfg)?;
    let rt = runtime()?;
    let mut outputs: RecordLog<Output> = run.records("outputs")?;
    let t_write = Instant::now();
    write_outputs(cfg, &items, models, &mut outputs, &rt)?;
    let write_seconds = t_write.elapsed().as_secs_f64();

    let jobs = plan(cfg, items.len());
    let mut log: RecordLog<Judgment> = run.records("judgments")?;
    let t_judge = Instant::now();
    let bar = progress(jobs.len() as u64, "judging");
    let todo: Vec<Job> = jobs
        .iter()
        .filter(|j| !log.contains(&job_id(cfg, &items, j)))
        .copied()
        .collect();
    bar.inc((jobs.len() - todo.len()) as u64);
    // Questions go out in chunks of the smallest parallelism among the judges'
    // backends (1 on the embedded model), recorded in plan order.
    let chunk = cfg
        .authors
        .iter()
        .filter_map(|a| a.model.as_ref().map(ModelSpec::parallel_requests))
        .min()
        .unwrap_or(1);
    for part in todo.chunks(chunk) {
        let asks = part.iter().map(|j| ask(cfg, &items, &outputs, models, j));
        let answers = rt.block_on(futures::future::try_join_all(asks))?;
        for (job, judgment) in part.iter().zip(answers) {
            log.append(&job_id(cfg, &items, job), judgment)?;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let judge_seconds = t_judge.elapsed().as_secs_f64();

    let judgments: Vec<Judgment> = jobs
        .iter()
        .filter_map(|j| log.get(&job_id(cfg, &items, j)).cloned())
        .collect();
    let t_analyse = Instant::now();
    let mut results = crate::analysis::analyse(cfg, &judgments)?;
    let (made, cached) = models.calls();
    let out_stats: BTreeMap<String, Value> = cfg
        .authors
        .iter()
        .map(|a| {
            let texts: Vec<&Output> = items
                .iter()
                .filter_map(|it| outputs.get(&output_id(a, it)))
                .collect();
            let chars = texts.iter().map(|o| o.text.chars().count()).sum::<usize>() as f64
                / texts.len().max(1) as f64;
            let empty = texts.iter().filter(|o| o.text.trim().is_empty()).count();
            (
                a.name.clone(),
                json!({"mean_chars": chars, "empty": empty, "recorded": a.recorded.is_some()}),
            )
        })
        .collect();
    results["outputs"] = json!(out_stats);
    results["model_calls"] = json!({"made": made, "cached": cached});
    results["n_tasks"] = json!(items.len());
    results["n_judgments"] = json!(judgments.len());
    results["models"] = json!(models.ids(cfg));
    results["seconds"] = json!({
        "writing": write_seconds, "judging": judge_seconds,
        "analysis": t_analyse.elapsed().as_secs_f64(), "total": started.elapsed().as_secs_f64()});
    run.write_json("results.json", &results)?;
    crate::report::write(run, cfg, &results)?;
    Ok(results)
}

/// What `--dry-run` prints.
pub fn dry_run(cfg: &Config, run_dir: Option<&Path>) -> Result<Value> {
    let items = draw_tasks(cfg)?;
    let jobs = plan(cfg, items.len());
    let writers = cfg.authors.iter().filter(|a| a.model.is_some()).count();
    let (mut done_out, mut done_j) = (0, 0);
    if let Some(d) = run_dir {
        let run = RunDir::open(d)?;
        let o: RecordLog<Output> = run.records("outputs")?;
        let j: RecordLog<Judgment> = run.records("judgments")?;
        done_out = cfg
            .authors
            .iter()
            .filter(|a| a.model.is_some())
            .map(|a| {
                items
                    .iter()
                    .filter(|it| o.contains(&output_id(a, it)))
                    .count()
            })
            .sum::<usize>();
        done_j = jobs
            .iter()
            .filter(|x| j.contains(&job_id(cfg, &items, x)))
            .count();
    }
    Ok(json!({
        "tasks": items.iter().map(|i| &i.id).collect::<Vec<_>>(),
        "authors": cfg.authors.iter().map(|a| &a.name).collect::<Vec<_>>(),
        "judges": cfg.authors.iter().filter(|a| a.is_judge()).map(|a| &a.name).collect::<Vec<_>>(),
        "outputs_to_write": writers * items.len(),
        "questions": jobs.len(),
        "expected_model_calls": writers * items.len() + jobs.len(),
        "already_recorded": {"outputs": done_out, "questions": done_j},
    }))
}

/// `self-preference status RUN_DIR`.
pub fn status(dir: &Path) -> Result<Value> {
    let run = RunDir::open(dir)?;
    let cfg: Config = run.config()?;
    let mut v = dry_run(&cfg, Some(dir))?;
    let j: RecordLog<Judgment> = run.records("judgments")?;
    v["unparseable_so_far"] = json!(j.records().filter(|r| r.winner.is_none()).count());
    v["finished"] = json!(run.root().join("results.json").is_file());
    Ok(v)
}

/// Creates the run directory (or opens it to resume) and loads the models once.
pub fn open_run(
    cfg: &mut Config,
    out: Option<PathBuf>,
    resume: Option<PathBuf>,
) -> Result<(RunDir, Config, Models)> {
    if let Some(dir) = resume {
        let run = RunDir::open(&dir)?;
        let stored: Config = run.config()?;
        stored.check()?;
        let models = Models::load(&stored)?;
        if let Some(r) = &stored.resolved {
            let now = models.ids(&stored);
            if r.model_ids != now {
                bail!(
                    "{}: the run used models {:?} but {:?} are loaded now; resuming would mix models",
                    dir.display(),
                    r.model_ids,
                    now
                );
            }
        }
        return Ok((run, stored, models));
    }
    let out = out.unwrap_or_else(|| RunDir::default_path("self-preference"));
    let models = Models::load(cfg)?;
    cfg.resolved = Some(Resolved {
        model_ids: models.ids(cfg),
        version: env!("CARGO_PKG_VERSION").to_string(),
    });
    let run = RunDir::create(&out, &*cfg)?;
    Ok((run, cfg.clone(), models))
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
            assert_eq!(parse_answer(t, &l), want, "{t:?}");
        }
    }
}
