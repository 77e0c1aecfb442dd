//! Asking a model about pairs of items: the plan (items drawn, pairs split into
//! held-out and training pairs), the prompts, one comparison per [`Job`] (pair,
//! order, sample) through pref-study's stage `elicit` (records in
//! `records/comparisons.jsonl` under deterministic ids), the model's own
//! answers first in mode `complete-then-choose` (stage `complete`), and the
//! whole pairwise elicitation with its fit ([`run_pairs`]). See `docs/utility.md`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use pref_data::{record_id, Choice, Comparison, Order, PairCounts};
use pref_llm::{LanguageModel, Message, SamplingParams};
use pref_study::{
    with_system, BoxError, ContextCheck, Draw, Item, Model, Picked, PlannedJob, Run, Stage,
    StagePlan, StudyConfig, TwoWayQuestion,
};
use pref_utility::{
    aggregate_comparisons_with, learning_curve, position_bias, prefix_sizes, ActiveLearningParams,
    CurvePoint, UtilityFit,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::results::{
    Bias, HeldOut, PairCountsOfDesign, Results, Round, Seconds, TrainMetrics, Unparseable,
};
use crate::settings::{Answer, ItemKind, Mode, Orders, Settings, Strategy};

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
    /// What the draw left out (repeated ids, fewer items than asked for).
    pub warnings: Vec<String>,
}

impl Plan {
    /// Draws the items and splits all pairs into held-out and training pairs
    /// (mode `rate` asks no pairs).
    pub fn of(s: Settings<'_>) -> Result<Self> {
        let draw = draw_items(s)?;
        let warnings = draw.warnings();
        Ok(Plan {
            warnings,
            ..plan(s, draw.items)
        })
    }

    /// The item ids.
    pub fn ids(&self) -> Vec<String> {
        self.items.iter().map(|i| i.id.clone()).collect()
    }

    /// The training comparisons known before asking: all of them for `all` and
    /// `random`; none for `active` (chosen as answers come in).
    pub fn train_jobs(&self, s: Settings<'_>) -> Vec<Job> {
        match s.pairs.strategy {
            Strategy::Active => Vec::new(),
            _ => jobs(s, &self.train),
        }
    }

    /// Training pairs active learning will ask at most.
    pub fn active_target(&self, s: Settings<'_>) -> usize {
        let n = self.items.len() as f64;
        let t = (s.pairs.active.edge_multiplier * n * n.log2()).floor() as usize;
        t.min(self.train.len())
    }

    /// Comparisons the plan asks at most (mode `rate`: ratings).
    pub fn max_comparisons(&self, s: Settings<'_>) -> usize {
        let k = s.elicitation.samples as usize;
        let per_pair = k * s.elicitation.orders.asked().len();
        match (s.elicitation.mode, s.pairs.strategy) {
            (Mode::Rate, _) => self.items.len() * k,
            (_, Strategy::Active) => {
                let mut asked = self.active_target(s);
                if s.pairs.active.compare_random {
                    asked *= 2;
                }
                (asked.min(self.train.len()) + self.heldout.len()) * per_pair
            }
            _ => (self.train.len() + self.heldout.len()) * per_pair,
        }
    }
}

/// Draws `items.n_items` items, balanced across the files.
pub fn draw_items(s: Settings<'_>) -> Result<Draw> {
    let draw = pref_study::draw_balanced(&s.items.files, s.items.n_items, s.items.seed)?;
    if draw.items.len() < 3 {
        return Err(Error::Input(format!(
            "the input files hold {} usable items; at least 3 are needed",
            draw.items.len()
        )));
    }
    Ok(draw)
}

