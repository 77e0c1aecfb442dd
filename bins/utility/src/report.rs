//! `report.md`, `plots/utilities.{svg,png}` and `index.html` of a run.

use anyhow::Result;
use pref_report::{cells, write_index, Chart, ErrorBarChart, LineChart, Report, Series, Table};
use pref_study::{Item, Run};
use pref_utility::UtilityFit;

use crate::config::Config;
use pref_elicit::{Plan, Results};

/// Writes the human-readable report of a finished run.
pub fn write(
    run: &Run<Config>,
    plan: &Plan,
    results: &Results,
    fit: Option<&UtilityFit>,
) -> Result<()> {
    let cfg = run.config();
    let text_of = |id: &str| {
        plan.items
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.text.replace('\n', " "))
            .unwrap_or_default()
    };
    let label = |id: &str| {
        let t = text_of(id);
        let short: String = t.chars().take(40).collect();
        format!("{id}: {short}")
    };
    let mut r = Report::new("Utility elicitation");
    let model_id = &results.model;
    let n_pairs = results.n_pairs.as_ref();
    r.paragraph(&format!(
        "Model `{model_id}`; {} items; {} training and {} held-out pairs (strategy `{:?}`); {} comparisons \
         (both orders × {} sample(s)); mode `{:?}`, answers read from {:?}, readout {:?}.",
        plan.items.len(),
        n_pairs.map_or(0, |p| p.train),
        plan.heldout.len(),
        cfg.pairs.strategy,
        results.n_comparisons.unwrap_or(0),
        cfg.elicitation.samples,
        cfg.elicitation.mode,
        cfg.elicitation.answer,
        cfg.elicitation.readout,
    ));

    for w in &results.warnings {
        r.warning(w);
    }
    r.heading(2, "Position bias");
    match &results.position_bias {
        Some(b) => {
            let (share, [lo, hi]) = (b.share_first, b.ci95);
            r.paragraph(&format!(
                "The option shown first wins {:.1}% of the time (95% interval {:.1}–{:.1}%, n = {}); \
                 50% means no position bias. Both orders of every pair are asked, so the fit \
                 averages the bias out, but a strongly biased model carries little preference signal.",
                100.0 * share,
                100.0 * lo,
                100.0 * hi,
                b.n
            ));
            if !(0.35..=0.65).contains(&share) {
                r.warning(&format!(
                    "Strong position bias: the first option wins {:.0}% of the time.",
                    100.0 * share
                ));
            }
        }
        None => {
            r.not_reliable("no parseable answers, so no position bias could be measured");
        }
    }

    r.heading(2, "Fit and held-out pairs");
    let mut t = Table::new(["set", "pairs", "log loss", "accuracy"]);
    if let Some(tr) = &results.train {
        t.row(cells!["train", tr.n_pairs as f64, tr.log_loss, tr.accuracy]);
    }
    if let Some(h) = &results.heldout {
        t.row(cells!["held out", h.n_pairs as f64, h.log_loss, h.accuracy]);
    }
    r.table(&t)?;
    learning_curve(run, &mut r, results)?;
    r.paragraph(&format!(
        "Unparseable answers: {} of {} (kept in `records/comparisons.jsonl` with `choice: null`, not used in the fit). \
         Model calls this run: {} made, {} from the cache.",
        results.unparseable.count, results.unparseable.of,
        results.model_calls.made, results.model_calls.cached,
    ));

    utilities_section(run, &mut r, fit, &label, "Fitted utilities")?;
    r.write(&run.root().join("report.md"))?;
    write_index(run.root())?;
    Ok(())
}

/// The utilities' plot and sorted table, or why there are none.
fn utilities_section(
    run: &Run<Config>,
    r: &mut Report,
    fit: Option<&UtilityFit>,
    label: &dyn Fn(&str) -> String,
    title: &str,
) -> Result<()> {
    r.heading(2, "Utilities");
    let Some(fit) = fit else {
        r.not_reliable(
            "every answer was unparseable, so no utilities were fitted; the answers are \
             in the records (try `answer = \"logprobs\"`, or a model that follows the format)",
        );
        return Ok(());
    };
    let (model, mu_se) = (&fit.model, &fit.mu_se);
    let bars: Vec<(String, f64, f64)> = model
        .items()
        .iter()
        .enumerate()
        .map(|(i, id)| (label(id), model.mu()[i], model.sigma2()[i].sqrt()))
        .collect();
    let plot = ErrorBarChart::new(title, "utility μ (±1 σ)", "item", bars)
        .render(&run.dir().plots_dir().join("utilities"))?;
    r.image("utilities", &plot.png);
    let mut ut = Table::new(["item", "μ", "σ²", "se(μ)"]);
    let mut order: Vec<usize> = (0..model.items().len()).collect();
    order.sort_by(|&i, &j| model.mu()[j].total_cmp(&model.mu()[i]));
    for i in order {
        ut.row(cells![
            label(&model.items()[i]),
            model.mu()[i],
            model.sigma2()[i],
            mu_se[i]
        ]);
    }
    r.table(&ut)?;
    Ok(())
}

