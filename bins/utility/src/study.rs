//! The utility study on pref-study: draw items, plan pairs, elicit comparisons
//! (stage `elicit`, after `complete` in mode `complete-then-choose`), fit, score
//! the held-out pairs, write typed results and the report. The statistics live
//! in pref-utility; this module composes them with the prompts and the stages.

use std::collections::BTreeMap;

use anyhow::Result;
use pref_data::{Order, PairCounts};
use pref_llm::{LanguageModel, Message};
use pref_study::{
    with_system, BoxError, Calls, Item, ModelRoles, PlannedJob, Run, StagePlan, Study,
};
use pref_utility::{
    aggregate_comparisons_with, learning_curve, position_bias, prefix_sizes, ActiveLearningParams,
    CurvePoint, Readout, UtilityEstimate, UtilityFit,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{Answer, Config, ItemKind, Mode, Strategy};
use crate::elicit::{jobs_for, Elicitor, Job};

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
    pub fn of(cfg: &Config) -> Result<Self> {
        let draw = draw_items(cfg)?;
        let warnings = draw.warnings();
        Ok(Plan {
            warnings,
            ..plan(cfg, draw.items)
        })
    }

    /// The item ids.
    pub fn ids(&self) -> Vec<String> {
        self.items.iter().map(|i| i.id.clone()).collect()
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
                let mut asked = self.active_target(cfg);
                if cfg.pairs.active.compare_random {
                    asked *= 2;
                }
                (asked.min(self.train.len()) + self.heldout.len()) * 2 * k
            }
            _ => (self.train.len() + self.heldout.len()) * 2 * k,
        }
    }
}

/// Draws `items.n_items` items, balanced across the files.
pub fn draw_items(cfg: &Config) -> Result<pref_study::Draw> {
    let draw = pref_study::draw_balanced(&cfg.items.files, cfg.items.n_items, cfg.items.seed)?;
    if draw.items.len() < 3 {
        anyhow::bail!(
            "the input files hold {} usable items; at least 3 are needed",
            draw.items.len()
        );
    }
    Ok(draw)
}

/// Splits all pairs into held-out and training pairs (mode `rate` asks no pairs).
pub fn plan(cfg: &Config, items: Vec<Item>) -> Plan {
    if cfg.elicitation.mode == Mode::Rate {
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
    pairs.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.pairs.seed));
    let n_heldout = ((pairs.len() as f64 * cfg.pairs.heldout_fraction).ceil() as usize)
        .min(cfg.pairs.heldout_cap)
        .min(pairs.len().saturating_sub(n));
    let heldout = pairs[..n_heldout].to_vec();
    let mut train = pairs[n_heldout..].to_vec();
    if cfg.pairs.strategy == Strategy::Random {
        train.truncate(cfg.pairs.budget.unwrap_or(train.len()));
    }
    Plan {
        items,
        train,
        heldout,
        warnings: Vec::new(),
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
pub fn system(cfg: &Config, messages: Vec<Message>) -> Vec<Message> {
    with_system(cfg.elicitation.system.as_deref(), messages)
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
    system(cfg, vec![Message::user(text)])
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
    system(cfg, conversation)
}

/// Words a strict text answer may put before its label.
pub const PREFIXES: &[&str] = &["Task ", "Option ", "task ", "option "];

/// Training-set metrics of the fit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainMetrics {
    /// Log loss on the training pairs.
    pub log_loss: f64,
    /// Accuracy on them.
    pub accuracy: f64,
    /// Pairs.
    pub n_pairs: usize,
    /// Unparseable training answers (pairwise modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparseable: Option<u64>,
}

/// Held-out metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldOut {
    /// Log loss.
    pub log_loss: f64,
    /// Accuracy against the majority label.
    pub accuracy: f64,
    /// Accuracy of always predicting the majority label's side.
    pub accuracy_majority: f64,
    /// Pairs scored.
    pub n_pairs: usize,
    /// Pairs whose majority is a tie.
    pub n_ties: usize,
}

/// One round of active learning.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Round {
    /// Round number.
    pub round: usize,
    /// Training pairs after the round.
    pub pairs: usize,
    /// Comparisons in them.
    pub comparisons: f64,
    /// Pairs added this round.
    pub added: usize,
    /// The |Δμ| percentile used.
    pub p_used: f64,
    /// The degree percentile used.
    pub q_used: f64,
}

