//! `report.md`, heatmaps (judge × author preference and recognition) and
//! `index.html`, from `results.json`'s value alone (so `analyze` and `merge`
//! write the same report as a live run).

use std::path::Path;

use anyhow::Result;
use pref_data::RunDir;
use pref_report::{cells, write_index, Chart, ColorScale, Heatmap, Report, Table};
use serde_json::Value;

use crate::config::Config;

/// `0.62 [0.55, 0.70]` from an `{estimate, ci_lower, ci_upper}` value; `–` for null.
fn est(v: &Value) -> String {
    let f = |x: &Value| x.as_f64().map_or("–".to_string(), |x| format!("{x:.3}"));
    if v.is_null() {
        return "–".into();
    }
    format!(
        "{} [{}, {}]",
        f(&v["estimate"]),
        f(&v["ci_lower"]),
        f(&v["ci_upper"])
    )
}

fn grid(v: &Value) -> Option<Vec<Vec<f64>>> {
    v.as_array().map(|rows| {
        rows.iter()
            .map(|r| {
                r.as_array()
                    .map(|c| c.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
                    .unwrap_or_default()
            })
            .collect()
    })
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The report of a live run.
pub fn write(run: &RunDir, cfg: &Config, results: &Value) -> Result<()> {
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
        results["n_tasks"],
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
        results["model_calls"]["made"],
        results["model_calls"]["cached"],
    );
    write_report_with(run.root(), "Self-preference", Some(&intro), results)
}

/// The report of `analyze` / `merge` output.
pub fn write_report(dir: &Path, title: &str, results: &Value) -> Result<()> {
    write_report_with(dir, title, None, results)
}

fn write_report_with(dir: &Path, title: &str, intro: Option<&str>, v: &Value) -> Result<()> {
    let mut r = Report::new(title);
    if let Some(i) = intro {
        r.paragraph(i);
    }
    let judges = v["judges"].as_object().cloned().unwrap_or_default();
    if let Some(u) = v["unparseable"].as_object() {
        r.paragraph(&format!(
            "Unparseable answers: {} of {} (kept in the records with `winner: null`, left out of every measure).",
            u["count"], u["of"]
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
    for (j, s) in &judges {
        let first = &s["first_option_rate"];
        if let (Some(lo), Some(hi)) = (first["ci_lower"].as_f64(), first["ci_upper"].as_f64()) {
            if lo > 0.65 || hi < 0.35 {
                biased.push(j.clone());
            }
        }
        t.row(cells![
            j.as_str(),
            s["n_decisions"].as_u64().unwrap_or(0).to_string(),
            est(first),
            s["order_flip_rate"]
                .as_f64()
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
    for (j, s) in &judges {
        t.row(cells![
            j.as_str(),
            s["n_own"].as_u64().unwrap_or(0).to_string(),
            est(&s["self_preference"]),
            est(&s["self_preference_prob"]),
            est(&s["recognition"])
        ]);
    }
    r.table(&t)?;

    let hm = &v["heatmaps"];
    let (rows, cols) = (names(&hm["judges"]), names(&hm["authors"]));
    for (key, name, what) in [
        (
            "preference",
            "preference",
            "share of the judge's decisions involving the author that the author won (diagonal: self-preference)",
        ),
        (
            "recognition",
            "recognition",
            "share of own-vs-author questions where the judge said it wrote its own output",
        ),
    ] {
        let Some(values) = grid(&hm[key]) else {
            continue;
        };
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
    match v["ratings"]["ratings"].as_object() {
        Some(ratings) => {
            r.paragraph(
                "Bradley–Terry ratings (Elo scale, mean 1000) from all judges' decisions, with \
                 bootstrap intervals over tasks.",
            );
            let mut t = Table::new(["author", "rating"]);
            let mut rows: Vec<(&String, &Value)> = ratings.iter().collect();
            rows.sort_by(|a, b| {
                b.1["estimate"]
                    .as_f64()
                    .unwrap_or(f64::NAN)
                    .total_cmp(&a.1["estimate"].as_f64().unwrap_or(f64::NAN))
            });
            for (m, e) in rows {
                t.row(cells![m.as_str(), est(e)]);
            }
            r.table(&t)?;
        }
        None => {
            r.not_reliable(&format!(
                "no ratings: {}",
                v["ratings"]["error"].as_str().unwrap_or("unknown reason")
            ));
        }
    }
    if let Some(sb) = v["self_bias"]["judges"].as_object() {
        r.heading(3, "Self-bias");
        r.paragraph(
            "A judge's rating of its own outputs (fitted on its decisions) minus the rating the \
             other judges give them; both fits centred on the authors they share.",
        );
        let mut t = Table::new(["judge", "rating by itself", "rating by others", "self-bias"]);
        for (j, s) in sb {
            t.row(cells![
                j.as_str(),
                est(&s["rating_by_self"]),
                est(&s["rating_by_others"]),
                est(&s["self_bias"])
            ]);
        }
        r.table(&t)?;
        if let Some(skipped) = v["self_bias"]["skipped"].as_object() {
            for (j, why) in skipped {
                r.paragraph(&format!(
                    "Self-bias of `{j}` undefined: {}",
                    why.as_str().unwrap_or("")
                ));
            }
        }
    }

    if let Some(g) = v["ground_truth"].as_object() {
        r.heading(2, "Against the ground truth");
        let c = &g["comparison"];
        r.paragraph(&format!(
            "Leaderboard `{}`: {} authors matched; Spearman ρ = {}, Kendall τ = {} between the \
             judges' ratings and the leaderboard's.",
            g["file"].as_str().unwrap_or("?"),
            c["n_matched"],
            c["spearman"]["statistic"],
            c["kendall_tau"]["statistic"],
        ));
        let mut t = Table::new([
            "author",
            "leaderboard name",
            "rating − mean",
            "leaderboard − mean",
            "difference",
        ]);
        for m in c["matched"].as_array().into_iter().flatten() {
            t.row(cells![
                m["model"].as_str().unwrap_or(""),
                m["reference_model"].as_str().unwrap_or(""),
                m["rating_centred"].as_f64().unwrap_or(f64::NAN),
                m["reference_centred"].as_f64().unwrap_or(f64::NAN),
                m["difference"].as_f64().unwrap_or(f64::NAN)
            ]);
        }
        r.table(&t)?;
        let missing = names(&c["missing_from_reference"]);
        if !missing.is_empty() {
            r.warning(&format!(
                "Not in the leaderboard (not rated against it): {}.",
                missing.join(", ")
            ));
        }
    }
    r.write(&dir.join("report.md"))?;
    write_index(dir)?;
    Ok(())
}
