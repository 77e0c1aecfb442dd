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
use pref_data::loaders::{load_tasks, Source};
use pref_data::{Comparison, Order, PairCounts, RecordLog, RunDir, Task};
use pref_llm::{CachedModel, LanguageModel, Message, ModelCache};
use pref_report::progress;
use pref_utility::{
    aggregate_comparisons_with, position_bias, ActiveLearningParams, FittedThurstonian, PairData,
    SeMethod, ThurstonianParams,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{Answer, Config, ItemKind, Mode, Resolved, Strategy};
use crate::elicit::{jobs_for, Elicitor, Job};

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

/// The plan of a run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The items.
    pub items: Vec<Item>,
    /// Training pairs: those asked (`all`, `random`), or the pool active
    /// learning chooses from (`active`).
    pub train: Vec<(usize, usize)>,
    /// Held-out pairs.
    pub heldout: Vec<(usize, usize)>,
}

impl Plan {
    /// The comparisons of the held-out pairs.
    pub fn heldout_jobs(&self, cfg: &Config) -> Vec<Job> {
        jobs_for(&self.heldout, cfg.elicitation.samples)
    }

    /// The training comparisons known before asking: all of them for `all` and
    /// `random`; none for `active` (chosen as answers come in).
    pub fn train_jobs(&self, cfg: &Config) -> Vec<Job> {
        match cfg.pairs.strategy {
            Strategy::Active => Vec::new(),
            _ => jobs_for(&self.train, cfg.elicitation.samples),
        }
    }

    /// Training pairs active learning will ask at most.
    pub fn active_target(&self, cfg: &Config) -> usize {
        let n = self.items.len() as f64;
        let t = (cfg.pairs.active.edge_multiplier * n * n.log2()).floor() as usize;
        t.min(self.train.len())
    }