pub use pref_study::Unparseable;

/// The first-shown option's share of the wins, with its interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bias {
    /// Share of decisions won by the option shown first.
    pub share_first: f64,
    /// 95% interval.
    pub ci95: [f64; 2],
    /// Decisions.
    pub n: u64,
}

/// Convergence of the fit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitInfo {
    /// Optimiser iterations.
    pub iterations: u64,
    /// Whether it converged.
    pub converged: bool,
}

/// Pairs of the design.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairCountsOfDesign {
    /// Training pairs asked.
    pub train: usize,
    /// Held-out pairs.
    pub heldout: usize,
    /// Random pairs asked to compare active learning with.
    pub random_baseline: usize,
}

/// A rated item (mode `rate`).
pub use pref_utility::RatingSummary;

/// Wall-clock seconds by phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seconds {
    /// Asking the model.
    pub elicitation: f64,
    /// Fitting.
    pub fit: f64,
    /// The whole run (this process).
    pub total: f64,
}

/// What `results.json` holds. Fields of one mode only are absent in the other.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// `rate` in mode `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Mode `rate`: the rating labels, worst first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Vec<String>>,
    /// Mode `rate`: each item's ratings (`null` when every answer was unparseable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratings: Option<BTreeMap<String, Option<RatingSummary>>>,
    /// Mode `rate`: the mean distribution over the scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_distribution: Option<Vec<f64>>,
    /// Fitted utilities by item id (empty when nothing could be fitted).
    pub utilities: BTreeMap<String, UtilityEstimate>,
    /// Training metrics.
    pub train: Option<TrainMetrics>,
    /// Held-out metrics.
    pub heldout: Option<HeldOut>,
    /// Pairwise modes: held-out metrics against training pairs (`active`, `random`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_curve: Option<BTreeMap<String, Vec<CurvePoint>>>,
    /// Strategy `active`: the rounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_learning: Option<Vec<Round>>,
    /// Model calls this process made and had answered by the cache.
    pub model_calls: Calls,
    /// Unparseable answers.
    pub unparseable: Unparseable,
    /// The first-shown option's share of the wins (pairwise modes).
    pub position_bias: Option<Bias>,
    /// Convergence of the fit.
    pub fit: Option<FitInfo>,
    /// Items.
    pub n_items: usize,
    /// Pairwise modes: pairs of the design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_pairs: Option<PairCountsOfDesign>,
    /// Pairwise modes: comparisons recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_comparisons: Option<usize>,
    /// Mode `rate`: ratings asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_ratings: Option<usize>,
    /// Pairwise modes: how answers count in the fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readout: Option<Readout>,
    /// The model's content id.
    pub model: String,
    /// What the run left out or could not do as configured (also in the report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Seconds by phase.
    pub seconds: Seconds,
}

impl Results {
    pub(crate) fn fit_parts(
        fit: Option<&UtilityFit>,
    ) -> (BTreeMap<String, UtilityEstimate>, Option<FitInfo>) {
        match fit {
            Some(f) => (
                f.estimates(),
                Some(FitInfo {
                    iterations: f.model.stats.iterations,
                    converged: f.model.stats.converged,
                }),
            ),
            None => (BTreeMap::new(), None),
        }
    }
}

/// The utility study.
pub struct UtilityStudy;

impl Study for UtilityStudy {
    const NAME: &'static str = "utility";
    type Config = Config;
    type Results = Results;