/// Held-out accuracy against training pairs: active learning by round and
/// random selection by prefix, when the run has held-out pairs.
fn learning_curve(run: &Run<Config>, r: &mut Report, results: &Results) -> Result<()> {
    let mut series = Vec::new();
    for (key, name) in [("active", "active learning"), ("random", "random pairs")] {
        let Some(curve) = results.learning_curve.as_ref().and_then(|c| c.get(key)) else {
            continue;
        };
        let pts: Vec<(f64, f64)> = curve.iter().map(|p| (p.pairs as f64, p.accuracy)).collect();
        if !pts.is_empty() {
            series.push(Series::new(name, pts));
        }
    }
    if series.is_empty() {
        return Ok(());
    }
    r.heading(2, "Learning curve");
    let mut chart = LineChart::new(
        "Held-out accuracy against training pairs",
        "training pairs",
        "held-out accuracy",
        series,
    );
    chart.y_range = Some((0.0, 1.0));
    let plot = chart.render(&run.dir().plots_dir().join("learning_curve"))?;
    r.image("learning curve", &plot.png);
    r.paragraph(
        "Each point refits the utilities on the training pairs asked so far and scores the \
         held-out pairs. With few held-out pairs the curve moves in steps of 1/n; read it \
         with the held-out table above.",
    );
    Ok(())
}

/// The report of a `rate` run: mean ratings, the scale's use, implied utilities.
pub fn write_rate(
    run: &Run<Config>,
    items: &[Item],
    results: &Results,
    fit: Option<&UtilityFit>,
) -> Result<()> {
    let cfg = run.config();
    let label = |id: &str| {
        let t = items
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.text.replace('\n', " "))
            .unwrap_or_default();
        let short: String = t.chars().take(40).collect();
        format!("{id}: {short}")
    };
    let mut rated: Vec<(String, f64, f64)> = items
        .iter()
        .filter_map(|it| {
            let v = results.ratings.as_ref()?.get(&it.id)?.as_ref()?;
            Some((label(&it.id), v.mean, v.sd))
        })
        .collect();
    rated.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut r = Report::new("Utility elicitation by rating");
    r.paragraph(&format!(
        "Model `{}`; {} items rated {} time(s) each on the scale {:?} (worst first); answers \
         read from {:?}. Utilities are fitted to the pairwise probabilities the ratings imply \
         (P(a ≻ b) = P(Rₐ > R_b) + ½ P(Rₐ = R_b)); there are no held-out pairs in this mode.",
        results.model,
        items.len(),
        cfg.elicitation.samples,
        cfg.elicitation.scale,
        cfg.elicitation.answer,
    ));
    for w in &results.warnings {
        r.warning(w);
    }
    r.heading(2, "Use of the scale");
    let mut t = Table::new(["label", "share"]);
    let overall = results.rating_distribution.clone().unwrap_or_default();
    for (l, p) in cfg.elicitation.scale.iter().zip(&overall) {
        t.row(cells![l.as_str(), *p]);
    }
    r.table(&t)?;
    if let Some(max) = overall.iter().copied().reduce(f64::max) {
        if max > 0.8 {
            r.warning(&format!(
                "One label takes {:.0}% of the probability: the ratings carry little signal.",
                100.0 * max
            ));
        }
    }
    r.paragraph(&format!(
        "Unparseable answers: {} of {} (kept in `records/ratings.jsonl` with `rating: null`). \
         Model calls this run: {} made, {} from the cache.",
        results.unparseable.count,
        results.unparseable.of,
        results.model_calls.made,
        results.model_calls.cached,
    ));
    if !rated.is_empty() {
        r.heading(2, "Mean ratings");
        let plot = ErrorBarChart::new("Mean ratings", "rating (±1 sd)", "item", rated.clone())
            .render(&run.dir().plots_dir().join("ratings"))?;
        r.image("ratings", &plot.png);
    }
    utilities_section(run, &mut r, fit, &label, "Implied utilities")?;
    r.write(&run.root().join("report.md"))?;
    write_index(run.root())?;
    Ok(())
}
