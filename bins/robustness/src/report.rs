//! `report.md`, its plots and `index.html` of a run.

use anyhow::Result;
use pref_report::{cells, write_index, Chart, ErrorBarChart, Heatmap, Report, Table};
use pref_study::Run;

use crate::config::Config;
use crate::study::Results;
use crate::template::FACTORS;

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn interval(ci: [f64; 2]) -> String {
    format!("[{:.3}, {:.3}]", ci[0], ci[1])
}

/// Writes the report of a finished run.
pub fn write(run: &Run<Config>, res: &Results) -> Result<()> {
    let cfg = run.config();
    let plots = run.dir().plots_dir();
    let mut r = Report::new("Template robustness of utilities");
    let varied: Vec<&str> = cfg.design.vary.iter().map(String::as_str).collect();
    r.paragraph(&format!(
        "Model `{}`; {} items; {} template configurations ({:?} sampling over {}), one \
         Thurstonian fit each over the same items and pairs; answers read from {:?}. Each \
         configuration asks every pair in one order (the `order` factor). Model calls this \
         run: {} made, {} from the cache (identical prompts are asked once).",
        res.model,
        res.items.len(),
        res.configs.len(),
        cfg.design.sampling,
        varied.join(", "),
        cfg.elicitation.answer,
        res.model_calls.made,
        res.model_calls.cached,
    ));
    for w in &res.warnings {
        r.warning(w);
    }

    r.heading(2, "Which factors move the utilities");
    match &res.regression {
        None => {
            r.not_reliable("the factor regression could not be fitted (see the warnings above)");
        }
        Some(g) => {
            r.paragraph(&format!(
                "For every two configurations, the {:?} correlation of their utilities is \
                 regressed on one indicator per factor: 1 when the two share the factor's level. \
                 A large coefficient means configurations that agree on that factor agree on \
                 the utilities. R² = {:.3} (run-level bootstrap {}), {} configuration pairs \
                 ({} skipped), design rank {} of {} columns. The intercept ({:.3}) is the \
                 expected correlation of two configurations that share no level.",
                g.correlation,
                g.r2,
                interval(g.r2_ci95),
                g.n_pairs,
                g.n_skipped,
                g.rank,
                g.p,
                g.intercept.estimate,
            ));
            r.paragraph(
                "Standard errors and p-values are the classical ones (pinv(XᵀX)·σ̂², n − p \
                 degrees of freedom). Configuration pairs share configurations, so they are \
                 optimistic; trust the bootstrap intervals, which redraw whole configurations.",
            );
            let mut t = Table::new(["factor", "coefficient", "se", "p", "bootstrap 95%"]);
            let mut bars = Vec::new();
            for f in FACTORS {
                let Some(c) = g.coefficients.get(f.name) else {
                    continue;
                };
                t.row(cells![
                    f.name,
                    c.estimate,
                    c.se,
                    c.p,
                    interval(c.ci95_bootstrap)
                ]);
                bars.push((f.name.to_string(), c.estimate, 1.96 * c.se));
            }
            r.table(&t)?;
            for (factors, c) in &g.aliased {
                r.paragraph(&format!(
                    "Aliased: {} always change together in this design, so only the sum of \
                     their coefficients is estimable: {:.3} (se {:.3}, bootstrap {}). The table \
                     shows each an equal share (the minimum-norm solution).",
                    factors.join(", "),
                    c.estimate,
                    c.se,
                    interval(c.ci95_bootstrap)
                ));
            }
            if !g.constant.is_empty() {
                r.paragraph(&format!(
                    "Not estimable (the same level in every configuration): {}.",
                    g.constant.join(", ")
                ));
            }
            if !bars.is_empty() {
                let mut chart = ErrorBarChart::new(
                    "Effect of sharing a factor's level on utility correlation",
                    "coefficient (bar: ±1.96 classical se; trust the table's bootstrap intervals)",
                    "factor",
                    bars,
                );
                chart.sort = false;
                let plot = chart.render(&plots.join("coefficients"))?;
                r.image("coefficients", &plot.png);
            }
        }
    }

    r.heading(2, "Agreement between configurations");
    let names: Vec<String> = res
        .configs
        .iter()
        .filter(|c| c.utilities.is_some())
        .map(|c| c.name.clone())
        .collect();
    if names.len() >= 2 {
        let values: Vec<Vec<f64>> = res
            .correlations
            .iter()
            .map(|row| row.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
            .collect();
        let mut h = Heatmap::new(
            "Correlation of utilities between configurations",
            names.clone(),
            names,
            values,
        );
        h.allow_missing = true;
        h.range = Some((-1.0, 1.0));
        let plot = h.render(&plots.join("correlations"))?;
        r.image("correlations", &plot.png);
    }

    r.heading(2, "Transitivity");
    r.paragraph(&format!(
        "Per configuration, every triad of items is checked: a hard cycle when the three \
         pairwise majorities go round (a 50/50 pair never counts), a soft cycle the probability \
         of one if each pair were decided by its observed share. A random tournament gives 25%. \
         Mean hard-cycle rate over configurations: {}.",
        res.mean_hard_cycle_rate.map_or("–".into(), pct)
    ));
    let mut bars = Vec::new();
    let mut t = Table::new([
        "config",
        "comparisons",
        "unparseable",
        "first shown wins",
        "hard cycles",
        "95%",
        "soft",
        "levels",
    ]);
    for c in &res.configs {
        let levels: Vec<String> = FACTORS
            .iter()
            .filter(|f| cfg.design.vary.iter().any(|v| v == f.name))
            .map(|f| format!("{}={}", f.name, c.levels[f.name]))
            .collect();
        let hard = c.hard_cycle_rate.map(|h| h.0);
        t.row(cells![
            c.name.as_str(),
            c.n_comparisons,
            c.unparseable,
            c.first_shown_share.map_or("–".into(), |s| pct(s.0)),
            hard.map_or("–".into(), pct),
            c.hard_cycle_rate.map_or("–".into(), |h| interval(h.1)),
            c.soft_cycle_rate.map_or("–".into(), |s| pct(s.0)),
            levels.join(" ")
        ]);
        if let Some((h, ci)) = c.hard_cycle_rate {
            // The chart's bars are symmetric: the wider side of the interval.
            bars.push((c.name.clone(), h, (ci[1] - h).max(h - ci[0]).max(0.0)));
        }
    }
    r.table(&t)?;
    if !bars.is_empty() {
        let mut chart = ErrorBarChart::new(
            "Hard-cycle rate per configuration (random: 0.25)",
            "share of triads in a cycle (bar: the wider side of the bootstrap 95% interval)",
            "configuration",
            bars,
        );
        chart.sort = false;
        let plot = chart.render(&plots.join("cycles"))?;
        r.image("cycle rates", &plot.png);
    }
    positivity(&mut r, res, &plots)?;
    r.paragraph(
        "A small model's answers are driven mostly by the position of the options: with one \
         order per configuration, configurations sharing the `order` level share that bias, \
         which shows up as a large `order` coefficient. That is a finding about the model, \
         reported with its interval.",
    );
    r.write(&run.root().join("report.md"))?;
    write_index(run.root())?;
    Ok(())
}

/// The positivity check: shares per framing × option set, two heatmaps.
fn positivity(r: &mut Report, res: &Results, plots: &std::path::Path) -> Result<()> {
    let Some(p) = &res.positivity else {
        return Ok(());
    };
    r.heading(2, "Positivity bias of self-reports");
    let share = |s: Option<pref_elicit::positivity::Shares>| {
        s.map_or("–".to_string(), |s| {
            format!(
                "{} positive, {} negative (score {:+.2})",
                pct(s.positive),
                pct(s.negative),
                s.mean_score
            )
        })
    };
    r.paragraph(&format!(
        "The model completed {} tasks, then rated each under every framing × option set \
         (positive, neutral, negative). From the options' probabilities: {}. From its \
         written answers: {}; {} of {} answers named no option (kept in \
         `records/self_reports.jsonl`, not counted in the shares). A model without a \
         positivity bias would not call most tasks positive under every framing. Scores: +1 \
         positive, 0 neutral, −1 negative.",
        p.n_items,
        share(p.overall_logprobs),
        share(p.overall_text),
        p.unparseable,
        p.cells.iter().map(|c| c.n).sum::<usize>(),
    ));
    for (file, title, value) in [
        (
            "positivity_negative",
            "Negative share (option probabilities)",
            (|c: &pref_elicit::positivity::Cell| c.logprobs.map(|s| s.negative))
                as fn(&pref_elicit::positivity::Cell) -> Option<f64>,
        ),
        (
            "positivity_score",
            "Mean score (option probabilities)",
            |c: &pref_elicit::positivity::Cell| c.logprobs.map(|s| s.mean_score),
        ),
        (
            "positivity_score_text",
            "Mean score (written answers)",
            |c: &pref_elicit::positivity::Cell| c.text.map(|s| s.mean_score),
        ),
    ] {
        let (rows, cols, values) = pref_elicit::positivity::grid(p, value);
        if values.iter().flatten().all(|v| v.is_nan()) {
            continue;
        }
        let mut h = Heatmap::new(title, rows, cols, values);
        h.allow_missing = true;
        h.row_axis = "framing".into();
        h.col_axis = "options".into();
        let plot = h.render(&plots.join(file))?;
        r.image(title, &plot.png);
    }
    let mut t = Table::new([
        "framing",
        "options",
        "probabilities",
        "written answers",
        "unparseable",
    ]);
    for c in &p.cells {
        t.row(cells![
            c.framing.as_str(),
            c.option_set.as_str(),
            share(c.logprobs),
            share(c.text),
            c.unparseable
        ]);
    }
    r.table(&t)?;
    Ok(())
}