    /// Comparisons the plan asks at most (mode `rate`: ratings).
    pub fn max_comparisons(&self, cfg: &Config) -> usize {
        let k = cfg.elicitation.samples as usize;
        match (cfg.elicitation.mode, cfg.pairs.strategy) {
            (Mode::Rate, _) => self.items.len() * k,
            (_, Strategy::Active) => {
                let asked = if cfg.pairs.active.compare_random {
                    2 * self.active_target(cfg)
                } else {
                    self.active_target(cfg)
                };
                (asked.min(self.train.len()) + self.heldout.len()) * 2 * k
            }
            _ => (self.train.len() + self.heldout.len()) * 2 * k,
        }
    }
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

/// Splits all pairs into held-out and training pairs (mode `rate` asks no pairs).
pub fn plan(cfg: &Config, items: Vec<Item>) -> Plan {
    if cfg.elicitation.mode == Mode::Rate {
        return Plan {
            items,
            train: Vec::new(),
            heldout: Vec::new(),
        };
    }
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
    Plan {
        items,
        train,
        heldout,
    }
}

/// The prompt template's name, recorded in every record (part of its id).
pub fn template_name(cfg: &Config) -> String {
    let mode = match cfg.elicitation.mode {
        Mode::Choose => "choose",
        Mode::CompleteThenChoose => "complete-then-choose",
        Mode::Rate => "rate",
    };
    let kind = match cfg.items.kind {
        ItemKind::Tasks => "tasks",
        ItemKind::Outcomes => "outcomes",
    };
    format!("{mode}-{kind}-v1")
}

/// `messages` after the configured system message, if any.
pub fn with_system(cfg: &Config, messages: Vec<Message>) -> Vec<Message> {
    match &cfg.elicitation.system {
        Some(s) => std::iter::once(Message::system(s.clone()))
            .chain(messages)
            .collect(),
        None => messages,
    }
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
    with_system(cfg, vec![Message::user(text)])
}

/// The conversation of `complete-then-choose`: both tasks done, then the question.
pub fn complete_then_choose_messages(
    cfg: &Config,
    first: (&str, &str),
    second: (&str, &str),
) -> Vec<Message> {
    let [l1, l2] = &cfg.elicitation.labels;
    let conversation = vec![
        Message::user(format!("Task {l1}:\n{}", first.0)),
        Message::assistant(first.1.to_string()),
        Message::user(format!("Task {l2}:\n{}", second.0)),
        Message::assistant(second.1.to_string()),
        Message::user(format!(
            "You have now done both tasks. Which one did you prefer doing? Answer with {l1} or {l2} only."
        )),
    ];
    with_system(cfg, conversation)
}

/// Strict reading of a text answer: the label alone, optionally wrapped in
/// `**…**`, followed by `.`/`)`/`:`, or preceded by `Task`/`Option`. Returns
/// 0 (first label) or 1 (second); anything else is unparseable.
pub fn parse_answer(text: &str, labels: &[String; 2]) -> Option<usize> {
    pref_llm::parse_label(text, labels, &["Task ", "Option ", "task ", "option "])
}

/// The model behind the cache, as configured.
pub fn load_model(cfg: &Config) -> Result<Model> {
    Ok(CachedModel::new(
        cfg.model.load()?,
        Arc::new(ModelCache::open_default()?),
    ))
}

/// The model type every study function takes.
pub type Model = CachedModel<Box<dyn LanguageModel>>;

/// The Thurstonian parameters of the configuration.
pub fn fit_params(cfg: &Config) -> ThurstonianParams {
    let prior = |sd: f64| (sd > 0.0).then_some(sd);
    ThurstonianParams::default()
        .seed(cfg.fit.seed)
        .mu_prior_sd(prior(cfg.fit.mu_prior_sd))
        .s_prior_sd(prior(cfg.fit.s_prior_sd))
}

/// Fits utilities of every item to `(x, y, count_x, count_y)` pair counts
/// (items without comparisons stay in the model, held by the prior).
pub fn fit_counts(
    cfg: &Config,
    items: &[Item],
    counts: &[(usize, usize, f64, f64)],
) -> Result<(FittedThurstonian, PairData)> {
    let mut data = PairData::with_items(items.iter().map(|i| i.id.clone()).collect())?;
    for &(x, y, cx, cy) in counts {
        if cx + cy > 0.0 {
            data.push(x, y, cx, cy)?;
        }
    }
    if data.is_empty() {
        bail!("no usable training comparisons (every answer was unparseable)");
    }
    let model = fit_params(cfg).fit(&data)?;
    Ok((model, data))
}

/// A fit of every item's utility with standard errors and its training metrics.
pub struct Fit {
    /// The fitted model.
    pub model: FittedThurstonian,
    /// Standard errors of μ.
    pub mu_se: Vec<f64>,
    /// Metrics on the training pairs.
    pub train: pref_utility::Evaluation,
}

impl Fit {
    /// Fits `counts`; `None` when no pair holds a usable comparison (every
    /// answer unparseable): the run still completes and reports that.
    pub fn of(
        cfg: &Config,
        items: &[Item],
        counts: &[(usize, usize, f64, f64)],
    ) -> Result<Option<Self>> {
        if counts.iter().all(|c| c.2 + c.3 == 0.0) {
            return Ok(None);
        }
        let (model, data) = fit_counts(cfg, items, counts)?;
        let se = model.mu_standard_errors(&data, SeMethod::Auto)?;
        let train = model.evaluate_data(&data)?;
        Ok(Some(Self {
            model,
            mu_se: se.mu_se,
            train,
        }))
    }

    /// `{id: {mu, sigma2, mu_se}}`.
    pub fn utilities_json(&self) -> Value {
        let m = &self.model;
        let mut out = BTreeMap::new();
        for (i, id) in m.items().iter().enumerate() {
            out.insert(
                id.clone(),
                json!({"mu": m.mu()[i], "sigma2": m.sigma2()[i], "mu_se": self.mu_se[i]}),
            );
        }
        json!(out)
    }
}

/// Held-out log loss and accuracy of a fit, as JSON (`null` without held-out pairs).
fn heldout_json(model: &FittedThurstonian, held: &[PairCounts]) -> Result<Value> {
    if held.is_empty() {
        return Ok(Value::Null);
    }
    let e = model.evaluate(held)?;
    Ok(json!({
        "log_loss": e.log_loss, "accuracy": e.accuracy, "accuracy_majority": e.accuracy_majority,
        "n_pairs": e.n_pairs, "n_ties": e.n_ties}))
}

/// One point of a learning curve: held-out metrics of a fit on the first
/// `pairs` training pairs.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    /// Training pairs used.
    pub pairs: usize,
    /// Comparisons in them (sum of counts).
    pub comparisons: f64,
    /// Held-out accuracy.
    pub accuracy: f64,
    /// Held-out log loss.
    pub log_loss: f64,
}

