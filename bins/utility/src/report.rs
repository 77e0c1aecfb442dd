//! `report.md`, `plots/utilities.{svg,png}` and `index.html` of a run.

use anyhow::Result;
use pref_data::RunDir;
use pref_report::{cells, write_index, Chart, ErrorBarChart, Report, Table};
use pref_utility::FittedThurstonian;
use serde_json::Value;

use crate::config::Config;
use crate::study::Plan;

/// Writes the human-readable report of a finished run.
pub fn write(
    run: &RunDir,
    cfg: &Config,
    plan: &Plan,
    results: &Value,
    model: &FittedThurstonian,
    mu_se: &[f64],
) -> Result<()> {
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
    let items: Vec<(String, f64, f64)> = model
        .items()
        .iter()
        .enumerate()
        .map(|(i, id)| (label(id), model.mu()[i], model.sigma2()[i].sqrt()))
        .collect();
    let plot = ErrorBarChart::new("Fitted utilities", "utility μ (±1 σ)", "item", items)
        .render(&run.plots_dir().join("utilities"))?;

    let mut r = Report::new("Utility elicitation");
    let model_id = results["model"].as_str().unwrap_or("?");
    r.paragraph(&format!(
        "Model `{model_id}`; {} items; {} training and {} held-out pairs; {} comparisons \
         (both orders × {} sample(s)); mode `{:?}`, answers read from {:?}, readout {:?}.",
        plan.items.len(),
        plan.train.len(),
        plan.heldout.len(),
        plan.jobs.len(),
        cfg.elicitation.samples,
        cfg.elicitation.mode,
        cfg.elicitation.answer,
        cfg.elicitation.readout,
    ));

    r.heading(2, "Position bias");
    match results["position_bias"].as_object() {
        Some(b) => {
            let share = b["share_first"].as_f64().unwrap_or(f64::NAN);
            let lo = b["ci95"][0].as_f64().unwrap_or(f64::NAN);
            let hi = b["ci95"][1].as_f64().unwrap_or(f64::NAN);
            r.paragraph(&format!(
                "The option shown first wins {:.1}% of the time (95% interval {:.1}–{:.1}%, n = {}); \
                 50% means no position bias. Both orders of every pair are asked, so the fit \
                 averages the bias out, but a strongly biased model carries little preference signal.",
                100.0 * share,
                100.0 * lo,
                100.0 * hi,
                b["n"]
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
    let tr = &results["train"];
    t.row(cells![
        "train",
        tr["n_pairs"].as_u64().unwrap_or(0) as f64,
        tr["log_loss"].as_f64().unwrap_or(f64::NAN),
        tr["accuracy"].as_f64().unwrap_or(f64::NAN)
    ]);
    if let Some(h) = results["heldout"].as_object() {
        t.row(cells![
            "held out",
            h["n_pairs"].as_u64().unwrap_or(0) as f64,
            h["log_loss"].as_f64().unwrap_or(f64::NAN),
            h["accuracy"].as_f64().unwrap_or(f64::NAN)
        ]);
    }
    r.table(&t)?;
    r.paragraph(&format!(
        "Unparseable answers: {} of {} (kept in `records/comparisons.jsonl` with `choice: null`, not used in the fit). \
         Model calls this run: {} made, {} from the cache.",
        results["unparseable"]["count"], results["unparseable"]["of"],
        results["model_calls"]["made"], results["model_calls"]["cached"],
    ));

    r.heading(2, "Utilities");
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
    r.write(&run.root().join("report.md"))?;
    write_index(run.root())?;
    Ok(())
}
