//! `report.md`, heatmaps (judge × author preference and recognition) and
//! `index.html`, from the typed measures alone (so `analyze` and `merge` write
//! the same report as a live run).

use std::path::Path;

use anyhow::Result;
use pref_rank::judge_measures::Fallible;
use pref_rank::judges::Estimate;
use pref_report::{cells, write_index, Chart, ColorScale, Heatmap, Report, Table};
use pref_study::Run;

use crate::analysis::Measures;
use crate::config::Config;
use crate::study::Results;

/// `0.62 [0.55, 0.70]`; `–` for a missing estimate or bound.
fn est(e: Option<&Estimate>) -> String {
    let f = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            "–".to_string()
        }
    };
    e.map_or("–".into(), |e| {
        format!("{} [{}, {}]", f(e.estimate), f(e.ci_lower), f(e.ci_upper))
    })
}

/// The report of a live run.
pub fn write(run: &Run<Config>, results: &Results) -> Result<()> {
    let cfg = run.config();
    let authors: Vec<String> = cfg
        .authors
        .iter()
        .map(|a| match (&a.model, &a.recorded) {
            (Some(m), _) => format!(
                "`{}` (model `{}`{})",
                a.name,
                m.name,
                if a.system.is_some() {
                    ", own system prompt"
                } else {
                    ""
                }
            ),
            (None, Some(f)) => format!("`{}` (recorded field `{f}`)", a.name),
            (None, None) => format!("`{}`", a.name),
        })
        .collect();
    let intro = format!(
        "{} tasks from `{}` ({:?}); authors: {}; each judge compares {}, in both orders{}. \
         Answers read from {:?}. Model calls this run: {} made, {} from the cache.",
        results.n_tasks,
        cfg.tasks.file.display(),
        cfg.tasks.kind,
        authors.join(", "),
        match cfg.judging.pairs {
            crate::config::Pairs::Own => "its own output with every other author's",
            crate::config::Pairs::All => "every pair of authors",
        },
        if cfg.judging.recognition {
            ", and is asked which output of each own-vs-other pair it wrote"
        } else {
            ""
        },
        cfg.judging.answer,
        results.model_calls.made,
        results.model_calls.cached,
    );
    write_report(
        run.root(),
        "Self-preference",
        Some(&intro),
        &results.measures,
    )
}