/// Splits all pairs into held-out and training pairs (mode `rate` asks no pairs).
pub fn plan(s: Settings<'_>, items: Vec<Item>) -> Plan {
    if s.elicitation.mode == Mode::Rate {
        return Plan {
            items,
            train: Vec::new(),
            heldout: Vec::new(),
            warnings: Vec::new(),
        };
    }
    let n = items.len();
    let mut pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .collect();
    pairs.shuffle(&mut ChaCha8Rng::seed_from_u64(s.pairs.seed));
    let n_heldout = ((pairs.len() as f64 * s.pairs.heldout_fraction).ceil() as usize)
        .min(s.pairs.heldout_cap)
        .min(pairs.len().saturating_sub(n));
    let heldout = pairs[..n_heldout].to_vec();
    let mut train = pairs[n_heldout..].to_vec();
    if s.pairs.strategy == Strategy::Random {
        train.truncate(s.pairs.budget.unwrap_or(train.len()));
    }
    Plan {
        items,
        train,
        heldout,
        warnings: Vec::new(),
    }
}

/// The prompt template's name, recorded in every record (part of its id).
pub fn template_name(s: Settings<'_>) -> String {
    if let Some(p) = s.prompt {
        return p.name();
    }
    let mode = match s.elicitation.mode {
        Mode::Choose => "choose",
        Mode::CompleteThenChoose => "complete-then-choose",
        Mode::Rate => "rate",
    };
    let kind = match s.items.kind {
        ItemKind::Tasks => "tasks",
        ItemKind::Outcomes => "outcomes",
    };
    format!("{mode}-{kind}-v1")
}

/// `messages` after the configured system message, if any.
pub fn system(s: Settings<'_>, messages: Vec<Message>) -> Vec<Message> {
    with_system(s.elicitation.system.as_deref(), messages)
}

/// The question for one comparison (`first` is shown first).
pub fn choose_messages(s: Settings<'_>, first: &str, second: &str) -> Vec<Message> {
    if let Some(p) = s.prompt {
        return p.messages(first, second);
    }
    let [l1, l2] = &s.elicitation.labels;
    let text = match s.items.kind {
        ItemKind::Tasks => format!(
            "Which of these two tasks would you rather do?\n\nTask {l1}:\n{first}\n\nTask {l2}:\n{second}\n\n\
             Answer with {l1} or {l2} only."
        ),
        ItemKind::Outcomes => format!(
            "Which of these two states of the world would you prefer?\n\nOption {l1}:\n{first}\n\n\
             Option {l2}:\n{second}\n\nAnswer with {l1} or {l2} only."
        ),
    };
    system(s, vec![Message::user(text)])
}

/// The conversation of `complete-then-choose`: both tasks done, then the question.
pub fn complete_then_choose_messages(
    s: Settings<'_>,
    first: (&str, &str),
    second: (&str, &str),
) -> Vec<Message> {
    let [l1, l2] = &s.elicitation.labels;
    let conversation = vec![
        Message::user(format!("Task {l1}:\n{}", first.0)),
        Message::assistant(first.1.to_string()),
        Message::user(format!("Task {l2}:\n{}", second.0)),
        Message::assistant(second.1.to_string()),
        Message::user(format!(
            "You have now done both tasks. Which one did you prefer doing? Answer with {l1} or {l2} only."
        )),
    ];
    system(s, conversation)
}

/// The two answers whose log-probabilities are read (the labels, or the
/// study's prompt's options).
pub fn choice_options(s: Settings<'_>) -> [String; 2] {
    match s.prompt {
        Some(p) => p.options(),
        None => s.elicitation.labels.clone(),
    }
}

/// Words a strict text answer may put before its label.
pub const PREFIXES: &[&str] = &["Task ", "Option ", "task ", "option "];

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
}

impl Job {
    /// The items in the order the model sees them: (first, second).
    pub fn shown(&self) -> (usize, usize) {
        match self.order {
            Order::Ab => (self.a, self.b),
            Order::Ba => (self.b, self.a),
        }
    }
}

/// Every comparison of the given pairs: the settings' orders × samples, pair by pair.
pub fn jobs(s: Settings<'_>, pairs: &[(usize, usize)]) -> Vec<Job> {
    jobs_for(pairs, s.elicitation.samples, s.elicitation.orders)
}