    fn plan(
        cfg: &Config,
        models: &ModelRoles,
    ) -> Result<(Vec<StagePlan>, serde_json::Value), BoxError> {
        let plan = Plan::of(cfg)?;
        let lm = models.get("model")?;
        let template = template_name(cfg);
        let labels = cfg.elicitation.labels.to_vec();
        let text = crate::elicit::text_params(cfg, 0);
        let cached = |m: &[Message]| -> Result<bool, BoxError> {
            Ok(match cfg.elicitation.answer {
                Answer::Logprobs => lm.is_cached_choice(m, &labels)?,
                Answer::Text => lm.is_cached_generate(m, &text)?,
            })
        };
        let mut stages = Vec::new();
        if cfg.elicitation.mode == Mode::Rate {
            let scale = &cfg.elicitation.scale;
            let mut jobs = Vec::new();
            for (item, sample) in crate::rate::jobs(&plan.items, cfg.elicitation.samples) {
                let m = crate::rate::rate_messages(cfg, &item.text);
                let c = match cfg.elicitation.answer {
                    Answer::Logprobs => lm.is_cached_choice(&m, scale)?,
                    Answer::Text => {
                        lm.is_cached_generate(&m, &crate::elicit::text_params(cfg, sample))?
                    }
                };
                jobs.push(PlannedJob {
                    id: crate::rate::rating_id(item, sample, &template),
                    cached: Some(c),
                });
            }
            stages.push(StagePlan::known("rate", "ratings", jobs).unparseable_when_null("rating"));
        } else {
            let after_completions = cfg.elicitation.mode == Mode::CompleteThenChoose;
            if after_completions {
                let complete = crate::elicit::completion_params(cfg);
                let mut jobs = Vec::new();
                for it in &plan.items {
                    jobs.push(PlannedJob {
                        id: crate::elicit::completion_id(it, &lm.id().to_string()),
                        cached: Some(lm.is_cached_generate(
                            &system(cfg, vec![Message::user(it.text.clone())]),
                            &complete,
                        )?),
                    });
                }
                stages.push(StagePlan::known("complete", "completions", jobs));
            }
            let elicit = if cfg.pairs.strategy == Strategy::Active {
                StagePlan::at_most("elicit", "comparisons", plan.max_comparisons(cfg))
            } else {
                let mut jobs = jobs_for(&plan.heldout, cfg.elicitation.samples);
                jobs.extend(plan.train_jobs(cfg));
                let mut planned = Vec::with_capacity(jobs.len());
                for j in &jobs {
                    let (f, s) = j.shown();
                    let c = if after_completions {
                        None // the prompt holds the completions
                    } else {
                        Some(cached(&choose_messages(
                            cfg,
                            &plan.items[f].text,
                            &plan.items[s].text,
                        ))?)
                    };
                    planned.push(PlannedJob {
                        id: crate::elicit::job_id(&plan.items, j, &template),
                        cached: c,
                    });
                }
                StagePlan::known("elicit", "comparisons", planned)
            };
            stages.push(elicit.unparseable_when_null("choice"));
        }
        let details = serde_json::json!({
            "items": plan.ids(),
            "mode": cfg.elicitation.mode,
            "strategy": cfg.pairs.strategy,
            "pairs": {"train": plan.train.len(), "heldout": plan.heldout.len(),
                      "active_target": (cfg.pairs.strategy == Strategy::Active).then(|| plan.active_target(cfg))},
            "template": template,
            "model": lm.id().to_string(),
            "warnings": plan.warnings,
        });
        Ok((stages, details))
    }

    fn run(run: &Run<Config>) -> Result<Results, BoxError> {
        if run.config().elicitation.mode == Mode::Rate {
            return Ok(crate::rate::run(run)?);
        }
        Ok(run_pairs(run)?)
    }
}