/// The report (`report.md`, heatmaps, `index.html`) of measures in `dir`.
pub fn write_report(dir: &Path, title: &str, intro: Option<&str>, v: &Measures) -> Result<()> {
    let mut r = Report::new(title);
    if let Some(i) = intro {
        r.paragraph(i);
    }
    let judges = &v.judges;
    if let Some(u) = &v.unparseable {
        r.paragraph(&format!(
            "Unparseable answers: {} of {} (kept in the records with `winner: null`, left out of every measure).",
            u.count, u.of
        ));
    }

    r.heading(2, "Position bias and order flips");
    r.paragraph(
        "How often the output shown first wins (0.5 = no position bias), and how often a \
         judge's verdict on the same pair flips when the order is swapped. A judge whose \
         verdicts are mostly position says little about quality or about itself.",
    );
    let mut t = Table::new(["judge", "decisions", "first option wins", "order flips"]);
    let mut biased = Vec::new();
    for (j, s) in judges {
        let first = &s.stats.first_option_rate;
        if first.ci_lower > 0.65 || first.ci_upper < 0.35 {
            biased.push(j.clone());
        }
        t.row(cells![
            j.as_str(),
            s.stats.n_decisions.to_string(),
            est(Some(first)),
            s.stats
                .order_flip_rate
                .map_or("–".to_string(), |x| format!("{x:.3}"))
        ]);
    }
    r.table(&t)?;
    if !biased.is_empty() {
        r.warning(&format!(
            "Strongly position-driven judges (first-option rate interval outside 0.35–0.65): {}. \
             Their self-preference below is mostly the order effect averaged out; read it with care.",
            biased.join(", ")
        ));
    }

    r.heading(2, "Self-preference and recognition");
    r.paragraph(
        "Self-preference: share of own-vs-other decisions won by the judge's own output \
         (0.5 = no preference), and the mean probability it gave its own output. Recognition: \
         share of \"which one did you write?\" questions answered with its own output. \
         95% intervals by bootstrap over tasks.",
    );
    let mut t = Table::new([
        "judge",
        "own decisions",
        "self-preference",
        "probability",
        "recognition",
    ]);
    for (j, s) in judges {
        t.row(cells![
            j.as_str(),
            s.stats.n_own.to_string(),
            est(s.stats.self_preference.as_ref()),
            est(s.stats.self_preference_prob.as_ref()),
            est(s.recognition.as_ref())
        ]);
    }
    r.table(&t)?;

    let hm = &v.heatmaps;
    let (rows, cols) = (&hm.judges, &hm.authors);
    for (key, grid, name, what) in [
        (
            "preference",
            Some(&hm.preference),
            "preference",
            "share of the judge's decisions involving the author that the author won (diagonal: self-preference)",
        ),
        (
            "recognition",
            hm.recognition.as_ref(),
            "recognition",
            "share of own-vs-author questions where the judge said it wrote its own output",
        ),
    ] {
        let Some(grid) = grid else {
            continue;
        };
        let values: Vec<Vec<f64>> = grid
            .iter()
            .map(|r| r.iter().map(|x| x.unwrap_or(f64::NAN)).collect())
            .collect();
        if rows.is_empty() || cols.is_empty() {
            continue;
        }
        let mut h = Heatmap::new(
            format!("Judge × author: {name}"),
            rows.clone(),
            cols.clone(),
            values,
        );
        h.row_axis = "judge".into();
        h.col_axis = "author".into();
        h.range = Some((0.0, 1.0));
        h.scale = ColorScale::Diverging;
        h.allow_missing = true;
        let plot = h.render(&dir.join("plots").join(format!("heatmap_{key}")))?;
        r.heading(3, &format!("Heatmap: {name}"));
        r.image(name, &plot.png);
        r.paragraph(&format!("Each cell: {what}. Grey: no such decision."));
    }

    r.heading(2, "Ratings of the authors");
    match &v.ratings {
        Fallible::Ok(ratings) => {
            r.paragraph(
                "Bradley–Terry ratings (Elo scale, mean 1000) from all judges' decisions, with \
                 bootstrap intervals over tasks.",
            );
            let mut t = Table::new(["author", "rating"]);
            let mut rows: Vec<_> = ratings.ratings.iter().collect();
            rows.sort_by(|a, b| b.1.estimate.total_cmp(&a.1.estimate));
            for (m, e) in rows {
                t.row(cells![m.as_str(), est(Some(e))]);
            }
            r.table(&t)?;
        }
        Fallible::Failed { error } => {
            r.not_reliable(&format!("no ratings: {error}"));
        }
    }
    if let Fallible::Ok(sb) = &v.self_bias {
        r.heading(3, "Self-bias");
        r.paragraph(
            "A judge's rating of its own outputs (fitted on its decisions) minus the rating the \
             other judges give them; both fits centred on the authors they share.",
        );
        let mut t = Table::new(["judge", "rating by itself", "rating by others", "self-bias"]);
        for (j, s) in &sb.judges {
            t.row(cells![
                j.as_str(),
                est(Some(&s.rating_by_self)),
                est(Some(&s.rating_by_others)),
                est(Some(&s.self_bias))
            ]);
        }
        r.table(&t)?;
        for (j, why) in &sb.skipped {
            r.paragraph(&format!("Self-bias of `{j}` undefined: {why}"));
        }
    }

    if let Some(g) = &v.ground_truth {
        r.heading(2, "Against the ground truth");
        let c = &g.comparison;
        let stat = |x: f64| {
            if x.is_finite() {
                format!("{x:.3}")
            } else {
                "undefined".into()
            }
        };
        r.paragraph(&format!(
            "Leaderboard `{}`: {} authors matched; Spearman ρ = {}, Kendall τ = {} between the \
             judges' ratings and the leaderboard's.",
            g.file.display(),
            c.n_matched,
            stat(c.spearman.statistic),
            stat(c.kendall_tau.statistic),
        ));
        let mut t = Table::new([
            "author",
            "leaderboard name",
            "rating − mean",
            "leaderboard − mean",
            "difference",
        ]);
        for m in &c.matched {
            t.row(cells![
                m.model.as_str(),
                m.reference_model.as_str(),
                m.rating_centred,
                m.reference_centred,
                m.difference
            ]);
        }
        r.table(&t)?;
        if !c.missing_from_reference.is_empty() {
            r.warning(&format!(
                "Not in the leaderboard (not rated against it): {}.",
                c.missing_from_reference.join(", ")
            ));
        }
    }
    r.write(&dir.join("report.md"))?;
    write_index(dir)?;
    Ok(())
}