/// Every comparison of the given pairs: `orders` × `samples`, pair by pair.
pub fn jobs_for(pairs: &[(usize, usize)], samples: u32, orders: Orders) -> Vec<Job> {
    let orders = orders.asked();
    let mut jobs = Vec::with_capacity(pairs.len() * orders.len() * samples as usize);
    for &(x, y) in pairs {
        let (a, b) = (x.min(y), x.max(y));
        for sample in 0..samples {
            for &order in orders {
                jobs.push(Job {
                    a,
                    b,
                    order,
                    sample,
                });
            }
        }
    }
    jobs
}

/// The record id of a comparison: stable across resumes.
pub fn job_id(items: &[Item], job: &Job, template: &str) -> String {
    let order = match job.order {
        Order::Ab => "ab",
        Order::Ba => "ba",
    };
    record_id(&[
        items[job.a].id.as_str(),
        items[job.b].id.as_str(),
        order,
        &job.sample.to_string(),
        template,
    ])
}

/// The completion of one task (mode `complete-then-choose`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskCompletion {
    /// The item id.
    pub item: String,
    /// What the model wrote.
    pub text: String,
}

/// The id of an item's completion.
pub fn completion_id(item: &Item, model_id: &str) -> String {
    record_id(&[item.id.as_str(), model_id])
}

/// Sampling of a text answer: 8 tokens (or the study prompt's answer length);
/// the seed is the sample index (plus the prompt's seed offset).
pub fn text_params(s: Settings<'_>, sample: u32) -> SamplingParams {
    SamplingParams {
        max_tokens: s
            .prompt
            .map_or(pref_study::TEXT_ANSWER_TOKENS, |p| p.max_answer_tokens()),
        temperature: s.elicitation.temperature,
        seed: u64::from(sample) + s.prompt.map_or(0, |p| p.seed()),
        tools: s.prompt.map(|p| p.tools()).unwrap_or_default(),
        ..SamplingParams::default()
    }
}

/// Sampling of a task's completion (greedy).
pub fn completion_params(s: Settings<'_>) -> SamplingParams {
    SamplingParams {
        max_tokens: s.elicitation.max_tokens_complete,
        ..SamplingParams::default()
    }
}

/// What a comparison needs besides its job: the run's settings, items and model.
struct Asker<'a> {
    s: Settings<'a>,
    items: &'a [Item],
    lm: &'a Model,
    template: String,
    completions: Stage<'a, TaskCompletion>,
}

impl Asker<'_> {
    fn id(&self, job: &Job) -> String {
        job_id(self.items, job, &self.template)
    }

    fn completion_of(&self, i: usize) -> String {
        self.completions
            .get(&completion_id(&self.items[i], &self.lm.id().to_string()))
            .map(|c| c.text.clone())
            .unwrap_or_default()
    }

    /// One comparison, asked (or answered by the cache) but not recorded.
    async fn answer(&self, job: &Job) -> Result<Comparison> {
        let s = self.s;
        let (first, second) = job.shown();
        let messages = match s.elicitation.mode {
            Mode::CompleteThenChoose => complete_then_choose_messages(
                s,
                (&self.items[first].text, &self.completion_of(first)),
                (&self.items[second].text, &self.completion_of(second)),
            ),
            _ => choose_messages(s, &self.items[first].text, &self.items[second].text),
        };
        let options = choice_options(s);
        let parse = s.prompt.map(|p| move |t: &str| p.parse(t));
        let params = text_params(s, job.sample);
        let question = TwoWayQuestion {
            labels: &options,
            mode: s.elicitation.answer,
            prefixes: PREFIXES,
            temperature: s.elicitation.temperature,
            seed: params.seed,
            parse: parse
                .as_ref()
                .map(|f| f as &pref_study::choice::TextParser<'_>),
            max_tokens: params.max_tokens,
            tools: &params.tools,
        };
        let ans = question.ask(self.lm, &messages).await?;
        // Positions back to the pair's a/b.
        let a_first = job.order == Order::Ab;
        let choice = ans.picked.map(|p| match (p, a_first) {
            (Picked::Tie, _) => Choice::Tie,
            (Picked::First, true) | (Picked::Second, false) => Choice::A,
            _ => Choice::B,
        });
        let (logprob_a, logprob_b) = match ans.logprobs {
            Some((l1, l2)) if a_first => (Some(l1), Some(l2)),
            Some((l1, l2)) => (Some(l2), Some(l1)),
            None => (None, None),
        };
        Ok(Comparison {
            a: self.items[job.a].id.clone(),
            b: self.items[job.b].id.clone(),
            order: job.order,
            choice,
            raw: ans.raw,
            logprob_a,
            logprob_b,
            model: self.lm.id().to_string(),
            template: self.template.clone(),
            sample: job.sample,
        })
    }
}

