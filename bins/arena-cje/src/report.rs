//! `report.md`, its plots and `index.html` of a run.

use std::collections::BTreeMap;

use anyhow::Result;
use pref_report::{cells, write_index, Chart, ErrorBarChart, LineChart, Report, Series, Table};
use pref_study::Run;

use crate::analysis::{Mean, Results};
use crate::config::Config;

fn interval(e: &pref_cje::Estimate) -> String {
    format!("{:.3} [{:.3}, {:.3}]", e.estimate, e.ci_lower, e.ci_upper)
}

fn mean(m: &Option<Mean>) -> String {
    m.as_ref().map_or("–".into(), |m| {
        format!(
            "{:.3} [{:.3}, {:.3}] (n = {})",
            m.mean, m.ci[0], m.ci[1], m.n
        )
    })
}

/// A chart row: the value and the wider side of its interval.
fn bar(label: String, v: f64, lo: f64, hi: f64) -> Option<(String, f64, f64)> {
    let err = (hi - v).max(v - lo);
    (v.is_finite() && err.is_finite()).then_some((label, v, err.max(0.0)))
}

/// Writes the report of a finished run; `log_weights` are each policy's log
/// importance weights in row order.
pub fn write(
    run: &Run<Config>,
    res: &Results,
    log_weights: &BTreeMap<String, Vec<f64>>,
) -> Result<()> {
    let cfg = run.config();
    let plots = run.dir().plots_dir();
    let level = 100.0 * cfg.estimation.level;
    let mut r =
        Report::new("What would each policy score? Causal judge evaluation on Arena prompts");
    let p = &res.prompts;
    let dropped = p.dropped_in_words();
    r.paragraph(&format!(
        "{} prompts read from `{}`; {} kept{}; {} drawn. π0 (`{}`, system prompt “{}”) wrote one \
         response to each (at most {} tokens, temperature 1, untruncated; {} cut short, {:.1} \
         tokens on average). Every response was teacher-forced under π0 and every target; each \
         target also answered every prompt {} time(s) afresh. The judge (`{}`) scored every \
         response 0–{} from its label log-probabilities; the oracle labelled {} prompts ({} \
         logged responses, {} fresh draws). Model calls this run: {} made, {} from the cache.",
        p.read,
        p.path,
        p.kept,
        if dropped.is_empty() {
            String::new()
        } else {
            format!(" (dropped: {})", dropped.join("; "))
        },
        p.drawn,
        res.models
            .get(crate::config::LOGGING)
            .map_or("", String::as_str),
        cfg.logging.system,
        cfg.logging.max_tokens,
        res.logging.truncated,
        res.logging.mean_tokens,
        cfg.fresh.draws,
        res.models
            .get(crate::config::JUDGE)
            .map_or("", String::as_str),
        cfg.judge.max_score,
        res.oracle_labels[0],
        res.oracle_labels[1],
        res.oracle_labels[2],
        res.model_calls.made,
        res.model_calls.cached,
    ));
    for w in &res.warnings {
        r.warning(w);
    }

    r.heading(2, "Headline");
    r.paragraph(&format!(
        "Per target, the estimate to trust and why, beside the oracle's own mean over the \
         labelled fresh draws (a sample of the truth the estimates aim at). Intervals are \
         {level:.0}%. Reward: {}.",
        res.cje.calibration.note
    ));
    let mut t = Table::new([
        "policy",
        "trust",
        "estimate",
        "oracle mean (fresh)",
        "judge mean (fresh)",
        "gate",
        "ESS fraction",
    ]);
    let mut rows = Vec::new();
    for (name, s) in &res.policies {
        let c = &res.cje.policies[name];
        let est = c.estimates.get(&s.verdict.trust);
        t.row(cells![
            name.as_str(),
            s.verdict.trust.as_str(),
            est.map_or("–".into(), interval),
            mean(&s.oracle_mean),
            mean(&s.judge_mean_fresh),
            format!("{:?}", c.gate.status).to_lowercase(),
            c.diagnostics.ess_fraction
        ]);
        for key in ["snips", "calibrated-ips", "dr", "direct"] {
            if let Some(e) = c.estimates.get(key) {
                rows.extend(bar(
                    format!("{name} · {key}"),
                    e.estimate,
                    e.ci_lower,
                    e.ci_upper,
                ));
            }
        }
        if let Some(m) = &s.oracle_mean {
            rows.extend(bar(
                format!("{name} · oracle mean"),
                m.mean,
                m.ci[0],
                m.ci[1],
            ));
        }
    }
    r.table(&t)?;
    r.bullets(
        res.policies
            .iter()
            .map(|(n, s)| format!("**{n}** — read `{}`: {}", s.verdict.trust, s.verdict.why)),
    );
    if let Some(m) = &res.oracle_mean_logging {
        r.paragraph(&format!(
            "π0's own oracle mean over its labelled responses: {}.",
            mean(&Some(*m))
        ));
    }
    if !rows.is_empty() {
        let mut chart = ErrorBarChart::new(
            "Estimated value of each policy beside the oracle mean",
            format!("value (bar: the wider side of the {level:.0}% interval)"),
            "policy · estimator",
            rows,
        );
        chart.sort = false;
        let plot = chart.render(&plots.join("estimates"))?;
        r.image("estimates with intervals beside the oracle mean", &plot.png);
    }

    r.heading(2, "Every estimator");
    let mut t = Table::new(["policy", "estimator", "estimate", "se", "interval"]);
    for (name, c) in &res.cje.policies {
        for (e, v) in &c.estimates {
            t.row(cells![
                name.as_str(),
                e.as_str(),
                v.estimate,
                v.se,
                format!("[{:.3}, {:.3}]", v.ci_lower, v.ci_upper)
            ]);
        }
    }
    r.table(&t)?;

    r.heading(2, "Weight diagnostics");
    r.paragraph(
        "The log weight of a logged response is its teacher-forced log-probability under the \
         target minus that under π0. ESS fraction (Σw)²/(nΣw²): ≥ 0.30 fine, < 0.10 critical; \
         a Hill tail index below 2 means the weights' variance is infinite. A clone of π0 must \
         have every weight exactly 1.",
    );
    let mut t = Table::new([
        "policy",
        "ESS fraction",
        "Hill index",
        "max weight share",
        "near-zero weights",
        "zero log-probs",
        "clone: max |log w|",
        "gate",
    ]);
    for (name, c) in &res.cje.policies {
        let d = &c.diagnostics;
        let s = &res.policies[name];
        t.row(cells![
            name.as_str(),
            d.ess_fraction,
            d.hill_tail_index.map_or("–".into(), |h| format!("{h:.2}")),
            d.max_weight_share,
            d.near_zero_weight_rate,
            d.zero_logprob_rate,
            s.clone_max_abs_log_weight
                .map_or("–".into(), |m| format!("{m}")),
            format!("{:?}: {}", c.gate.status, c.gate.reasons.join("; "))
        ]);
    }
    r.table(&t)?;
    let series: Vec<Series> = log_weights
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(name, v)| {
            let mut s = v.clone();
            s.sort_by(|a, b| b.total_cmp(a));
            let n = s.len() as f64;
            Series::new(
                name.clone(),
                s.iter()
                    .enumerate()
                    .map(|(i, &l)| ((i as f64 + 0.5) / n, l))
                    .collect(),
            )
        })
        .collect();
    if !series.is_empty() {
        let chart = LineChart::new(
            "Log importance weights, largest first",
            "share of logged responses",
            "log w = log π(y|x) − log π0(y|x)",
            series,
        );
        let plot = chart.render(&plots.join("weights"))?;
        r.image("log importance weights per policy", &plot.png);
    }
    let l = &res.logging;
    r.paragraph(&format!(
        "Teacher forcing against the sampler: of the {} truncated responses (no end-of-turn \
         token), {} re-tokenise to a different number of tokens; on the others π0's \
         teacher-forced log-probability differs from the sampler's by {} nats on average and \
         {} at most — the text's own tokenisation need not be the sampled tokens, and \
         llama.cpp computes a sequence decoded token by token and one decoded in a batch \
         slightly differently. The weights use teacher forcing of the same text on both sides, \
         so neither biases them (π_clone's weights are exactly 1). {} of {} logged responses \
         are empty.",
        l.truncated,
        l.retokenised,
        l.mean_sampler_gap.map_or("–".into(), |g| format!("{g:.3}")),
        l.max_sampler_gap.map_or("–".into(), |g| format!("{g:.3}")),
        l.empty,
        l.responses,
    ));

    r.heading(2, "Outputs");
    r.bullets([
        "`samples.jsonl`, `samples.parquet`: one `LoggedSample` per prompt (the CJE library's format)",
        "`fresh/<policy>_responses.jsonl`: the fresh draws with their judge scores (and oracle labels)",
        "`records/*.jsonl`: every model answer, as it came",
        "`results.json`: everything in this report",
    ]);
    r.write(&run.root().join("report.md"))?;
    write_index(run.root())?;
    Ok(())
}
