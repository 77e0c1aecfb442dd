//! `report.md`, its plots and `index.html` of a run.

use anyhow::Result;
use pref_report::{cells, write_index, Chart, ErrorBarChart, Heatmap, Report, Table};
use pref_study::Run;

use crate::analysis::{Estimate, Results};
use crate::config::Config;

fn est(e: Option<Estimate>) -> String {
    e.map_or("–".into(), |e| {
        format!("{:.3} [{:.3}, {:.3}]", e.value, e.ci95[0], e.ci95[1])
    })
}

fn num(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.3}"))
}

/// A chart row: the value and the wider side of its interval (the chart's
/// bars are symmetric).
fn bar(name: &str, e: Estimate) -> Option<(String, f64, f64)> {
    let err = (e.ci95[1] - e.value).max(e.value - e.ci95[0]);
    (e.value.is_finite() && err.is_finite()).then(|| (name.to_string(), e.value, err.max(0.0)))
}

/// Writes the report of a finished run.
pub fn write(run: &Run<Config>, res: &Results) -> Result<()> {
    let cfg = run.config();
    let plots = run.dir().plots_dir();
    let mut r = Report::new("Do the activations encode the model's own preferences?");
    r.paragraph(&format!(
        "Model `{}` ({} layers, hidden size {}); {} tasks, each completed (at most {} tokens; \
         {} cut short, {:.1} tokens on average), then probed at layers {:?} and positions {}. \
         {} items train every probe; {} are held out from every fit and score them. Model \
         calls this run: {} made, {} from the cache.",
        res.model,
        res.n_layers,
        res.hidden_size,
        res.items.len(),
        cfg.completion.max_tokens,
        res.completions.truncated,
        res.completions.mean_tokens,
        res.layers,
        res.positions
            .iter()
            .map(|p| crate::study::position_name(*p))
            .collect::<Vec<_>>()
            .join(", "),
        res.n_train,
        res.n_test,
        res.model_calls.made,
        res.model_calls.cached,
    ));
    for w in &res.warnings {
        r.warning(w);
    }

    r.heading(2, "Headline");
    r.paragraph(
        "Per target, the model site (position × layer) with the best score on the training \
         items alone (leave-one-out MSE for ridge, validation log loss for Bradley–Terry) — \
         never chosen on the held-out items — against all-MiniLM-L6-v2 embeddings of the task \
         text through the same probe. The difference is a paired bootstrap over the same \
         held-out items (or pairs). A probe shows that the model's state carries its \
         preference only where it beats what the task text alone predicts.",
    );
    let mut t = Table::new([
        "target",
        "metric",
        "site",
        "held-out",
        "text only",
        "difference",
    ]);
    for h in &res.headlines {
        t.row(cells![
            h.target.as_str(),
            h.metric.as_str(),
            h.site.as_str(),
            est(Some(h.value)),
            est(h.text),
            est(h.difference)
        ]);
    }
    r.table(&t)?;
    r.bullets(
        res.headlines
            .iter()
            .map(|h| format!("{}: {}.", h.target, h.verdict)),
    );

    if let Some(s) = &res.self_report {
        r.heading(2, "The self-report target");
        let shares: Vec<String> = s
            .argmax_shares
            .iter()
            .map(|(o, v)| format!("{o} {:.0}%", 100.0 * v))
            .collect();
        let probs: Vec<String> = s
            .mean_probs
            .iter()
            .map(|(o, v)| format!("{o} {v:.2}"))
            .collect();
        r.paragraph(&format!(
            "After its completion the model is asked: “{}”. The target is the expected score \
             Σ p(option)·score over the options' renormalised probabilities (scores {:?}): mean \
             {:.3}, standard deviation {:.3} across items. Most probable option: {}. Mean \
             probabilities: {}. A small model's ratings vary little across tasks, which caps \
             what any probe can explain.",
            cfg.self_report.question.replace('\n', " "),
            cfg.self_report.scores,
            s.mean,
            s.sd,
            shares.join(", "),
            probs.join(", "),
        ));
    }
    if let Some(c) = &res.choices {
        r.heading(2, "The choices target");
        r.paragraph(&format!(
            "{} pairwise questions ({} unparseable, kept in the records); the option shown \
             first was chosen {}. Their Thurstonian μ per item is the `utility` target (fitted \
             on every pair, so a held-out item's μ draws on its comparisons with training \
             items: the strict test is the pairwise one). The Bradley–Terry probe is fitted on \
             the {} pairs among training items and scored on the {} pairs with a held-out item. \
             {} of the {} pairs are ties (each side chosen equally often, as when the option \
             shown first always wins): they carry no preference, and pairwise accuracy counts \
             only the others.",
            c.comparisons,
            c.unparseable,
            c.first_shown_share.map_or("–".into(), |(s, ci)| format!(
                "{:.1}% of the time (95% {:.1}–{:.1}%)",
                100.0 * s,
                100.0 * ci[0],
                100.0 * ci[1]
            )),
            c.n_train_pairs,
            c.n_heldout_pairs,
            c.n_tied_pairs,
            c.n_train_pairs + c.n_heldout_pairs,
        ));
    }

    r.heading(2, "Every site");
    r.paragraph(
        "Ridge on standardised activations (mean and scale from the training items; α by \
         leave-one-out), with two noise baselines through the same α selection: the training \
         labels shuffled, and Gaussian activations of the same shape. Intervals: 95% \
         percentile bootstrap over held-out items.",
    );
    let mut t = Table::new([
        "site",
        "target",
        "α",
        "held-out R²",
        "shuffled",
        "random",
        "pairwise accuracy",
    ]);
    let mut charts: std::collections::BTreeMap<String, Vec<(String, f64, f64)>> =
        Default::default();
    for s in &res.sites {
        for p in &s.ridge {
            t.row(cells![
                s.site.name.as_str(),
                p.target.as_str(),
                p.alpha,
                est(Some(p.test_r2)),
                num(p.shuffled_r2),
                num(p.random_r2),
                est(p.pairwise.and_then(|q| q.accuracy))
            ]);
            if let Some(b) = bar(&s.site.name, p.test_r2) {
                charts.entry(p.target.clone()).or_default().push(b);
            }
        }
    }
    r.table(&t)?;
    for (target, rows) in charts {
        let mut chart = ErrorBarChart::new(
            format!("Held-out R² of the {target} probe per site"),
            "R² (bar: the wider side of the bootstrap 95% interval)",
            "site",
            rows,
        );
        chart.sort = false;
        let plot = chart.render(&plots.join(format!("r2_{target}")))?;
        r.image(&format!("held-out R² ({target})"), &plot.png);
    }
    if res.sites.iter().any(|s| s.bt.is_some()) {
        r.paragraph(
            "Bradley–Terry probe (score = Xw on standardised activations, no intercept; λ on \
             a validation share of the training pairs), and its baseline with every training \
             pair's sides swapped by a fair coin.",
        );
        let mut t = Table::new([
            "site",
            "λ",
            "train accuracy",
            "held-out accuracy",
            "log loss",
            "shuffled",
        ]);
        let mut rows = Vec::new();
        for s in &res.sites {
            if let Some(b) = &s.bt {
                t.row(cells![
                    s.site.name.as_str(),
                    b.lambda,
                    num(b.train_accuracy),
                    est(b.test.accuracy),
                    b.test.log_loss,
                    num(b.shuffled_accuracy)
                ]);
                if let Some(e) = b.test.accuracy.and_then(|a| bar(&s.site.name, a)) {
                    rows.push(e);
                }
            }
        }
        r.table(&t)?;
        if !rows.is_empty() {
            let mut chart = ErrorBarChart::new(
                "Held-out pairwise accuracy of the Bradley–Terry probe (chance: 0.5)",
                "accuracy (bar: the wider side of the bootstrap 95% interval)",
                "site",
                rows,
            );
            chart.sort = false;
            let plot = chart.render(&plots.join("bt_accuracy"))?;
            r.image("Bradley–Terry held-out accuracy", &plot.png);
        }
    }

    r.heading(2, "Cross-probe analysis");
    r.paragraph(
        "Cross-generalisation: each probe, trained on one target, scored against every \
         target on the held-out items (Pearson r for a scalar target, pairwise accuracy for \
         the choices), at the site the headline chose for the first target.",
    );
    if let Some(site) = res
        .headlines
        .first()
        .and_then(|h| res.sites.iter().find(|s| s.site.name == h.site))
    {
        let mut header = vec!["probe ↓ / target →".to_string()];
        header.extend(site.cross.targets.iter().cloned());
        let mut t = Table::new(header);
        for (p, row) in site.cross.probes.iter().zip(&site.cross.values) {
            let mut cells = cells![format!("{p} ({})", site.site.name)];
            cells.extend(row.iter().map(|v| pref_report::Cell::from(est(*v))));
            t.row(cells);
        }
        r.table(&t)?;
    }
    if let Some((names, values)) = &res.cosines {
        let mut h = Heatmap::new(
            "Cosine similarity of probe directions",
            names.clone(),
            names.clone(),
            values.clone(),
        );
        h.range = Some((-1.0, 1.0));
        let plot = h.render(&plots.join("cosines"))?;
        r.image("cosine similarity of probe directions", &plot.png);
    }

    r.heading(2, "Extraction");
    let e = &res.extraction;
    r.paragraph(&format!(
        "This process read {} conversations ({} tokens) in {:.1} s: {} tokens/s, every \
         position and layer from one forward pass. Each position × layer matrix takes {} \
         bytes (n × d × 4), written to `activations/<position>/layer-L/part-*.parquet` as it \
         goes.",
        e.conversations,
        e.tokens,
        e.seconds,
        e.tokens_per_second
            .map_or("–".into(), |t| format!("{t:.0}")),
        e.bytes_per_layer_and_position,
    ));
    r.write(&run.root().join("report.md"))?;
    write_index(run.root())?;
    Ok(())
}