/// Asks, records and reads back the comparisons of one run.
pub struct Elicitor<'a> {
    asker: Asker<'a>,
    comparisons: Stage<'a, Comparison>,
}

impl<'a> Elicitor<'a> {
    /// Opens the run's stages; `planned` sizes the progress bar.
    pub fn open<C: StudyConfig>(
        run: &'a Run<C>,
        s: Settings<'a>,
        items: &'a [Item],
        planned: usize,
    ) -> Result<Self> {
        let mut completions = run.stage("complete", "completions")?;
        if s.elicitation.mode == Mode::CompleteThenChoose {
            completions = completions.planned(items.len());
        }
        let comparisons = run
            .stage("elicit", "comparisons")?
            .parsed_when(|c: &Comparison| c.choice.is_some())
            .planned(planned);
        Ok(Self {
            asker: Asker {
                s,
                items,
                lm: run.model(s.role)?,
                template: template_name(s),
                completions,
            },
            comparisons,
        })
    }

    /// Mode `complete-then-choose`: the model's greedy answer to every task, once.
    pub fn ensure_completions(&mut self) -> Result<()> {
        let a = &mut self.asker;
        let (s, lm, items) = (a.s, a.lm, a.items);
        let model_id = lm.id().to_string();
        let params = completion_params(s);
        let params = &params;
        a.completions.run(
            items,
            |it| completion_id(it, &model_id),
            |it| async move {
                let messages = system(s, vec![Message::user(it.text.clone())]);
                let c = lm.generate(&messages, params).await?;
                Ok::<_, pref_llm::Error>(TaskCompletion {
                    item: it.id.clone(),
                    text: c.text,
                })
            },
        )?;
        Ok(())
    }

    /// Asks every job not yet recorded and records the answers.
    ///
    /// Questions that show the same item first are asked one after another:
    /// their prompts agree up to the end of that item, and the embedded backend
    /// decodes only what follows (it keeps the previous prompt's cells; see
    /// `pref_llm::llama`). The answers do not depend on the order asked.
    pub fn ask(&mut self, jobs: &[Job]) -> Result<()> {
        let asker = &self.asker;
        let mut ordered = jobs.to_vec();
        ordered.sort_by_key(|j| (j.shown().0, j.sample, j.shown().1));
        self.comparisons
            .run(&ordered, |j| asker.id(j), |j| asker.answer(j))?;
        Ok(())
    }

    /// The recorded comparisons of these jobs (missing ones are skipped).
    pub fn records(&self, jobs: &[Job]) -> Vec<Comparison> {
        jobs.iter()
            .filter_map(|j| self.comparisons.get(&self.asker.id(j)).cloned())
            .collect()
    }

    /// Pooled counts of one pair under the configured readout, oriented as
    /// `(count of x, count of y)`; `(0, 0)` when every answer was unparseable.
    pub fn counts(&self, x: usize, y: usize) -> (f64, f64) {
        let s = self.asker.s;
        let recs = self.records(&jobs(s, &[(x, y)]));
        let agg = aggregate_comparisons_with(&recs, s.elicitation.readout);
        match agg.pairs.first() {
            Some(PairCounts {
                a,
                count_a,
                count_b,
                ..
            }) if *a == self.asker.items[x].id => (*count_a, *count_b),
            Some(p) => (p.count_b, p.count_a),
            None => (0.0, 0.0),
        }
    }

    /// `(x, y, count of x, count of y)` of each pair.
    pub fn indexed_counts(&self, pairs: &[(usize, usize)]) -> Vec<(usize, usize, f64, f64)> {
        pairs
            .iter()
            .map(|&(x, y)| {
                let (cx, cy) = self.counts(x, y);
                (x, y, cx, cy)
            })
            .collect()
    }

