//! Mode `rate` of the elicitation: every item alone, rated on a scale (default 1–5), through
//! pref-study's stage `rate` (records in `records/ratings.jsonl`).
//!
//! Each rating is a distribution over the scale: the labels' renormalised
//! probabilities (answers read from log-probs) or a point mass on the parsed
//! label (text answers; unparseable ones are kept with `rating: null`). Items
//! get their mean rating and Thurstonian utilities fitted to the pairwise
//! probabilities the ratings imply (`pref_utility::implied_pair_counts`), so
//! rated and pairwise studies land on the same scale.

use std::collections::BTreeMap;
use std::time::Instant;

use pref_data::record_id;
use pref_llm::{LanguageModel, Message};
use pref_study::{Item, Model, Run, StudyConfig};
use pref_utility::{implied_pair_counts, RatingSummary, UtilityFit};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::pairwise::{draw_items, system, template_name, text_params};
use crate::results::{Results, Seconds, TrainMetrics, Unparseable};
use crate::settings::{Answer, ItemKind, Settings};

/// One rating of one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// The item id.
    pub item: String,
    /// Index into the scale (0 = worst), or `null` when the answer was unparseable.
    pub rating: Option<usize>,
    /// Probabilities of the scale labels (answers read from log-probs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probs: Option<Vec<f64>>,
    /// The raw answer.
    pub raw: String,
    /// Content-addressed model id.
    pub model: String,
    /// Template name.
    pub template: String,
    /// Sample index.
    pub sample: u32,
}

/// The question for one item.
pub fn rate_messages(cfg: Settings<'_>, text: &str) -> Vec<Message> {
    let scale = &cfg.elicitation.scale;
    let (worst, best) = (&scale[0], &scale[scale.len() - 1]);
    let numeric = scale.iter().all(|s| s.trim().parse::<i64>().is_ok());
    let how = if numeric {
        format!("Answer with a single number from {worst} to {best} only.")
    } else {
        format!(
            "Answer with one word from this scale, worst to best: {}.",
            scale.join(", ")
        )
    };
    let q = match cfg.items.kind {
        ItemKind::Tasks => format!(
            "How much would you like to do this task? ({worst} = not at all, {best} = very much)\n\n\
             Task:\n{text}\n\n{how}"
        ),
        ItemKind::Outcomes => format!(
            "How good would this state of the world be? ({worst} = very bad, {best} = very good)\n\n\
             {text}\n\n{how}"
        ),
    };
    system(cfg, vec![Message::user(q)])
}

/// Strict reading of a text rating: a scale label alone, optionally followed by
/// `.`, or wrapped in `**…**`; anything else is unparseable.
pub fn parse_rating(text: &str, scale: &[String]) -> Option<usize> {
    let t = text
        .trim()
        .trim_matches('*')
        .trim()
        .trim_end_matches('.')
        .trim();
    scale.iter().position(|l| l.trim() == t)
}

/// The record id of a rating.
pub fn rating_id(item: &Item, sample: u32, template: &str) -> String {
    record_id(&[item.id.as_str(), &sample.to_string(), template])
}

/// Every (item, sample) to rate.
pub fn jobs(items: &[Item], samples: u32) -> Vec<(&Item, u32)> {
    items
        .iter()
        .flat_map(|it| (0..samples).map(move |s| (it, s)))
        .collect()
}

async fn ask(cfg: Settings<'_>, lm: &Model, item: &Item, sample: u32) -> Result<Rating> {
    let scale = &cfg.elicitation.scale;
    let messages = rate_messages(cfg, &item.text);
    let (rating, probs, raw) = match cfg.elicitation.answer {
        Answer::Logprobs => {
            let c = lm.choice_logprobs(&messages, scale).await?;
            let best = c
                .normalised
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i);
            let raw = scale
                .iter()
                .zip(&c.logprobs)
                .map(|(l, lp)| format!("{l}: {lp:.6}"))
                .collect::<Vec<_>>()
                .join(", ");
            (best, Some(c.normalised), raw)
        }
        Answer::Text => {
            let c = lm.generate(&messages, &text_params(cfg, sample)).await?;
            (parse_rating(&c.text, scale), None, c.text)
        }
    };
    Ok(Rating {
        item: item.id.clone(),
        rating,
        probs,
        raw,
        model: lm.id().to_string(),
        template: template_name(cfg),
        sample,
    })
}

