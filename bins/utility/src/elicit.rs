//! Asking the model about pairs: one comparison per [`Job`] (pair, order,
//! sample) through pref-study's stage `elicit` (records in
//! `records/comparisons.jsonl` under deterministic ids), and in mode
//! `complete-then-choose` the model's own answers first (stage `complete`).

use anyhow::Result;
use pref_data::{record_id, Choice, Comparison, Order, PairCounts};
use pref_llm::{LanguageModel, Message, SamplingParams};
use pref_study::{Item, Model, Picked, Run, Stage, TwoWayQuestion};
use pref_utility::aggregate_comparisons_with;
use serde::{Deserialize, Serialize};

use crate::config::{Config, Mode};
use crate::study::{
    choose_messages, complete_then_choose_messages, system, template_name, PREFIXES,
};

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

/// Every comparison of the given pairs: both orders × `samples`, pair by pair.
pub fn jobs_for(pairs: &[(usize, usize)], samples: u32) -> Vec<Job> {
    let mut jobs = Vec::with_capacity(pairs.len() * 2 * samples as usize);
    for &(x, y) in pairs {
        let (a, b) = (x.min(y), x.max(y));
        for sample in 0..samples {
            for order in [Order::Ab, Order::Ba] {
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

/// Sampling of a text answer (8 tokens; the seed is the sample index).
pub fn text_params(cfg: &Config, sample: u32) -> SamplingParams {
    SamplingParams {
        max_tokens: 8,
        temperature: cfg.elicitation.temperature,
        seed: u64::from(sample),
        ..SamplingParams::default()
    }
}

/// Sampling of a task's completion (greedy).
pub fn completion_params(cfg: &Config) -> SamplingParams {
    SamplingParams {
        max_tokens: cfg.elicitation.max_tokens_complete,
        ..SamplingParams::default()
    }
}

/// What a comparison needs besides its job: the run's settings, items and model.
struct Asker<'a> {
    cfg: &'a Config,
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
        let cfg = self.cfg;
        let (first, second) = job.shown();
        let messages = match cfg.elicitation.mode {
            Mode::CompleteThenChoose => complete_then_choose_messages(
                cfg,
                (&self.items[first].text, &self.completion_of(first)),
                (&self.items[second].text, &self.completion_of(second)),
            ),
            _ => choose_messages(cfg, &self.items[first].text, &self.items[second].text),
        };
        let question = TwoWayQuestion {
            labels: &cfg.elicitation.labels,
            mode: cfg.elicitation.answer,
            prefixes: PREFIXES,
            temperature: cfg.elicitation.temperature,
            seed: u64::from(job.sample),
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
    pub fn open(run: &'a Run<Config>, items: &'a [Item], planned: usize) -> Result<Self> {
        let cfg = run.config();
        let mut completions = run.stage("complete", "completions")?;
        if cfg.elicitation.mode == Mode::CompleteThenChoose {
            completions = completions.planned(items.len());
        }
        let comparisons = run
            .stage("elicit", "comparisons")?
            .parsed_when(|c: &Comparison| c.choice.is_some())
            .planned(planned);
        Ok(Self {
            asker: Asker {
                cfg,
                items,
                lm: run.model("model")?,
                template: template_name(cfg),
                completions,
            },
            comparisons,
        })
    }

    /// Mode `complete-then-choose`: the model's greedy answer to every task, once.
    pub fn ensure_completions(&mut self) -> Result<()> {
        let a = &mut self.asker;
        let (cfg, lm, items) = (a.cfg, a.lm, a.items);
        let model_id = lm.id().to_string();
        let params = completion_params(cfg);
        let params = &params;
        a.completions.run(
            items,
            |it| completion_id(it, &model_id),
            |it| async move {
                let messages = system(cfg, vec![Message::user(it.text.clone())]);
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
    pub fn ask(&mut self, jobs: &[Job]) -> Result<()> {
        let asker = &self.asker;
        self.comparisons
            .run(jobs, |j| asker.id(j), |j| asker.answer(j))?;
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
        let cfg = self.asker.cfg;
        let recs = self.records(&jobs_for(&[(x, y)], cfg.elicitation.samples));
        let agg = aggregate_comparisons_with(&recs, cfg.elicitation.readout);
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