    /// Clears the progress bars.
    pub fn finish(self) {
        self.comparisons.finish();
        self.asker.completions.finish();
    }
}

/// The stages an elicitation will run, with their planned jobs and whether the
/// cache answers them (for `status` and `--dry-run`), and the plan's details.
pub fn stage_plans(
    s: Settings<'_>,
    lm: &Arc<Model>,
) -> Result<(Vec<StagePlan>, serde_json::Value), BoxError> {
    let plan = Plan::of(s)?;
    let template = template_name(s);
    let (labels, scale) = (choice_options(s).to_vec(), &s.elicitation.scale);
    // Every prompt is offered to the context check, which counts the tokens
    // of the longest (docs/runs.md).
    let mut context = ContextCheck::new();
    let answer_room = |options: &[String]| match s.elicitation.answer {
        // a label takes at most one token per byte
        Answer::Logprobs => options.iter().map(String::len).max().unwrap_or(0),
        Answer::Text => text_params(s, 0).max_tokens as usize,
    };
    let cached = |m: &[Message], options: &[String], sample: u32| -> Result<bool, BoxError> {
        Ok(match s.elicitation.answer {
            Answer::Logprobs => lm.is_cached_choice(m, options)?,
            Answer::Text => lm.is_cached_generate(m, &text_params(s, sample))?,
        })
    };
    let mut stages = Vec::new();
    if s.elicitation.mode == Mode::Rate {
        let mut jobs = Vec::new();
        for (item, sample) in crate::rate::jobs(&plan.items, s.elicitation.samples) {
            let m = crate::rate::rate_messages(s, &item.text);
            let id = crate::rate::rating_id(item, sample, &template);
            context.offer("model", lm, &m, answer_room(scale), || {
                format!("rating `{id}` (item `{}`)", item.id)
            });
            jobs.push(PlannedJob {
                id,
                cached: Some(cached(&m, scale, sample)?),
            });
        }
        stages.push(StagePlan::known("rate", "ratings", jobs).unparseable_when_null("rating"));
    } else {
        let after_completions = s.elicitation.mode == Mode::CompleteThenChoose;
        if after_completions {
            let complete = completion_params(s);
            let mut jobs = Vec::new();
            for it in &plan.items {
                let m = system(s, vec![Message::user(it.text.clone())]);
                context.offer("model", lm, &m, complete.max_tokens as usize, || {
                    format!("the completion of item `{}`", it.id)
                });
                jobs.push(PlannedJob {
                    id: completion_id(it, &lm.id().to_string()),
                    cached: Some(lm.is_cached_generate(&m, &complete)?),
                });
            }
            stages.push(StagePlan::known("complete", "completions", jobs));
        }
        let elicit = if s.pairs.strategy == Strategy::Active {
            StagePlan::at_most("elicit", "comparisons", plan.max_comparisons(s))
        } else {
            let mut all = jobs(s, &plan.heldout);
            all.extend(plan.train_jobs(s));
            let mut planned = Vec::with_capacity(all.len());
            for j in &all {
                let (f, second) = j.shown();
                let id = job_id(&plan.items, j, &template);
                let (x, y) = (&plan.items[f], &plan.items[second]);
                let what = || format!("comparison `{id}` (items `{}`, `{}`)", x.id, y.id);
                let (m, room) = choice_prompt_bound(s, x, y);
                context.offer("model", lm, &m, room + answer_room(&labels), what);
                let c = if after_completions {
                    None // the prompt holds the completions
                } else {
                    Some(cached(&m, &labels, j.sample)?)
                };
                planned.push(PlannedJob { id, cached: c });
            }
            StagePlan::known("elicit", "comparisons", planned)
        };
        stages.push(elicit.unparseable_when_null("choice"));
    }
    if s.pairs.strategy == Strategy::Active && s.elicitation.mode != Mode::Rate {
        // Active pairs are chosen as answers arrive: any two items may meet,
        // so the two longest are offered in both orders.
        let mut by_len: Vec<&Item> = plan.items.iter().collect();
        by_len.sort_by_key(|it| std::cmp::Reverse(it.text.len()));
        if let [x, y, ..] = by_len[..] {
            for (f, g) in [(x, y), (y, x)] {
                let (m, room) = choice_prompt_bound(s, f, g);
                let what = || format!("a comparison of items `{}` and `{}`", f.id, g.id);
                context.offer("model", lm, &m, room + answer_room(&labels), what);
            }
        }
    }
    context.check()?;
    let active = s.pairs.strategy == Strategy::Active;
    let details = serde_json::json!({
        "items": plan.ids(),
        "mode": s.elicitation.mode,
        "strategy": s.pairs.strategy,
        "pairs": {"train": plan.train.len(), "heldout": plan.heldout.len(),
                  "active_target": active.then(|| plan.active_target(s))},
        "template": template,
        "model": lm.id().to_string(),
        "warnings": plan.warnings,
    });
    Ok((stages, details))
}

