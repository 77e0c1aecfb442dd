//! Asking the model about pairs: one comparison per [`Job`] (pair, order,
//! sample), appended to `records/comparisons.jsonl` under a deterministic id,
//! so a resumed run skips what is recorded and the model cache answers what
//! was asked but not yet recorded.

use anyhow::Result;
use indicatif::ProgressBar;
use pref_data::PairCounts;
use pref_data::{record_id, Choice, Comparison, Order, RecordLog, RunDir};
use pref_llm::{LanguageModel, Message, SamplingParams};
use pref_utility::aggregate_comparisons_with;
use tokio::runtime::Runtime;

use crate::config::{Answer, Config, Mode};
use crate::study::{
    choose_messages, complete_then_choose_messages, parse_answer, template_name, with_system, Item,
    Model, TaskCompletion,
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

/// The id of an item's completion (mode `complete-then-choose`).
fn completion_id(item: &Item, model_id: &str) -> String {
    record_id(&[item.id.as_str(), model_id])
}

/// Asks, records and reads back comparisons for one run.
pub struct Elicitor<'a> {
    cfg: &'a Config,
    items: &'a [Item],
    lm: &'a Model,
    rt: &'a Runtime,
    template: String,
    labels: Vec<String>,
    model_id: String,
    /// The comparisons recorded so far.
    pub log: RecordLog<Comparison>,
    completions: RecordLog<TaskCompletion>,
    /// Requests sent at once: 1 on the embedded model (one worker), the
    /// configured concurrency on an HTTP endpoint.
    chunk: usize,
}

impl<'a> Elicitor<'a> {
    /// Opens the run's record logs.
    pub fn new(
        run: &RunDir,
        cfg: &'a Config,
        items: &'a [Item],
        lm: &'a Model,
        rt: &'a Runtime,
    ) -> Result<Self> {
        Ok(Self {
            cfg,
            items,
            lm,
            rt,
            template: template_name(cfg),
            labels: cfg.elicitation.labels.to_vec(),
            model_id: lm.id().to_string(),
            log: run.records("comparisons")?,
            completions: run.records("completions")?,
            chunk: cfg.model.parallel_requests(),
        })
    }

    /// Mode `complete-then-choose`: the model's greedy answer to every task, once.
    pub fn ensure_completions(&mut self, bar: &ProgressBar) -> Result<()> {
        let todo: Vec<&Item> = self
            .items
            .iter()
            .filter(|it| {
                !self
                    .completions
                    .contains(&completion_id(it, &self.model_id))
            })
            .collect();
        bar.set_length(self.items.len() as u64);
        bar.set_position((self.items.len() - todo.len()) as u64);
        let params = SamplingParams {
            max_tokens: self.cfg.elicitation.max_tokens_complete,
            ..SamplingParams::default()
        };
        for chunk in todo.chunks(self.chunk) {
            let prompts: Vec<Vec<Message>> = chunk
                .iter()
                .map(|it| with_system(self.cfg, vec![Message::user(it.text.clone())]))
                .collect();
            let asks = prompts.iter().map(|m| self.lm.generate(m, &params));
            let done = self.rt.block_on(futures::future::try_join_all(asks))?;
            for (it, c) in chunk.iter().zip(done) {
                self.completions.append(
                    &completion_id(it, &self.model_id),
                    TaskCompletion {
                        item: it.id.clone(),
                        text: c.text,
                    },
                )?;
                bar.inc(1);
            }
        }
        Ok(())
    }

    fn completion_of(&self, i: usize) -> String {
        self.completions
            .get(&completion_id(&self.items[i], &self.model_id))
            .map(|c| c.text.clone())
            .unwrap_or_default()
    }

    /// The id of a job's record.
    pub fn id(&self, job: &Job) -> String {
        job_id(self.items, job, &self.template)
    }

    /// Asks every job not yet recorded and records the answers (in job order).
    pub fn ask(&mut self, jobs: &[Job], bar: &ProgressBar) -> Result<()> {
        let todo: Vec<Job> = jobs
            .iter()
            .filter(|j| !self.log.contains(&self.id(j)))
            .copied()
            .collect();
        bar.inc((jobs.len() - todo.len()) as u64);
        for chunk in todo.chunks(self.chunk) {
            let asks = chunk.iter().map(|j| self.answer(j));
            let recs = self.rt.block_on(futures::future::try_join_all(asks))?;
            for (job, rec) in chunk.iter().zip(recs) {
                let id = self.id(job);
                self.log.append(&id, rec)?;
                bar.inc(1);
            }
        }
        Ok(())
    }

    /// One comparison, asked (or answered by the cache) but not recorded.
    async fn answer(&self, job: &Job) -> Result<Comparison> {
        let cfg = self.cfg;
        let a_first = job.order == Order::Ab;
        let (first, second) = if a_first {
            (job.a, job.b)
        } else {
            (job.b, job.a)
        };
        let messages: Vec<Message> = match cfg.elicitation.mode {
            Mode::CompleteThenChoose => complete_then_choose_messages(
                cfg,
                (&self.items[first].text, &self.completion_of(first)),
                (&self.items[second].text, &self.completion_of(second)),
            ),
            _ => choose_messages(cfg, &self.items[first].text, &self.items[second].text),
        };
        // Position of the chosen option (0 = shown first; None inside = a tie),
        // the raw answer, and the two labels' log-probs in display order.
        let (position, raw, lp) = match cfg.elicitation.answer {
            Answer::Logprobs => {
                let c = self.lm.choice_logprobs(&messages, &self.labels).await?;
                let (l1, l2) = (c.logprobs[0], c.logprobs[1]);
                let pos = if l1 > l2 {
                    Some(0)
                } else if l2 > l1 {
                    Some(1)
                } else {
                    None
                };
                let raw = format!("{}: {l1:.6}, {}: {l2:.6}", self.labels[0], self.labels[1]);
                (Some(pos), raw, Some((l1, l2)))
            }
            Answer::Text => {
                let params = SamplingParams {
                    max_tokens: 8,
                    temperature: cfg.elicitation.temperature,
                    seed: u64::from(job.sample),
                    ..SamplingParams::default()
                };
                let c = self.lm.generate(&messages, &params).await?;
                let pos = parse_answer(&c.text, &cfg.elicitation.labels).map(Some);
                (pos, c.text, None)
            }
        };
        // Positions back to the pair's a/b.
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
        Ok(Comparison {
            a: self.items[job.a].id.clone(),
            b: self.items[job.b].id.clone(),
            order: job.order,
            choice,
            raw,
            logprob_a,
            logprob_b,
            model: self.model_id.clone(),
            template: self.template.clone(),
            sample: job.sample,
        })
    }

    /// The recorded comparisons of these jobs (missing ones are skipped).
    pub fn records(&self, jobs: &[Job]) -> Vec<Comparison> {
        jobs.iter()
            .filter_map(|j| self.log.get(&self.id(j)).cloned())
            .collect()
    }

    /// Pooled counts of one pair under the configured readout, oriented as
    /// `(count of x, count of y)`; `(0, 0)` when every answer was unparseable.
    pub fn counts(&self, x: usize, y: usize) -> (f64, f64) {
        let recs = self.records(&jobs_for(&[(x, y)], self.cfg.elicitation.samples));
        let agg = aggregate_comparisons_with(&recs, self.cfg.elicitation.readout);
        match agg.pairs.first() {
            Some(PairCounts {
                a,
                count_a,
                count_b,
                ..
            }) if *a == self.items[x].id => (*count_a, *count_b),
            Some(p) => (p.count_b, p.count_a),
            None => (0.0, 0.0),
        }
    }
}
