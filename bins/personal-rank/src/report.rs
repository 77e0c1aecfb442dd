//! `report.md`, its plots and `index.html` of a run.

use anyhow::Result;
use pref_report::{cells, write_index, Chart, ErrorBarChart, LineChart, Report, Series, Table};
use pref_stats::MeanInterval;
use pref_study::Run;

use crate::analysis::{Results, STYLE};
use crate::config::Config;

/// What each system is, in one line.
const SYSTEMS: [(&str, &str); 4] = [
    ("global", "global ratings alone (no personalisation)"),
    ("A", "A: global rating + per-persona Elo offsets"),
    ("B", "B: reward head on MiniLM embeddings"),
    ("C", "C: Bradley–Terry with persona offsets and style"),
];

fn label(system: &str) -> &str {
    SYSTEMS
        .iter()
        .find(|(s, _)| *s == system)
        .map_or(system, |(_, l)| l)
}

/// A system's name in a chart legend.
fn short(system: &str) -> &str {
    match system {
        "global" => "global only",
        "A" => "A: Elo offsets",
        "B" => "B: reward head",
        "C" => "C: style BT",
        s => s,
    }
}

fn mi(m: Option<&MeanInterval>) -> String {
    m.map_or("–".into(), |m| {
        format!("{:.3} [{:.3}, {:.3}]", m.mean, m.ci[0], m.ci[1])
    })
}

fn est(e: &pref_rank::judges::Estimate) -> String {
    format!("{:.3} [{:.3}, {:.3}]", e.estimate, e.ci_lower, e.ci_upper)
}