/// The choice prompt of `first` against `second` and the room its not yet
/// written parts need: in `complete-then-choose` the prompt holds both
/// completions, so it is built with empty ones and room for two.
fn choice_prompt_bound(s: Settings<'_>, first: &Item, second: &Item) -> (Vec<Message>, usize) {
    if s.elicitation.mode == Mode::CompleteThenChoose {
        let m = complete_then_choose_messages(s, (&first.text, ""), (&second.text, ""));
        (m, 2 * completion_params(s).max_tokens as usize)
    } else {
        (choose_messages(s, &first.text, &second.text), 0)
    }
}

/// What a finished pairwise elicitation gives: its results, its plan and the fit.
#[derive(Debug)]
pub struct Elicited {
    /// What `results.json` holds.
    pub results: Results,
    /// The plan (items, pairs).
    pub plan: Plan,
    /// The Thurstonian fit on every training pair (`None` when nothing could be fitted).
    pub fit: Option<UtilityFit>,
    /// The counts of every training pair, `(x, y, count of x, count of y)` by
    /// item index (what the fit saw).
    pub train_counts: Vec<(usize, usize, f64, f64)>,
}

/// Runs (or resumes) a pairwise elicitation (`choose`, `complete-then-choose`)
/// and fits it: held-out pairs first, then the training pairs (all, a random
/// budget, or active learning with its random baseline), the fit, learning
/// curves and position bias.
pub fn run_pairs<C: StudyConfig>(run: &Run<C>, s: Settings<'_>) -> Result<Elicited> {
    let plan = Plan::of(s)?;
    let ids = plan.ids();
    let mut el = Elicitor::open(run, s, &plan.items, plan.max_comparisons(s))?;
    let readout = s.elicitation.readout;
    let params = s.fit_params();

    if s.elicitation.mode == Mode::CompleteThenChoose {
        el.ensure_completions()?;
    }

    // Held-out pairs first: every learning-curve point is measured on them.
    let t_elicit = Instant::now();
    let held_jobs = jobs(s, &plan.heldout);
    el.ask(&held_jobs)?;
    let held: Vec<PairCounts> = aggregate_comparisons_with(&el.records(&held_jobs), readout)
        .pairs
        .into_iter()
        .filter(|p| p.count_a + p.count_b > 0.0)
        .collect();

    // Training pairs, in the order they were chosen.
    let mut rounds = Vec::new();
    let mut curve_active = Vec::new();
    let (train_pairs, random_pairs) = match s.pairs.strategy {
        Strategy::All | Strategy::Random => {
            el.ask(&plan.train_jobs(s))?;
            (plan.train.clone(), Vec::new())
        }
        Strategy::Active => {
            let a = &s.pairs.active;
            let mut asked: Vec<(usize, usize)> = Vec::new();
            let mut oracle = |pairs: &[(usize, usize)]| -> pref_utility::Result<Vec<(f64, f64)>> {
                el.ask(&jobs(s, pairs))
                    .map_err(|e| pref_utility::Error::OracleFailed(e.into()))?;
                asked.extend(pairs.iter().map(|&(x, y)| (x.min(y), x.max(y))));
                Ok(pairs.iter().map(|&(x, y)| el.counts(x, y)).collect())
            };
            let mut eval_err = None;
            ActiveLearningParams::default()
                .degree(a.degree)
                .p_percent(a.p_percent)
                .q_percent(a.q_percent)
                .pairs_per_round(a.pairs_per_round)
                .edge_multiplier(a.edge_multiplier)
                .seed(s.pairs.seed)
                .thurstonian(params.clone())
                .run(ids.clone(), Some(&plan.train), &mut oracle, |r, m| {
                    rounds.push(Round {
                        round: r.round,
                        pairs: r.n_pairs,
                        comparisons: r.n_comparisons,
                        added: r.n_added,
                        p_used: r.p_used,
                        q_used: r.q_used,
                    });
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
                })?;
            if let Some(e) = eval_err {
                return Err(e.into());
            }
            let random = if a.compare_random {
                // The random baseline: the first `target` pairs of the seeded
                // shuffle of the pool (pairs already asked come from the records).
                let r: Vec<(usize, usize)> = plan
                    .train
                    .iter()
                    .take(plan.active_target(s))
                    .copied()
                    .collect();
                el.ask(&jobs(s, &r))?;
                r
            } else {
                Vec::new()
            };
            (asked, random)
        }
    };
    let elicit_seconds = t_elicit.elapsed().as_secs_f64();

    // The fit on every training pair, and learning curves: by round for active
    // learning, by prefix otherwise.
    let t_fit = Instant::now();
    let train_counts = el.indexed_counts(&train_pairs);
    let fit = UtilityFit::of(&params, ids.clone(), &train_counts)?;
    let heldout = match (&fit, held.is_empty()) {
        (Some(f), false) => Some(HeldOut::from(f.model.evaluate(&held)?)),
        _ => None,
    };
    let mut curves = BTreeMap::new();
    if s.pairs.strategy == Strategy::Active {
        let sizes: Vec<usize> = curve_active.iter().map(|p| p.pairs).collect();
        curves.insert("active".to_string(), curve_active);
        if !random_pairs.is_empty() {
            let rc = el.indexed_counts(&random_pairs);
            curves.insert(
                "random".into(),
                learning_curve(&params, &ids, &rc, &sizes, &held)?,
            );
        }
    } else {
        let sizes = prefix_sizes(train_counts.len());
        curves.insert(
            "random".into(),
            learning_curve(&params, &ids, &train_counts, &sizes, &held)?,
        );
    }
    let fit_seconds = t_fit.elapsed().as_secs_f64();

    let train_jobs = jobs(s, &train_pairs);
    let train_agg = aggregate_comparisons_with(&el.records(&train_jobs), readout);
    let mut all_jobs = train_jobs;
    all_jobs.extend(jobs(s, &random_pairs));
    all_jobs.extend(held_jobs);
    all_jobs.sort_by_key(|j| (j.a, j.b, j.sample, j.order == Order::Ba));
    all_jobs.dedup();
    let all_recs = el.records(&all_jobs);
    let bias = position_bias(all_recs.iter(), readout);
    let (utilities, fit_info) = Results::fit_parts(fit.as_ref());
    let results = Results {
        mode: None,
        scale: None,
        ratings: None,
        rating_distribution: None,
        utilities,
        train: fit
            .as_ref()
            .map(|f| TrainMetrics::of(f, Some(train_agg.n_unparseable))),
        heldout,
        learning_curve: Some(curves),
        active_learning: (s.pairs.strategy == Strategy::Active).then_some(rounds),
        model_calls: run.calls(),
        unparseable: Unparseable {
            count: all_recs.iter().filter(|r| r.choice.is_none()).count(),
            of: all_recs.len(),
            policy: "kept in records/comparisons.jsonl with choice null; not counted in the fit"
                .into(),
        },
        position_bias: bias.map(|b| Bias {
            share_first: b.share,
            ci95: [b.lower, b.upper],
            n: b.n,
        }),
        fit: fit_info,
        n_items: plan.items.len(),
        n_pairs: Some(PairCountsOfDesign {
            train: train_pairs.len(),
            heldout: plan.heldout.len(),
            random_baseline: random_pairs.len(),
        }),
        n_comparisons: Some(all_recs.len()),
        n_ratings: None,
        readout: Some(readout),
        model: run.model(s.role)?.id().to_string(),
        warnings: plan
            .warnings
            .iter()
            .cloned()
            .chain(fit.as_ref().and_then(|f| f.disconnected.clone()))
            .collect(),
        seconds: Seconds {
            elicitation: elicit_seconds,
            fit: fit_seconds,
            total: run.seconds(),
        },
    };
    el.finish();
    Ok(Elicited {
        results,
        plan,
        fit,
        train_counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Sections;

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
            assert_eq!(
                pref_llm::parse_label(text, &labels(), PREFIXES),
                want,
                "{text:?}"
            );
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
        let mut cfg = Sections::default();
        cfg.elicitation.samples = 2;
        // 10 items: 45 pairs, ceil(0.05 · 45) = 3 held out.
        let p = plan(cfg.settings("model"), items(10));
        assert_eq!((p.train.len(), p.heldout.len()), (42, 3));
        assert_eq!(
            p.train_jobs(cfg.settings("model")).len()
                + jobs(cfg.settings("model"), &p.heldout).len(),
            45 * 2 * 2
        );
        assert_eq!(p.max_comparisons(cfg.settings("model")), 45 * 2 * 2);
        assert!(p.heldout.iter().all(|h| !p.train.contains(h)));
        let again = plan(cfg.settings("model"), items(10));
        assert_eq!(p.heldout, again.heldout, "seeded");
        cfg.pairs.seed = 1;
        assert_ne!(plan(cfg.settings("model"), items(10)).heldout, p.heldout);
        // A random budget caps the training pairs only.
        cfg.pairs.strategy = Strategy::Random;
        cfg.pairs.budget = Some(10);
        let r = plan(cfg.settings("model"), items(10));
        assert_eq!((r.train.len(), r.heldout.len()), (10, 3));
        // Active learning asks at most ⌊1 · 10 · log2 10⌋ = 33 pairs, plus as
        // many random ones for the comparison (capped by the 42 in the pool).
        cfg.pairs.strategy = Strategy::Active;
        let r = plan(cfg.settings("model"), items(10));
        assert!(r.train_jobs(cfg.settings("model")).is_empty());
        assert_eq!(r.active_target(cfg.settings("model")), 33);
        assert_eq!(r.max_comparisons(cfg.settings("model")), (42 + 3) * 2 * 2);
        cfg.pairs.active.compare_random = false;
        assert_eq!(r.max_comparisons(cfg.settings("model")), (33 + 3) * 2 * 2);
        cfg.elicitation.mode = Mode::Rate;
        let r = plan(cfg.settings("model"), items(10));
        assert_eq!((r.train.len(), r.heldout.len()), (0, 0));
        assert_eq!(r.max_comparisons(cfg.settings("model")), 10 * 2);
        // Held-out pairs never starve the training graph of small designs.
        let small = plan(Sections::default().settings("model"), items(3));
        assert_eq!((small.train.len(), small.heldout.len()), (3, 0));
    }

    #[test]
    fn draws_are_balanced_across_files_and_seeded() {
        let mut cfg = Sections::default();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for f in &mut cfg.items.files {
            f.path = root.join(&f.path);
        }
        cfg.items.n_items = 6;
        let a = draw_items(cfg.settings("model")).unwrap().items;
        assert_eq!(a.len(), 6);
        for src in ["alpaca:", "math:", "wildchat:"] {
            assert_eq!(
                a.iter().filter(|i| i.id.starts_with(src)).count(),
                2,
                "{src}"
            );
        }
        assert_eq!(draw_items(cfg.settings("model")).unwrap().items, a);
        cfg.items.seed = 5;
        assert_ne!(draw_items(cfg.settings("model")).unwrap().items, a);
    }
}
