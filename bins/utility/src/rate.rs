//! Mode `rate`: every item alone, rated on a scale (default 1–5).
//!
//! Each rating is a distribution over the scale: the labels' renormalised
//! probabilities (answers read from log-probs) or a point mass on the parsed
//! label (text answers; unparseable ones are kept with `rating: null`). Items
//! get their mean rating, and — so that rated and pairwise studies land on the
//! same scale — Thurstonian utilities fitted to the pairwise probabilities the
//! ratings imply, `P(a ≻ b) = P(Rₐ > R_b) + ½ P(Rₐ = R_b)` for independent
//! ratings (each pair weighted like the two orders of one comparison).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use pref_data::{record_id, RecordLog, RunDir};
use pref_llm::{LanguageModel, Message, SamplingParams};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{Answer, Config, ItemKind};
use crate::study::{draw_items, runtime, template_name, Fit, Item, Model};
use pref_report::progress;

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
pub fn rate_messages(cfg: &Config, text: &str) -> Vec<Message> {
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
    crate::study::with_system(cfg, vec![Message::user(q)])
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

/// `P(X > Y) + ½ P(X = Y)` for independent ratings with distributions `x`, `y`
/// over the same ordered scale.
pub fn prob_greater(x: &[f64], y: &[f64]) -> f64 {
    let mut below = 0.0; // P(Y < i)
    let mut p = 0.0;
    for (xi, yi) in x.iter().zip(y) {
        p += xi * (below + 0.5 * yi);
        below += yi;
    }
    p
}

fn rating_id(item: &Item, sample: u32, template: &str) -> String {
    record_id(&[item.id.as_str(), &sample.to_string(), template])
}

/// Ratings of this run's items recorded so far.
pub fn recorded(run: &RunDir, cfg: &Config, items: &[Item]) -> Result<usize> {
    let log: RecordLog<Rating> = run.records("ratings")?;
    let template = template_name(cfg);
    Ok(items
        .iter()
        .flat_map(|it| (0..cfg.elicitation.samples).map(move |s| (it, s)))
        .filter(|(it, s)| log.contains(&rating_id(it, *s, &template)))
        .count())
}

/// Unparseable ratings recorded so far.
pub fn unparseable(run: &RunDir) -> Result<usize> {
    let log: RecordLog<Rating> = run.records("ratings")?;
    Ok(log.records().filter(|r| r.rating.is_none()).count())
}

async fn ask(cfg: &Config, lm: &Model, item: &Item, sample: u32) -> Result<Rating> {
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
            let params = SamplingParams {
                max_tokens: 8,
                temperature: cfg.elicitation.temperature,
                seed: u64::from(sample),
                ..SamplingParams::default()
            };
            let c = lm.generate(&messages, &params).await?;
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

/// Runs (or resumes) a `rate` study.
pub fn run(run: &RunDir, cfg: &Config, lm: &Model) -> Result<Value> {
    let started = Instant::now();
    let items = draw_items(cfg)?;
    let template = template_name(cfg);
    let k = cfg.elicitation.samples;
    let scale = &cfg.elicitation.scale;
    let rt = runtime()?;
    let mut log: RecordLog<Rating> = run.records("ratings")?;

    let jobs: Vec<(usize, u32)> = (0..items.len())
        .flat_map(|i| (0..k).map(move |s| (i, s)))
        .collect();
    let t_elicit = Instant::now();
    let bar = progress(jobs.len() as u64, "rating");
    let todo: Vec<(usize, u32)> = jobs
        .iter()
        .filter(|(i, s)| !log.contains(&rating_id(&items[*i], *s, &template)))
        .copied()
        .collect();
    bar.inc((jobs.len() - todo.len()) as u64);
    let chunk = cfg.model.parallel_requests();
    for part in todo.chunks(chunk) {
        let asks = part.iter().map(|&(i, s)| ask(cfg, lm, &items[i], s));
        let done = rt.block_on(futures::future::try_join_all(asks))?;
        for (&(i, s), r) in part.iter().zip(done) {
            log.append(&rating_id(&items[i], s, &template), r)?;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let elicit_seconds = t_elicit.elapsed().as_secs_f64();

    // Per item: the mean distribution over its parseable samples.
    let t_fit = Instant::now();
    let m = scale.len();
    let mut dists: Vec<Option<Vec<f64>>> = Vec::with_capacity(items.len());
    let mut n_unparseable = 0usize;
    let mut overall = vec![0.0; m];
    for it in &items {
        let mut acc = vec![0.0; m];
        let mut n = 0usize;
        for s in 0..k {
            let Some(r) = log.get(&rating_id(it, s, &template)) else {
                continue;
            };
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
        if n == 0 {
            dists.push(None);
        } else {
            acc.iter_mut().for_each(|a| *a /= n as f64);
            overall.iter_mut().zip(&acc).for_each(|(o, a)| *o += a);
            dists.push(Some(acc));
        }
    }
    let n_rated = dists.iter().filter(|d| d.is_some()).count();
    overall.iter_mut().for_each(|o| *o /= n_rated.max(1) as f64);

    // Implied pairwise probabilities, each pair weighted as two comparisons.
    let mut counts = Vec::new();
    for x in 0..items.len() {
        for y in x + 1..items.len() {
            if let (Some(dx), Some(dy)) = (&dists[x], &dists[y]) {
                let p = prob_greater(dx, dy);
                counts.push((x, y, 2.0 * p, 2.0 * (1.0 - p)));
            }
        }
    }
    let fit = Fit::of(cfg, &items, &counts)?;
    let fit_seconds = t_fit.elapsed().as_secs_f64();

    let mut ratings = BTreeMap::new();
    for (it, d) in items.iter().zip(&dists) {
        let v = d.as_ref().map(|d| {
            let mean: f64 = d.iter().enumerate().map(|(j, p)| (j + 1) as f64 * p).sum();
            let var: f64 = d
                .iter()
                .enumerate()
                .map(|(j, p)| ((j + 1) as f64 - mean).powi(2) * p)
                .sum();
            json!({"mean": mean, "sd": var.sqrt(), "distribution": d})
        });
        ratings.insert(it.id.clone(), v.unwrap_or(Value::Null));
    }
    let stats = lm.stats();
    let results = json!({
        "mode": "rate",
        "scale": scale,
        "ratings": ratings,
        "rating_distribution": overall,
        "utilities": fit.as_ref().map_or(json!({}), Fit::utilities_json),
        "train": fit.as_ref().map(|f| json!({"log_loss": f.train.log_loss, "accuracy": f.train.accuracy, "n_pairs": f.train.n_pairs})),
        "heldout": Value::Null,
        "model_calls": {"made": stats.made, "cached": stats.cached},
        "unparseable": {"count": n_unparseable, "of": jobs.len(),
                        "policy": "kept in records/ratings.jsonl with rating null; the item's other samples are used, an item without any is left out of the fit"},
        "position_bias": Value::Null,
        "fit": fit.as_ref().map(|f| json!({"iterations": f.model.stats.iterations, "converged": f.model.stats.converged})),
        "n_items": items.len(),
        "n_ratings": jobs.len(),
        "model": lm.id().to_string(),
        "seconds": {"elicitation": elicit_seconds, "fit": fit_seconds, "total": started.elapsed().as_secs_f64()},
    });
    run.write_json("results.json", &results)?;
    crate::report::write_rate(run, cfg, &items, &results, fit.as_ref())?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implied_pairwise_probability_matches_enumeration() {
        // numpy: x=[.1,.2,.3,.4]; y=[.4,.3,.2,.1]
        //   sum(x[i]*y[j] for i>j) + .5*sum(x[i]*y[i]) = 0.65 + 0.5*0.2 = 0.75
        let x = [0.1, 0.2, 0.3, 0.4];
        let y = [0.4, 0.3, 0.2, 0.1];
        assert!((prob_greater(&x, &y) - 0.75).abs() < 1e-12);
        assert!((prob_greater(&y, &x) - 0.25).abs() < 1e-12);
        // Identical distributions are a coin flip; point masses order strictly.
        assert!((prob_greater(&x, &x) - 0.5).abs() < 1e-12);
        assert_eq!(prob_greater(&[0.0, 1.0], &[1.0, 0.0]), 1.0);
    }

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
