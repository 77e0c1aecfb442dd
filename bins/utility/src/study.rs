//! The study: draw items, plan pairs, elicit comparisons (resumable), fit,
//! evaluate on held-out pairs, write results, report and plots.
//!
//! The statistics live in pref-utility (aggregation, position bias, Thurstonian
//! fit, standard errors); this module only composes them with the model and the
//! run directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use pref_data::loaders::{load_tasks, Source};
use pref_data::{record_id, Choice, Comparison, Order, RecordLog, RunDir, Task};
use pref_llm::llama::{LlamaConfig, LlamaLm};
use pref_llm::openai::{Limits, OpenAiConfig, OpenAiLm};
use pref_llm::{CachedModel, LanguageModel, Message, ModelCache, SamplingParams};
use pref_utility::{
    aggregate_comparisons_with, position_bias, PairData, SeMethod, ThurstonianParams,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{Answer, Backend, Config, ItemKind, Mode, Resolved, Strategy};

/// A drawn item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// `<source>:<id>`, unique across files.
    pub id: String,
    /// The text shown to the model.
    pub text: String,
}

/// The completion of one task (mode `complete-then-choose`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskCompletion {
    /// The item id.
    pub item: String,
    /// What the model wrote.
    pub text: String,
}

/// One comparison to ask: items `a < b` (indices), an order and a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Index of `a` in the item list.
    pub a: usize,
    /// Index of `b`.
    pub b: usize,
    /// Which is shown first.
    pub order: Order,
    /// Sample index.
    pub sample: u32,
    /// Whether the pair is held out.
    pub heldout: bool,
}

/// The plan of a run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The items.
    pub items: Vec<Item>,
    /// Training pairs.
    pub train: Vec<(usize, usize)>,
    /// Held-out pairs.
    pub heldout: Vec<(usize, usize)>,
    /// Every comparison, training pairs first.
    pub jobs: Vec<Job>,
}

/// Draws `n` items, balanced across the files (round-robin over seeded shuffles).
pub fn draw_items(cfg: &Config) -> Result<Vec<Item>> {
    let mut per_file: Vec<Vec<Item>> = Vec::new();
    for (k, f) in cfg.items.files.iter().enumerate() {
        let source: Source = f
            .source
            .parse()
            .map_err(|e| anyhow::anyhow!("items.files[{k}]: {e}"))?;
        let tasks: Vec<Task> = load_tasks(&f.path, source)?;
        let mut items: Vec<Item> = tasks
            .into_iter()
            .filter(|t| !t.prompt.trim().is_empty())
            .map(|t| Item {
                id: format!("{}:{}", f.source, t.id),
                text: t.prompt,
            })
            .collect();
        let mut rng =
            ChaCha8Rng::seed_from_u64(cfg.items.seed ^ (k as u64).wrapping_mul(0x9E37_79B9));
        items.shuffle(&mut rng);
        per_file.push(items);
    }
    let mut out: Vec<Item> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut round = 0;
    while out.len() < cfg.items.n_items && per_file.iter().any(|v| round < v.len()) {
        for v in &per_file {
            if out.len() == cfg.items.n_items {
                break;
            }
            if let Some(it) = v.get(round) {
                if seen.insert(it.id.clone()) {
                    out.push(it.clone());
                }
            }
        }
        round += 1;
    }
    if out.len() < 3 {
        bail!(
            "the input files hold {} usable items; at least 3 are needed",
            out.len()
        );
    }
    Ok(out)
}

/// Splits all pairs into held-out and training pairs and lists the comparisons.
pub fn plan(cfg: &Config, items: Vec<Item>) -> Plan {
    let n = items.len();
    let mut pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.pairs.seed);
    pairs.shuffle(&mut rng);
    let n_heldout = ((pairs.len() as f64 * cfg.pairs.heldout_fraction).ceil() as usize)
        .min(cfg.pairs.heldout_cap)
        .min(pairs.len().saturating_sub(n));
    let heldout: Vec<(usize, usize)> = pairs[..n_heldout].to_vec();
    let mut train: Vec<(usize, usize)> = pairs[n_heldout..].to_vec();
    if cfg.pairs.strategy == Strategy::Random {
        train.truncate(cfg.pairs.budget.unwrap_or(train.len()));
    }
    let mut jobs = Vec::new();
    for (list, heldout) in [(&train, false), (&heldout, true)] {
        for &(a, b) in list.iter() {
            for sample in 0..cfg.elicitation.samples {
                for order in [Order::Ab, Order::Ba] {
                    jobs.push(Job {
                        a,
                        b,
                        order,
                        sample,
                        heldout,
                    });
                }
            }
        }
    }
    Plan {
        items,
        train,
        heldout,
        jobs,
    }
}