fn curve_point(
    cfg: &Config,
    items: &[Item],
    counts: &[(usize, usize, f64, f64)],
    held: &[PairCounts],
) -> Result<Option<CurvePoint>> {
    if held.is_empty() || counts.iter().all(|c| c.2 + c.3 == 0.0) {
        return Ok(None); // nothing to fit or nothing to score
    }
    let (model, data) = fit_counts(cfg, items, counts)?;
    let e = model.evaluate(held)?;
    Ok(Some(CurvePoint {
        pairs: counts.len(),
        comparisons: data.total_count(),
        accuracy: e.accuracy,
        log_loss: e.log_loss,
    }))
}

/// Learning curve of fits on growing prefixes (six sizes from a fifth to all).
fn prefix_curve(
    cfg: &Config,
    items: &[Item],
    counts: &[(usize, usize, f64, f64)],
    sizes: &[usize],
    held: &[PairCounts],
) -> Result<Vec<CurvePoint>> {
    let mut out = Vec::new();
    for &k in sizes {
        if let Some(p) = curve_point(cfg, items, &counts[..k.min(counts.len())], held)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// Runs (or resumes) the study in `run`; returns `results.json`'s value.
pub fn run(run: &RunDir, cfg: &Config, lm: &Model) -> Result<Value> {
    if cfg.elicitation.mode == Mode::Rate {
        return crate::rate::run(run, cfg, lm);
    }
    let started = Instant::now();
    let items = draw_items(cfg)?;
    let plan = plan(cfg, items);
    let items = &plan.items;
    let rt = runtime()?;
    let mut el = Elicitor::new(run, cfg, items, lm, &rt)?;
    let readout = cfg.elicitation.readout;
    let k = cfg.elicitation.samples;

    if cfg.elicitation.mode == Mode::CompleteThenChoose {
        let bar = progress(items.len() as u64, "completing");
        el.ensure_completions(&bar)?;
        bar.finish_and_clear();
    }

    // Held-out pairs first: every learning-curve point is measured on them.
    let t_elicit = Instant::now();
    let bar = progress(plan.max_comparisons(cfg) as u64, "eliciting");
    let held_jobs = plan.heldout_jobs(cfg);
    el.ask(&held_jobs, &bar)?;
    let held_recs = el.records(&held_jobs);
    let held_agg = aggregate_comparisons_with(&held_recs, readout);
    let held: Vec<PairCounts> = held_agg
        .pairs
        .iter()
        .filter(|p| p.count_a + p.count_b > 0.0)
        .cloned()
        .collect();

    // Training pairs, in the order they were chosen.
    let mut rounds = Vec::new();
    let mut curve_active = Vec::new();
    type Pairs = Vec<(usize, usize)>;
    let (train_pairs, random_pairs): (Pairs, Pairs) = match cfg.pairs.strategy {
        Strategy::All | Strategy::Random => {
            el.ask(&plan.train_jobs(cfg), &bar)?;
            (plan.train.clone(), Vec::new())
        }
        Strategy::Active => {
            let a = &cfg.pairs.active;
            let target = plan.active_target(cfg);
            let params = ActiveLearningParams::default()
                .degree(a.degree)
                .p_percent(a.p_percent)
                .q_percent(a.q_percent)
                .pairs_per_round(a.pairs_per_round)
                .edge_multiplier(a.edge_multiplier)
                .seed(cfg.pairs.seed)
                .thurstonian(fit_params(cfg));
            let mut asked: Vec<(usize, usize)> = Vec::new();
            let mut oracle = |pairs: &[(usize, usize)]| -> pref_utility::Result<Vec<(f64, f64)>> {
                el.ask(&jobs_for(pairs, k), &bar)
                    .map_err(|e| pref_utility::Error::Oracle(format!("{e:#}")))?;
                asked.extend(pairs.iter().map(|&(x, y)| (x.min(y), x.max(y))));
                Ok(pairs.iter().map(|&(x, y)| el.counts(x, y)).collect())
            };
            let mut eval_err = None;
            params.run(
                items.iter().map(|i| i.id.clone()).collect(),
                Some(&plan.train),
                &mut oracle,
                |r, m| {
                    rounds.push(json!({"round": r.round, "pairs": r.n_pairs,
                            "comparisons": r.n_comparisons, "added": r.n_added,
                            "p_used": r.p_used, "q_used": r.q_used}));
                    if held.is_empty() {
                        return;
                    }
                    match m.evaluate(&held) {
                        Ok(e) => curve_active.push(CurvePoint {
                            pairs: r.n_pairs,
                            comparisons: r.n_comparisons,
                            accuracy: e.accuracy,
                            log_loss: e.log_loss,
                        }),
                        Err(e) => eval_err = Some(e),
                    }
                },
            )?;
            if let Some(e) = eval_err {
                return Err(e.into());
            }
            let random = if a.compare_random {
                // The random baseline: the first `target` pairs of the seeded
                // shuffle of the pool (pairs already asked come from the records).
                let r: Vec<(usize, usize)> = plan.train.iter().take(target).copied().collect();
                el.ask(&jobs_for(&r, k), &bar)?;
                r
            } else {
                Vec::new()
            };
            (asked, random)
        }
    };
    bar.finish_and_clear();
    let elicit_seconds = t_elicit.elapsed().as_secs_f64();

    // The fit on every training pair.
    let t_fit = Instant::now();
    let counts_of = |pairs: &[(usize, usize)]| -> Vec<(usize, usize, f64, f64)> {
        pairs
            .iter()
            .map(|&(x, y)| {
                let (cx, cy) = el.counts(x, y);
                (x, y, cx, cy)
            })
            .collect()
    };
    let train_counts = counts_of(&train_pairs);
    let fit = Fit::of(cfg, items, &train_counts)?;
    let heldout = match &fit {
        Some(f) => heldout_json(&f.model, &held)?,
        None => Value::Null,
    };

    // Learning curves: by round for active learning; by prefix otherwise.
    let mut curves = serde_json::Map::new();
    match cfg.pairs.strategy {
        Strategy::Active => {
            curves.insert("active".into(), serde_json::to_value(&curve_active)?);
            if !random_pairs.is_empty() {
                let sizes: Vec<usize> = curve_active.iter().map(|p| p.pairs).collect();
                let rc = counts_of(&random_pairs);
                curves.insert(
                    "random".into(),
                    serde_json::to_value(prefix_curve(cfg, items, &rc, &sizes, &held)?)?,
                );
            }
        }
        _ => {
            let n = train_counts.len();
            let sizes: Vec<usize> = [0.2, 0.35, 0.5, 0.65, 0.8, 1.0]
                .iter()
                .map(|f| ((n as f64 * f).round() as usize).max(1))
                .collect();
            curves.insert(
                "random".into(),
                serde_json::to_value(prefix_curve(cfg, items, &train_counts, &sizes, &held)?)?,
            );
        }
    }
    let fit_seconds = t_fit.elapsed().as_secs_f64();

    let train_jobs = jobs_for(&train_pairs, k);
    let train_recs = el.records(&train_jobs);
    let train_agg = aggregate_comparisons_with(&train_recs, readout);
    let mut all_jobs = train_jobs;
    all_jobs.extend(jobs_for(&random_pairs, k));
    all_jobs.extend(held_jobs);
    all_jobs.sort_by_key(|j| (j.a, j.b, j.sample, j.order == Order::Ba));
    all_jobs.dedup();
    let all_recs = el.records(&all_jobs);
    let bias = position_bias(all_recs.iter(), readout);
    let n_unparseable = all_recs.iter().filter(|r| r.choice.is_none()).count();

    let stats = lm.stats();
    let results = json!({
        "utilities": fit.as_ref().map_or(json!({}), Fit::utilities_json),
        "train": fit.as_ref().map(|f| json!({"log_loss": f.train.log_loss, "accuracy": f.train.accuracy,
                  "n_pairs": f.train.n_pairs, "unparseable": train_agg.n_unparseable})),
        "heldout": heldout,
        "learning_curve": curves,
        "active_learning": (cfg.pairs.strategy == Strategy::Active).then_some(rounds),
        "model_calls": {"made": stats.made, "cached": stats.cached},
        "unparseable": {"count": n_unparseable, "of": all_recs.len(),
                        "policy": "kept in records/comparisons.jsonl with choice null; not counted in the fit"},
        "position_bias": bias.map(|b| json!({"share_first": b.share, "ci95": [b.lower, b.upper], "n": b.n})),
        "fit": fit.as_ref().map(|f| json!({"iterations": f.model.stats.iterations, "converged": f.model.stats.converged})),
        "n_items": items.len(),
        "n_pairs": {"train": train_pairs.len(), "heldout": plan.heldout.len(), "random_baseline": random_pairs.len()},
        "n_comparisons": all_recs.len(),
        "readout": readout,
        "model": lm.id().to_string(),
        "seconds": {"elicitation": elicit_seconds, "fit": fit_seconds, "total": started.elapsed().as_secs_f64()},
    });
    run.write_json("results.json", &results)?;
    crate::report::write(run, cfg, &plan, &results, fit.as_ref())?;
    Ok(results)
}

/// A single-threaded async runtime (the model calls are the only async work).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// What `--dry-run` prints: the plan and how many model calls it needs.
pub fn dry_run(cfg: &Config, lm: &Model, run_dir: Option<&Path>) -> Result<Value> {
    let items = draw_items(cfg)?;
    let plan = plan(cfg, items);
    let template = template_name(cfg);
    let done = match run_dir {
        Some(d) => recorded(&RunDir::open(d)?, cfg, &plan)?,
        None => 0,
    };
    // Cached answers can be counted without the model for choose + logprobs,
    // the one mode whose prompts are known before anything is asked.
    let mut cached = 0;
    if cfg.elicitation.mode == Mode::Choose && cfg.elicitation.answer == Answer::Logprobs {
        let labels: Vec<String> = cfg.elicitation.labels.to_vec();
        let mut jobs = plan.heldout_jobs(cfg);
        jobs.extend(plan.train_jobs(cfg));
        for job in &jobs {
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
    let max = plan.max_comparisons(cfg);
    Ok(json!({
        "items": plan.items.iter().map(|i| &i.id).collect::<Vec<_>>(),
        "mode": cfg.elicitation.mode,
        "strategy": cfg.pairs.strategy,
        "pairs": {"train": plan.train.len(), "heldout": plan.heldout.len(),
                  "active_target": (cfg.pairs.strategy == Strategy::Active).then(|| plan.active_target(cfg))},
        "comparisons": max,
        "expected_model_calls": max + completions,
        "already_recorded": done,
        "already_cached": cached,
        "template": template,
        "model": lm.id().to_string(),
    }))
}

/// Comparisons (mode `rate`: ratings) recorded in a run directory for this plan.
fn recorded(run: &RunDir, cfg: &Config, plan: &Plan) -> Result<usize> {
    if cfg.elicitation.mode == Mode::Rate {
        return crate::rate::recorded(run, cfg, &plan.items);
    }
    let log: RecordLog<Comparison> = run.records("comparisons")?;
    let template = template_name(cfg);
    Ok(log.records().filter(|r| r.template == template).count())
}

/// `utility status RUN_DIR`.
pub fn status(dir: &Path) -> Result<Value> {
    let run = RunDir::open(dir)?;
    let cfg: Config = run.config()?;
    let items = draw_items(&cfg)?;
    let plan = plan(&cfg, items);
    let done = recorded(&run, &cfg, &plan)?;
    let unparseable = if cfg.elicitation.mode == Mode::Rate {
        crate::rate::unparseable(&run)?
    } else {
        let log: RecordLog<Comparison> = run.records("comparisons")?;
        let n = log.records().filter(|r| r.choice.is_none()).count();
        n
    };
    let results = run.root().join("results.json");
    let max = plan.max_comparisons(&cfg);
    Ok(json!({
        "run": dir,
        "comparisons": {"done": done, "planned": max,
                        "planned_is_upper_bound": cfg.pairs.strategy == Strategy::Active && cfg.elicitation.mode != Mode::Rate},
        "unparseable_so_far": unparseable,
        "finished": results.is_file(),
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
    let out = out.unwrap_or_else(|| RunDir::default_path("utility"));
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
        assert_eq!(
            p.train_jobs(&cfg).len() + p.heldout_jobs(&cfg).len(),
            45 * 2 * 2
        );
        assert_eq!(p.max_comparisons(&cfg), 45 * 2 * 2);
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
        // Active learning asks at most ⌊1 · 10 · log2 10⌋ = 33 pairs, plus as
        // many random ones for the comparison (capped by the 42 in the pool).
        cfg.pairs.strategy = Strategy::Active;
        let r = plan(&cfg, items(10));
        assert!(r.train_jobs(&cfg).is_empty());
        assert_eq!(r.active_target(&cfg), 33);
        assert_eq!(r.max_comparisons(&cfg), (42 + 3) * 2 * 2);
        cfg.pairs.active.compare_random = false;
        assert_eq!(r.max_comparisons(&cfg), (33 + 3) * 2 * 2);
        cfg.elicitation.mode = Mode::Rate;
        let r = plan(&cfg, items(10));
        assert_eq!((r.train.len(), r.heldout.len()), (0, 0));
        assert_eq!(r.max_comparisons(&cfg), 10 * 2);
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