/// Runs (or resumes) a pairwise study (`choose`, `complete-then-choose`).
fn run_pairs(run: &Run<Config>) -> Result<Results> {
    let cfg = run.config();
    let plan = Plan::of(cfg)?;
    let items = &plan.items;
    let ids = plan.ids();
    let mut el = Elicitor::open(run, &plan.items, plan.max_comparisons(cfg))?;
    let readout = cfg.elicitation.readout;
    let k = cfg.elicitation.samples;
    let params = cfg.fit_params();

    if cfg.elicitation.mode == Mode::CompleteThenChoose {
        el.ensure_completions()?;
    }

    // Held-out pairs first: every learning-curve point is measured on them.
    let t_elicit = std::time::Instant::now();
    let held_jobs = jobs_for(&plan.heldout, k);
    el.ask(&held_jobs)?;
    let held: Vec<PairCounts> = aggregate_comparisons_with(&el.records(&held_jobs), readout)
        .pairs
        .into_iter()
        .filter(|p| p.count_a + p.count_b > 0.0)
        .collect();

    // Training pairs, in the order they were chosen.
    let mut rounds = Vec::new();
    let mut curve_active = Vec::new();
    let (train_pairs, random_pairs) = match cfg.pairs.strategy {
        Strategy::All | Strategy::Random => {
            el.ask(&plan.train_jobs(cfg))?;
            (plan.train.clone(), Vec::new())
        }
        Strategy::Active => {
            let a = &cfg.pairs.active;
            let mut asked: Vec<(usize, usize)> = Vec::new();
            let mut oracle = |pairs: &[(usize, usize)]| -> pref_utility::Result<Vec<(f64, f64)>> {
                el.ask(&jobs_for(pairs, k))
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
                .seed(cfg.pairs.seed)
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
                    .take(plan.active_target(cfg))
                    .copied()
                    .collect();
                el.ask(&jobs_for(&r, k))?;
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
    let t_fit = std::time::Instant::now();
    let train_counts = el.indexed_counts(&train_pairs);
    let fit = UtilityFit::of(&params, ids.clone(), &train_counts)?;
    let heldout = match (&fit, held.is_empty()) {
        (Some(f), false) => {
            let e = f.model.evaluate(&held)?;
            Some(HeldOut {
                log_loss: e.log_loss,
                accuracy: e.accuracy,
                accuracy_majority: e.accuracy_majority,
                n_pairs: e.n_pairs,
                n_ties: e.n_ties,
            })
        }
        _ => None,
    };
    let mut curves = BTreeMap::new();
    if cfg.pairs.strategy == Strategy::Active {
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

    let train_jobs = jobs_for(&train_pairs, k);
    let train_agg = aggregate_comparisons_with(&el.records(&train_jobs), readout);
    let mut all_jobs = train_jobs;
    all_jobs.extend(jobs_for(&random_pairs, k));
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
        train: fit.as_ref().map(|f| TrainMetrics {
            log_loss: f.train.log_loss,
            accuracy: f.train.accuracy,
            n_pairs: f.train.n_pairs,
            unparseable: Some(train_agg.n_unparseable),
        }),
        heldout,
        learning_curve: Some(curves),
        active_learning: (cfg.pairs.strategy == Strategy::Active).then_some(rounds),
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
        n_items: items.len(),
        n_pairs: Some(PairCountsOfDesign {
            train: train_pairs.len(),
            heldout: plan.heldout.len(),
            random_baseline: random_pairs.len(),
        }),
        n_comparisons: Some(all_recs.len()),
        n_ratings: None,
        readout: Some(readout),
        model: run.model("model")?.id().to_string(),
        warnings: plan.warnings.clone(),
        seconds: Seconds {
            elicitation: elicit_seconds,
            fit: fit_seconds,
            total: run.seconds(),
        },
    };
    el.finish();
    run.write_results(&results)?;
    crate::report::write(run, &plan, &results, fit.as_ref())?;
    Ok(results)
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
        let mut cfg = Config::default();
        cfg.elicitation.samples = 2;
        // 10 items: 45 pairs, ceil(0.05 · 45) = 3 held out.
        let p = plan(&cfg, items(10));
        assert_eq!((p.train.len(), p.heldout.len()), (42, 3));
        assert_eq!(
            p.train_jobs(&cfg).len() + jobs_for(&p.heldout, 2).len(),
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
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for f in &mut cfg.items.files {
            f.path = root.join(&f.path);
        }
        cfg.items.n_items = 6;
        let a = draw_items(&cfg).unwrap().items;
        assert_eq!(a.len(), 6);
        for src in ["alpaca:", "math:", "wildchat:"] {
            assert_eq!(
                a.iter().filter(|i| i.id.starts_with(src)).count(),
                2,
                "{src}"
            );
        }
        assert_eq!(draw_items(&cfg).unwrap().items, a);
        cfg.items.seed = 5;
        assert_ne!(draw_items(&cfg).unwrap().items, a);
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
        let mut cfg = Config::default();
        cfg.fit.mu_prior_sd = f64::NAN;
        assert!(cfg
            .check()
            .unwrap_err()
            .to_string()
            .contains("fit.mu_prior_sd"));
        let mut cfg = Config::default();
        cfg.elicitation.samples = 1_000_000_000;
        assert!(cfg
            .check()
            .unwrap_err()
            .to_string()
            .contains("elicitation.samples"));
        let e = toml::from_str::<Config>("[items]\nn_itmes = 3\n").unwrap_err();
        assert!(e.to_string().contains("n_itmes"), "{e}");
        // The example configuration parses and passes the checks.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/configs/utility.toml");
        let cfg: Config = pref_study::read_config(&path).unwrap();
        cfg.check().unwrap();
        assert_eq!(cfg.items.n_items, 8);
    }
}