fn template_name(cfg: &Config) -> String {
    let mode = match cfg.elicitation.mode {
        Mode::Choose => "choose",
        Mode::CompleteThenChoose => "complete-then-choose",
    };
    let kind = match cfg.items.kind {
        ItemKind::Tasks => "tasks",
        ItemKind::Outcomes => "outcomes",
    };
    format!("{mode}-{kind}-v1")
}

/// The question for one comparison (`first` is shown first).
pub fn choose_messages(cfg: &Config, first: &str, second: &str) -> Vec<Message> {
    let [l1, l2] = &cfg.elicitation.labels;
    let text = match cfg.items.kind {
        ItemKind::Tasks => format!(
            "Which of these two tasks would you rather do?\n\nTask {l1}:\n{first}\n\nTask {l2}:\n{second}\n\n\
             Answer with {l1} or {l2} only."
        ),
        ItemKind::Outcomes => format!(
            "Which of these two states of the world would you prefer?\n\nOption {l1}:\n{first}\n\n\
             Option {l2}:\n{second}\n\nAnswer with {l1} or {l2} only."
        ),
    };
    vec![Message::user(text)]
}

/// The conversation of `complete-then-choose`: both tasks done, then the question.
pub fn complete_then_choose_messages(
    cfg: &Config,
    first: (&str, &str),
    second: (&str, &str),
) -> Vec<Message> {
    let [l1, l2] = &cfg.elicitation.labels;
    vec![
        Message::user(format!("Task {l1}:\n{}", first.0)),
        Message::assistant(first.1.to_string()),
        Message::user(format!("Task {l2}:\n{}", second.0)),
        Message::assistant(second.1.to_string()),
        Message::user(format!(
            "You have now done both tasks. Which one did you prefer doing? Answer with {l1} or {l2} only."
        )),
    ]
}

/// Strict reading of a text answer: the label alone, optionally wrapped in
/// `**…**`, followed by `.`/`)`/`:`, or preceded by `Task`/`Option`. Returns
/// 0 (first label) or 1 (second); anything else is unparseable.
pub fn parse_answer(text: &str, labels: &[String; 2]) -> Option<usize> {
    let mut t = text.trim().trim_matches('*').trim();
    t = t.trim_end_matches(['.', ')', ':']).trim();
    for prefix in ["Task ", "Option ", "task ", "option "] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.trim();
        }
    }
    labels.iter().position(|l| l.trim() == t)
}

/// The model behind the cache, as configured.
pub fn load_model(cfg: &Config) -> Result<Model> {
    let inner: Box<dyn LanguageModel> = match cfg.model.backend {
        Backend::Llama => Box::new(LlamaLm::load(LlamaConfig {
            model: cfg.model.name.clone(),
            chat_template: cfg.model.chat_template.clone(),
            n_threads: cfg.model.threads,
            ..LlamaConfig::default()
        })?),
        Backend::Openai => {
            let mut oc = OpenAiConfig::new(
                cfg.model.base_url.clone().unwrap_or_default(),
                cfg.model.name.clone(),
            );
            oc.limits = Limits {
                max_concurrency: cfg.model.max_concurrency,
                requests_per_minute: cfg.model.requests_per_minute,
                ..Limits::default()
            };
            Box::new(OpenAiLm::new(oc)?)
        }
    };
    Ok(CachedModel::new(
        inner,
        Arc::new(ModelCache::open_default()?),
    ))
}