/// Writes the report of a finished run.
pub fn write(run: &Run<Config>, res: &Results) -> Result<()> {
    let cfg = run.config();
    let plots = run.dir().plots_dir();
    let ev = &res.evaluation;
    let level = format!("{:.0}%", 100.0 * cfg.analysis.level);
    let c = &res.counts;
    let mut r = Report::new("Whose ranking? Personalised rankings of models for personas");
    r.paragraph(&format!(
        "Personas {} each wrote {} prompts ({} kept: {}; {} unusable, {} repeats dropped). The \
         contestants {} answered every kept prompt. The judge (`{}`) compared every pair of \
         answers to a prompt as the prompt's persona, in both orders ({} comparisons, {} \
         unparseable){}. Model calls this run: {} made, {} from the cache.",
        res.personas.join(", "),
        cfg.prompts.per_persona,
        c.prompts.values().sum::<usize>(),
        c.prompts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        c.unusable_prompts,
        c.duplicate_prompts,
        res.contestants.join(", "),
        res.models
            .get(crate::config::JUDGE)
            .map_or("", String::as_str),
        c.comparisons,
        c.unparseable,
        if c.neutral_comparisons > 0 {
            format!(
                ", and without a persona for the global ratings ({} comparisons)",
                c.neutral_comparisons
            )
        } else {
            String::new()
        },
        res.model_calls.made,
        res.model_calls.cached,
    ));
    r.paragraph(&format!(
        "Both orders: the judge's probability for each answer of a pair is averaged over the two \
         shown orders, and the answer above ½ is preferred ({} (prompt, pair)s, {} ties, {} left \
         out for a missing order). A judge that always picks the first-shown answer gives both \
         answers the same first-shown wins, so only the difference it makes between the answers \
         decides (its position bias is measured below).",
        c.pairs, c.tied_pairs, c.incomplete_pairs
    ));
    r.paragraph(&format!(
        "Evaluation: {} repetitions; in each, {} prompts per persona are held out at random and \
         the persona's round robin on them, fitted by Bradley–Terry, is its ground truth. The \
         systems learn from the persona's other comparisons ({} per persona at the last point, in \
         a random order). Every number is a mean over repetitions with its {level} t interval.",
        cfg.analysis.seeds, cfg.analysis.heldout, ev.train_comparisons
    ));
    for w in &res.warnings {
        r.warning(w);
    }
    r.heading(2, "Verdict");
    r.bullets(res.verdicts.iter());

    r.heading(2, "Rankings against each persona's ground truth");
    if let Some(last) = ev.curve.last() {
        let mut t = Table::new([
            "system",
            "Kendall τ",
            "Spearman ρ",
            "pairwise accuracy",
            "top-1",
            "top-3",
        ]);
        for (s, _) in SYSTEMS {
            if let Some(m) = last.systems.get(s) {
                let g = |k: &str| mi(m.get(k));
                t.row(cells![
                    label(s),
                    g("kendall_tau"),
                    g("spearman_rho"),
                    g("pairwise_accuracy"),
                    g("top1"),
                    g("top3")
                ]);
            }
        }
        r.table(&t)?;
    }
    for (metric, title) in [
        ("kendall_tau", "Kendall τ"),
        ("pairwise_accuracy", "pairwise accuracy"),
    ] {
        let series: Vec<Series> = SYSTEMS
            .iter()
            .filter_map(|(s, _)| {
                let pts: Vec<(f64, f64, f64, f64)> = ev
                    .curve
                    .iter()
                    .filter_map(|p| {
                        p.systems
                            .get(*s)?
                            .get(metric)
                            .map(|m| (p.size as f64, m.mean, m.ci[0], m.ci[1]))
                    })
                    .collect();
                (!pts.is_empty()).then(|| {
                    Series::new(short(s), pts.iter().map(|p| (p.0, p.1)).collect())
                        .with_band(pts.iter().map(|p| (p.2, p.3)).collect())
                })
            })
            .collect();
        if series.is_empty() {
            continue;
        }
        let chart = LineChart::new(
            format!("Learning curve: {title} against the held-out ground truth"),
            "training comparisons per persona",
            format!("{title} (mean over repetitions, {level} band)"),
            series,
        );
        let plot = chart.render(&plots.join(format!("curve_{metric}")))?;
        r.image(&format!("learning curve of {title}"), &plot.png);
    }

    r.heading(2, "Per persona (last point, Kendall τ)");
    let mut t = Table::new(
        std::iter::once("persona".to_string()).chain(SYSTEMS.iter().map(|(s, _)| s.to_string())),
    );
    for (p, summary) in &ev.by_persona {
        let mut row = cells![p.as_str()];
        for (s, _) in SYSTEMS {
            row.push(mi(summary.get(s).and_then(|m| m.get("kendall_tau"))).into());
        }
        t.row(row);
    }
    r.table(&t)?;

    r.heading(2, "Paired differences (last point)");
    r.paragraph(
        "Per repetition, the difference of the two systems' persona-averaged metric; a \
         difference whose interval includes 0 does not separate them.",
    );
    let mut t = Table::new(["systems", "metric", "mean difference [interval]"]);
    for p in &ev.paired {
        t.row(cells![
            format!("{} − {}", p.a, p.b),
            p.metric.as_str(),
            mi(Some(&p.difference))
        ]);
    }
    r.table(&t)?;

    if let Some(loo) = &ev.leave_one_out {
        r.heading(2, "Unseen models (leave one out)");
        r.paragraph(
            "Each contestant in turn is removed from training; the systems then rank it among \
             the others. Pairwise accuracy counts only the pairs involving the unseen model. A \
             model never seen keeps its global rating in A and gets the prior (0 offset, mean \
             strength) in C; only B, which scores the answers' embeddings, can place it from \
             what it wrote.",
        );
        let mut t = Table::new(["system", "pairwise accuracy (unseen model)", "Kendall τ"]);
        for (s, _) in SYSTEMS {
            if let Some(m) = loo.get(s) {
                t.row(cells![
                    label(s),
                    mi(m.get("pairwise_accuracy")),
                    mi(m.get("kendall_tau"))
                ]);
            }
        }
        r.table(&t)?;
    }

    r.heading(2, "Ratings");
    let mut header = vec!["contestant".to_string(), "global".into(), "source".into()];
    header.extend(res.personas.iter().cloned());
    let mut t = Table::new(header);
    for name in &res.contestants {
        let mut row = cells![
            name.as_str(),
            res.global.ratings[name],
            res.global.source[name].as_str()
        ];
        for p in &res.personas {
            row.push(res.persona_ratings[p][name].into());
        }
        t.row(row);
    }
    r.table(&t)?;
    r.paragraph(
        "Persona columns: Bradley–Terry of every comparison the judge made as that persona (Elo \
         scale, mean 1000). A global rating from the neutral judge is that judge's Bradley–Terry \
         fit, not an Arena rating.",
    );

    r.heading(2, "Style (System C on every comparison)");
    let fit = &res.style.fit;
    r.paragraph(&format!(
        "Coefficients of the standardised style differences (arena-rank's (a − b)/(a + b)) in \
         the persona's log-odds, with {level} Laplace intervals. A positive `tokens` coefficient: \
         the persona prefers the longer answer beyond what the models' strengths explain."
    ));
    let mut t = Table::new(
        std::iter::once("persona".to_string()).chain(STYLE.iter().map(|s| s.to_string())),
    );
    let mut bars = Vec::new();
    for (g, row) in fit.style.iter().enumerate() {
        let who = if fit.style.len() == 1 {
            "everyone".to_string()
        } else {
            fit.groups[g].clone()
        };
        let mut cells_row = cells![who.as_str()];
        for (k, &b) in row.iter().enumerate() {
            if res.style.constant.iter().any(|c| c == STYLE[k]) {
                cells_row.push("constant in the data".into());
                continue;
            }
            let (lo, hi) = fit.interval(b, fit.style_se[g][k]);
            cells_row.push(format!("{b:.3} [{lo:.3}, {hi:.3}]").into());
            let err = fit.z * fit.style_se[g][k];
            if b.is_finite() && err.is_finite() {
                bars.push((format!("{who}: {}", STYLE[k]), b, err));
            }
        }
        t.row(cells_row);
    }
    r.table(&t)?;
    if !bars.is_empty() {
        let mut chart = ErrorBarChart::new(
            "Style coefficients per persona",
            format!("log-odds per sd of the style difference ({level} interval)"),
            "",
            bars,
        );
        chart.sort = false;
        let plot = chart.render(&plots.join("style"))?;
        r.image("style coefficients per persona", &plot.png);
    }

    r.heading(2, "The judge's position bias");
    let mut t = Table::new(["judge as", "decisions", "first-shown wins", "order flips"]);
    for (j, b) in &res.position_bias {
        t.row(cells![
            j.as_str(),
            b.decisions,
            est(&b.first_option_rate),
            b.order_flip.as_ref().map_or("–".into(), est)
        ]);
    }
    r.table(&t)?;

    r.heading(2, "Answers");
    let mut t = Table::new(
        [
            "contestant".to_string(),
            "answers".into(),
            "cut short".into(),
        ]
        .into_iter()
        .chain(STYLE.iter().map(|s| format!("mean {s}"))),
    );
    for (name, a) in &c.answers {
        let mut row = cells![name.as_str(), a.n, a.truncated];
        for s in STYLE {
            row.push(a.mean_style[s].into());
        }
        t.row(row);
    }
    r.table(&t)?;

    r.heading(2, "Outputs");
    r.bullets([
        "`records/prompts.jsonl`, `records/responses.jsonl`, `records/judgments.jsonl`, \
         `records/neutral.jsonl`: every model answer, as it came",
        "`results.json`: everything in this report, with every repetition's raw scores",
    ]);
    r.write(&run.root().join("report.md"))?;
    write_index(run.root())?;
    Ok(())
}