/// What a finished rating elicitation gives: its results, the items and the fit.
#[derive(Debug)]
pub struct Rated {
    /// What `results.json` holds.
    pub results: Results,
    /// The items rated.
    pub items: Vec<Item>,
    /// The Thurstonian fit to the rating-implied pair probabilities.
    pub fit: Option<UtilityFit>,
}

/// Runs (or resumes) a `rate` elicitation and fits it.
pub fn run_rate<C: StudyConfig>(run: &Run<C>, cfg: Settings<'_>) -> Result<Rated> {
    let draw = draw_items(cfg)?;
    let warnings = draw.warnings();
    let items = draw.items;
    let template = template_name(cfg);
    let k = cfg.elicitation.samples;
    let scale = &cfg.elicitation.scale;
    let lm = run.model(cfg.role)?;

    let jobs = jobs(&items, k);
    let t_elicit = Instant::now();
    let mut stage = run
        .stage("rate", "ratings")?
        .parsed_when(|r: &Rating| r.rating.is_some())
        .planned(jobs.len());
    stage.run(
        &jobs,
        |(it, s)| rating_id(it, *s, &template),
        |(it, s)| ask(cfg, lm, it, *s),
    )?;
    let log = stage.finish();
    let elicit_seconds = t_elicit.elapsed().as_secs_f64();

    // Per item: the mean distribution over its parseable samples.
    let t_fit = Instant::now();
    let m = scale.len();
    let mut dists: Vec<Option<Vec<f64>>> = Vec::with_capacity(items.len());
    let mut n_unparseable = 0usize;
    for it in &items {
        let mut acc = vec![0.0; m];
        let mut n = 0usize;
        for r in (0..k).filter_map(|s| log.get(&rating_id(it, s, &template))) {
            match (&r.probs, r.rating) {
                (Some(p), Some(_)) => acc.iter_mut().zip(p).for_each(|(a, v)| *a += v),
                (None, Some(j)) => acc[j] += 1.0,
                (_, None) => {
                    n_unparseable += 1;
                    continue;
                }
            }
            n += 1;
        }
        dists.push((n > 0).then(|| acc.iter().map(|a| a / n as f64).collect()));
    }
    let rated: Vec<&Vec<f64>> = dists.iter().flatten().collect();
    let overall: Vec<f64> = (0..m)
        .map(|j| rated.iter().map(|d| d[j]).sum::<f64>() / rated.len().max(1) as f64)
        .collect();
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let fit = UtilityFit::of(&cfg.fit_params(), ids, &implied_pair_counts(&dists))?;
    let fit_seconds = t_fit.elapsed().as_secs_f64();

    let ratings: BTreeMap<String, Option<RatingSummary>> = items
        .iter()
        .zip(&dists)
        .map(|(it, d)| (it.id.clone(), d.clone().map(RatingSummary::of)))
        .collect();
    let (utilities, fit_info) = Results::fit_parts(fit.as_ref());
    let results = Results {
        mode: Some("rate".into()),
        scale: Some(scale.clone()),
        ratings: Some(ratings),
        rating_distribution: Some(overall),
        utilities,
        train: fit.as_ref().map(|f| TrainMetrics::of(f, None)),
        heldout: None,
        learning_curve: None,
        active_learning: None,
        model_calls: run.calls(),
        unparseable: Unparseable {
            count: n_unparseable,
            of: jobs.len(),
            policy: "kept in records/ratings.jsonl with rating null; the item's other samples \
                     are used, an item without any is left out of the fit"
                .into(),
        },
        position_bias: None,
        fit: fit_info,
        n_items: items.len(),
        n_pairs: None,
        n_comparisons: None,
        n_ratings: Some(jobs.len()),
        readout: None,
        model: lm.id().to_string(),
        warnings,
        seconds: Seconds {
            elicitation: elicit_seconds,
            fit: fit_seconds,
            total: run.seconds(),
        },
    };
    Ok(Rated {
        results,
        items,
        fit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_rating_parser() {
        let scale: Vec<String> = ["1", "2", "3", "4", "5"].map(String::from).to_vec();
        for (t, want) in [
            ("3", Some(2)),
            (" 5.\n", Some(4)),
            ("**1**", Some(0)),
            ("6", None),
            ("3/5", None),
            ("I'd say 4", None),
            ("", None),
        ] {
            assert_eq!(parse_rating(t, &scale), want, "{t:?}");
        }
    }
}