fn progress(n: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(n);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// The record id of a comparison: stable across resumes.
fn job_id(plan: &Plan, job: &Job, template: &str) -> String {
    let order = match job.order {
        Order::Ab => "ab",
        Order::Ba => "ba",
    };
    record_id(&[
        plan.items[job.a].id.as_str(),
        plan.items[job.b].id.as_str(),
        order,
        &job.sample.to_string(),
        template,
    ])
}

/// The model type every study function takes.
pub type Model = CachedModel<Box<dyn LanguageModel>>;

/// Runs (or resumes) the study in `run`; returns `results.json`'s value.
pub fn run(run: &RunDir, cfg: &Config, lm: &Model) -> Result<Value> {
    let started = Instant::now();
    let items = draw_items(cfg)?;
    let plan = plan(cfg, items);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let template = template_name(cfg);
    let labels: Vec<String> = cfg.elicitation.labels.to_vec();
    let model_id = lm.id().to_string();

    // Completions first (complete-then-choose): one per item, greedy.
    let mut completions: RecordLog<TaskCompletion> = run.records("completions")?;
    if cfg.elicitation.mode == Mode::CompleteThenChoose {
        let bar = progress(plan.items.len() as u64, "completing");
        for it in &plan.items {
            let id = record_id(&[it.id.as_str(), model_id.as_str()]);
            if !completions.contains(&id) {
                let params = SamplingParams {
                    max_tokens: cfg.elicitation.max_tokens_complete,
                    ..SamplingParams::default()
                };
                let c = rt.block_on(lm.generate(&[Message::user(it.text.clone())], &params))?;
                completions.append(
                    &id,
                    TaskCompletion {
                        item: it.id.clone(),
                        text: c.text,
                    },
                )?;
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
    }
    let completion_of = |i: usize| -> String {
        let id = record_id(&[plan.items[i].id.as_str(), model_id.as_str()]);
        completions
            .get(&id)
            .map(|c| c.text.clone())
            .unwrap_or_default()
    };

    let mut log: RecordLog<Comparison> = run.records("comparisons")?;
    let t_elicit = Instant::now();
    let bar = progress(plan.jobs.len() as u64, "eliciting");
    for job in &plan.jobs {
        let id = job_id(&plan, job, &template);
        if log.contains(&id) {
            bar.inc(1);
            continue;
        }
        let (first, second) = match job.order {
            Order::Ab => (job.a, job.b),
            Order::Ba => (job.b, job.a),
        };
        let messages = match cfg.elicitation.mode {
            Mode::Choose => choose_messages(cfg, &plan.items[first].text, &plan.items[second].text),
            Mode::CompleteThenChoose => complete_then_choose_messages(
                cfg,
                (&plan.items[first].text, &completion_of(first)),
                (&plan.items[second].text, &completion_of(second)),
            ),
        };
        // Position of the chosen option (0 = first shown), and the label log-probs.
        let (position, raw, lp) = match cfg.elicitation.answer {
            Answer::Logprobs => {
                let c = rt.block_on(lm.choice_logprobs(&messages, &labels))?;
                let (l1, l2) = (c.logprobs[0], c.logprobs[1]);
                let pos = if l1 > l2 {
                    Some(Some(0))
                } else if l2 > l1 {
                    Some(Some(1))
                } else {
                    Some(None) // a tie
                };
                let raw = format!("{}: {l1:.6}, {}: {l2:.6}", labels[0], labels[1]);
                (pos, raw, Some((l1, l2)))
            }
            Answer::Text => {
                let params = SamplingParams {
                    max_tokens: 8,
                    temperature: cfg.elicitation.temperature,
                    seed: u64::from(job.sample),
                    ..SamplingParams::default()
                };
                let c = rt.block_on(lm.generate(&messages, &params))?;
                let pos = parse_answer(&c.text, &cfg.elicitation.labels).map(Some);
                (pos, c.text, None)
            }
        };
        // Map positions back to the pair's a/b.
        let a_first = job.order == Order::Ab;
        let choice = position.map(|p| match p {
            None => Choice::Tie,
            Some(0) if a_first => Choice::A,
            Some(0) => Choice::B,
            Some(_) if a_first => Choice::B,
            Some(_) => Choice::A,
        });
        let (logprob_a, logprob_b) = match lp {
            Some((l1, l2)) if a_first => (Some(l1), Some(l2)),
            Some((l1, l2)) => (Some(l2), Some(l1)),
            None => (None, None),
        };
        let rec = Comparison {
            a: plan.items[job.a].id.clone(),
            b: plan.items[job.b].id.clone(),
            order: job.order,
            choice,
            raw,
            logprob_a,
            logprob_b,
            model: model_id.clone(),
            template: template.clone(),
            sample: job.sample,
        };
        log.append(&id, rec)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let elicit_seconds = t_elicit.elapsed().as_secs_f64();

    // Only this plan's records count (a resumed run never mixes in others).
    let mut train_recs = Vec::new();
    let mut heldout_recs = Vec::new();
    for job in &plan.jobs {
        if let Some(r) = log.get(&job_id(&plan, job, &template)) {
            if job.heldout {
                heldout_recs.push(r.clone());
            } else {
                train_recs.push(r.clone());
            }
        }
    }
    let readout = cfg.elicitation.readout;
    let t_fit = Instant::now();
    let train = aggregate_comparisons_with(&train_recs, readout);
    let usable: Vec<_> = train
        .pairs
        .iter()
        .filter(|p| p.count_a + p.count_b > 0.0)
        .cloned()
        .collect();
    if usable.is_empty() {
        bail!(
            "no usable training comparisons ({} of {} answers unparseable)",
            train.n_unparseable,
            train.n_comparisons
        );
    }
    let data = PairData::from_pair_counts(&usable)?;
    let prior = |sd: f64| (sd > 0.0).then_some(sd);
    let params = ThurstonianParams::default()
        .seed(cfg.fit.seed)
        .mu_prior_sd(prior(cfg.fit.mu_prior_sd))
        .s_prior_sd(prior(cfg.fit.s_prior_sd));
    let model = params.fit(&data)?;
    let se = model.mu_standard_errors(&data, SeMethod::Auto)?;
    let train_eval = model.evaluate(&usable)?;
    let held = aggregate_comparisons_with(&heldout_recs, readout);
    let held_pairs: Vec<_> = held
        .pairs
        .iter()
        .filter(|p| {
            p.count_a + p.count_b > 0.0
                && model.index_of(&p.a).is_some()
                && model.index_of(&p.b).is_some()
        })
        .cloned()
        .collect();
    let held_eval = if held_pairs.is_empty() {
        None
    } else {
        Some(model.evaluate(&held_pairs)?)
    };
    let fit_seconds = t_fit.elapsed().as_secs_f64();
    let all_recs: Vec<&Comparison> = train_recs.iter().chain(&heldout_recs).collect();
    let bias = position_bias(all_recs.iter().copied(), readout);
    let n_unparseable = train.n_unparseable + held.n_unparseable;

    let mut utilities = BTreeMap::new();
    for (i, id) in model.items().iter().enumerate() {
        utilities.insert(
            id.clone(),
            json!({"mu": model.mu()[i], "sigma2": model.sigma2()[i], "mu_se": se.mu_se[i]}),
        );
    }
    let stats = lm.stats();
    let results = json!({
        "utilities": utilities,
        "train": {"log_loss": train_eval.log_loss, "accuracy": train_eval.accuracy, "n_pairs": train_eval.n_pairs},
        "heldout": held_eval.as_ref().map(|e| json!({
            "log_loss": e.log_loss, "accuracy": e.accuracy, "accuracy_majority": e.accuracy_majority,
            "n_pairs": e.n_pairs, "n_ties": e.n_ties})),
        "model_calls": {"made": stats.made, "cached": stats.cached},
        "unparseable": {"count": n_unparseable, "of": train.n_comparisons + held.n_comparisons,
                        "policy": "kept in records/comparisons.jsonl with choice null; not counted in the fit"},
        "position_bias": bias.map(|b| json!({"share_first": b.share, "ci95": [b.lower, b.upper], "n": b.n})),
        "fit": {"iterations": model.stats.iterations, "converged": model.stats.converged},
        "n_items": plan.items.len(),
        "n_pairs": {"train": plan.train.len(), "heldout": plan.heldout.len()},
        "n_comparisons": plan.jobs.len(),
        "readout": readout,
        "model": model_id,
        "seconds": {"elicitation": elicit_seconds, "fit": fit_seconds, "total": started.elapsed().as_secs_f64()},
    });
    run.write_json("results.json", &results)?;
    crate::report::write(run, cfg, &plan, &results, &model, &se.mu_se)?;
    Ok(results)
}

/// What `--dry-run` prints: the plan and how many model calls it needs.
pub fn dry_run(cfg: &Config, lm: &Model, run_dir: Option<&Path>) -> Result<Value> {
    let items = draw_items(cfg)?;
    let plan = plan(cfg, items);
    let template = template_name(cfg);
    let labels: Vec<String> = cfg.elicitation.labels.to_vec();
    let done: Option<RecordLog<Comparison>> = match run_dir {
        Some(d) => Some(RunDir::open(d)?.records("comparisons")?),
        None => None,
    };
    let mut recorded = 0;
    let mut cached = 0;
    for job in &plan.jobs {
        if done
            .as_ref()
            .is_some_and(|l| l.contains(&job_id(&plan, job, &template)))
        {
            recorded += 1;
            continue;
        }
        if cfg.elicitation.mode == Mode::Choose && cfg.elicitation.answer == Answer::Logprobs {
            let (f, s) = match job.order {
                Order::Ab => (job.a, job.b),
                Order::Ba => (job.b, job.a),
            };
            let m = choose_messages(cfg, &plan.items[f].text, &plan.items[s].text);
            if lm.is_cached_choice(&m, &labels)? {
                cached += 1;
            }
        }
    }
    let completions = if cfg.elicitation.mode == Mode::CompleteThenChoose {
        plan.items.len()
    } else {
        0
    };
    Ok(json!({
        "items": plan.items.iter().map(|i| &i.id).collect::<Vec<_>>(),
        "pairs": {"train": plan.train.len(), "heldout": plan.heldout.len()},
        "comparisons": plan.jobs.len(),
        "expected_model_calls": plan.jobs.len() + completions,
        "already_recorded": recorded,
        "already_cached": cached,
        "model": lm.id().to_string(),
    }))
}

/// `utility status RUN_DIR`.
pub fn status(dir: &Path) -> Result<Value> {
    let run = RunDir::open(dir)?;
    let cfg: Config = run.config()?;
    let items = draw_items(&cfg)?;
    let plan = plan(&cfg, items);
    let log: RecordLog<Comparison> = run.records("comparisons")?;
    let template = template_name(&cfg);
    let done = plan
        .jobs
        .iter()
        .filter(|j| log.contains(&job_id(&plan, j, &template)))
        .count();
    let unparseable = log.records().filter(|r| r.choice.is_none()).count();
    let results = run.root().join("results.json");
    Ok(json!({
        "run": dir,
        "comparisons": {"done": done, "planned": plan.jobs.len()},
        "unparseable_so_far": unparseable,
        "finished": results.is_file() && done == plan.jobs.len(),
        "results": results.is_file().then_some(results),
    }))
}

/// Creates the run directory (or opens it to resume) with the resolved config,
/// and loads the model once.
pub fn open_run(
    cfg: &mut Config,
    out: Option<PathBuf>,
    resume: Option<PathBuf>,
) -> Result<(RunDir, Config, Model)> {
    if let Some(dir) = resume {
        let run = RunDir::open(&dir)?;
        let stored: Config = run.config()?;
        stored.check()?;
        let lm = load_model(&stored)?;
        if let Some(r) = &stored.resolved {
            if r.model_id != lm.id().to_string() {
                bail!(
                    "{}: the run used model {} but {} is loaded now; resuming would mix models",
                    dir.display(),
                    r.model_id,
                    lm.id()
                );
            }
        }
        return Ok((run, stored, lm));
    }
    let out = out.unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        PathBuf::from("runs")
            .join("utility")
            .join(stamp.to_string())
    });
    let lm = load_model(cfg)?;
    cfg.resolved = Some(Resolved {
        model_id: lm.id().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    });
    let run = RunDir::create(&out, &*cfg)?;
    Ok((run, cfg.clone(), lm))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> [String; 2] {
        ["A".into(), "B".into()]
    }

    #[test]
    fn strict_parser_accepts_only_a_bare_label() {
        for (text, want) in [
            ("A", Some(0)),
            (" B\n", Some(1)),
            ("**A**", Some(0)),
            ("B.", Some(1)),
            ("A)", Some(0)),
            ("Task B", Some(1)),
            ("Option A:", Some(0)),
            ("AB", None),
            ("I prefer A", None),
            ("", None),
            ("a", None),
            ("C", None),
        ] {
            assert_eq!(parse_answer(text, &labels()), want, "{text:?}");
        }
    }

    fn items(n: usize) -> Vec<Item> {
        (0..n)
            .map(|i| Item {
                id: format!("t{i}"),
                text: format!("task {i}"),
            })
            .collect()
    }

    #[test]
    fn plan_holds_out_pairs_and_asks_both_orders() {
        let mut cfg = Config::default();
        cfg.elicitation.samples = 2;
        // 10 items: 45 pairs, ceil(0.05 · 45) = 3 held out.
        let p = plan(&cfg, items(10));
        assert_eq!((p.train.len(), p.heldout.len()), (42, 3));
        assert_eq!(p.jobs.len(), 45 * 2 * 2);
        assert!(p.heldout.iter().all(|h| !p.train.contains(h)));
        let again = plan(&cfg, items(10));
        assert_eq!(p.heldout, again.heldout, "seeded");
        cfg.pairs.seed = 1;
        assert_ne!(plan(&cfg, items(10)).heldout, p.heldout);
        // A random budget caps the training pairs only.
        cfg.pairs.strategy = Strategy::Random;
        cfg.pairs.budget = Some(10);
        let r = plan(&cfg, items(10));
        assert_eq!((r.train.len(), r.heldout.len()), (10, 3));
        // Held-out pairs never starve the training graph of small designs.
        let small = plan(&Config::default(), items(3));
        assert_eq!((small.train.len(), small.heldout.len()), (3, 0));
    }

    #[test]
    fn draws_are_balanced_across_files_and_seeded() {
        let mut cfg = Config::default();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for f in &mut cfg.items.files {
            f.path = root.join(&f.path);
        }
        cfg.items.n_items = 6;
        let a = draw_items(&cfg).unwrap();
        assert_eq!(a.len(), 6);
        for src in ["alpaca:", "math:", "wildchat:"] {
            assert_eq!(
                a.iter().filter(|i| i.id.starts_with(src)).count(),
                2,
                "{src}"
            );
        }
        assert_eq!(draw_items(&cfg).unwrap(), a);
        cfg.items.seed = 5;
        assert_ne!(draw_items(&cfg).unwrap(), a);
    }

    #[test]
    fn bad_configuration_is_named() {
        let mut cfg = Config::default();
        cfg.elicitation.labels = ["A".into(), "A".into()];
        assert!(cfg
            .check()
            .unwrap_err()
            .to_string()
            .contains("elicitation.labels"));
        let mut cfg = Config::default();
        cfg.pairs.strategy = Strategy::Random;
        assert!(cfg
            .check()
            .unwrap_err()
            .to_string()
            .contains("pairs.budget"));
        let mut cfg = Config::default();
        cfg.items.files[0].source = "nope".into();
        assert!(cfg.check().unwrap_err().to_string().contains("items.files"));
        let e = toml::from_str::<Config>("[items]\nn_itmes = 3\n").unwrap_err();
        assert!(e.to_string().contains("n_itmes"), "{e}");
    }
}

#[cfg(test)]
mod example_config {
    /// `examples/configs/utility.toml` parses and passes the checks.
    #[test]
    fn example_config_is_valid() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/configs/utility.toml");
        let cfg = crate::config::Config::read(&path).unwrap();
        cfg.check().unwrap();
        assert_eq!(cfg.items.n_items, 8);
    }
}
