//! Writes one of each chart, a report.md and an index.html into a directory
//! laid out like a run directory (default `target/pref-report-gallery`):
//!
//! ```text
//! cargo run -p pref-report --example gallery -- /tmp/gallery
//! ```
//!
//! The data are made up (smooth deterministic formulas), only to show the charts.

use std::path::PathBuf;

use pref_report::{
    cells, write_index, Chart, ColorScale, ErrorBarChart, Heatmap, LineChart, Report, Scatter,
    Series, Table,
};

fn main() -> pref_report::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/pref-report-gallery"));
    let plots = dir.join("plots");

    // Utilities ± σ of 30 tasks, some with long names.
    let items: Vec<(String, f64, f64)> = (0..30)
        .map(|i| {
            let x = i as f64;
            let name = if i % 7 == 3 {
                format!("task {i}: write a limerick about the history of the Byzantine Empire")
            } else {
                format!("task {i}")
            };
            (
                (name),
                (x * 0.37).sin() * 1.4 + 0.02 * x,
                0.1 + 0.05 * (x * 0.9).cos().abs(),
            )
        })
        .collect();
    let mut utilities = ErrorBarChart::new("Fitted utilities", "utility μ (±1 σ)", "task", items);
    utilities.sort = true;
    let u = utilities.render(&plots.join("utilities"))?;

    // Judge × author self-preference.
    let models = [
        "smollm2-135m",
        "gemma-3-270m",
        "smollm2 (t=1.0)",
        "gemma (terse)",
        "gpt-4o-mini",
    ];
    let values: Vec<Vec<f64>> = (0..5)
        .map(|i| {
            (0..5)
                .map(|j| {
                    if i == j {
                        0.62 + 0.05 * i as f64
                    } else {
                        0.5 + 0.07 * ((i * 3 + j) as f64).sin()
                    }
                })
                .collect()
        })
        .collect();
    let mut heat = Heatmap::new(
        "Self-preference: P(judge prefers author)",
        models.iter().map(|s| s.to_string()).collect(),
        models.iter().map(|s| s.to_string()).collect(),
        values,
    );
    heat.row_axis = "judge".into();
    heat.col_axis = "author".into();
    heat.scale = ColorScale::Diverging;
    heat.range = Some((0.0, 1.0));
    let h = heat.render(&plots.join("self_preference"))?;

    // Learning curves with ±1 sd bands.
    let xs: Vec<f64> = (1..=20).map(|k| 50.0 * k as f64).collect();
    let curve = |rate: f64, top: f64| -> Vec<(f64, f64)> {
        xs.iter()
            .map(|&x| (x, 0.5 + (top - 0.5) * (1.0 - (-x / rate).exp())))
            .collect()
    };
    let band = |pts: &[(f64, f64)], w: f64| -> Vec<(f64, f64)> {
        pts.iter()
            .map(|&(x, y)| (y - w * (300.0 / (x + 100.0)), y + w * (300.0 / (x + 100.0))))
            .collect()
    };
    let al = curve(180.0, 0.82);
    let random = curve(350.0, 0.80);
    let lines = LineChart::new(
        "Held-out accuracy: active learning vs random",
        "comparisons",
        "held-out accuracy",
        vec![
            Series::new("active learning", al.clone()).with_band(band(&al, 0.03)),
            Series::new("random pairs", random.clone()).with_band(band(&random, 0.03)),
        ],
    );
    let l = lines.render(&plots.join("learning_curve"))?;

    // Correlation of two runs' utilities, with a fitted line.
    let pts: Vec<(f64, f64)> = (0..40)
        .map(|i| {
            let x = (i as f64 * 0.61).sin() * 1.5;
            (x, 0.8 * x + 0.3 * (i as f64 * 2.3).cos())
        })
        .collect();
    let mut scatter = Scatter::new(
        "Utilities: plain vs xml template",
        "μ (plain)",
        "μ (xml)",
        pts,
    );
    scatter.fit_line = true;
    scatter.labels = Some((0..40).map(|i| format!("t{i}")).collect());
    let fit = scatter.fit()?;
    let s = scatter.render(&plots.join("template_scatter"))?;

    // Scaling: 500 utilities (the chart grows to one 13-px row per item) and
    // a 40 × 40 heatmap (small cells, no annotations).
    let many: Vec<(String, f64, f64)> = (0..500)
        .map(|i| {
            let x = i as f64;
            (
                format!("wildchat-{i:04}"),
                (x * 0.013).sin() * 2.0 + (x * 0.7).cos() * 0.3,
                0.08 + 0.04 * (x * 0.3).sin().abs(),
            )
        })
        .collect();
    let m = ErrorBarChart::new("500 utilities", "utility μ (±1 σ)", "task", many)
        .render(&plots.join("utilities_500"))?;
    let names: Vec<String> = (0..40).map(|i| format!("item {i}")).collect();
    let grid: Vec<Vec<f64>> = (0..40)
        .map(|i| {
            (0..40)
                .map(|j| ((i as f64 - j as f64) / 12.0).tanh())
                .collect()
        })
        .collect();
    let mut big = Heatmap::new("40 × 40 correlations", names.clone(), names, grid);
    big.scale = ColorScale::Diverging;
    big.range = Some((-1.0, 1.0));
    let b = big.render(&plots.join("heatmap_40"))?;

    // Viridis, long labels, and a missing diagonal (NaN with allow_missing).
    let long: Vec<String> = [
        "SmolLM2-135M-Instruct Q4_1 (temperature 0.7, system prompt: terse)",
        "gemma-3-270m",
        "judge ensemble",
        "human raters",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let agree: Vec<Vec<f64>> = (0..4)
        .map(|i| {
            (0..4)
                .map(|j| {
                    if i == j {
                        f64::NAN
                    } else {
                        0.4 + 0.1 * ((i + 2 * j) % 5) as f64
                    }
                })
                .collect()
        })
        .collect();
    let mut agreement = Heatmap::new("Agreement between raters", long.clone(), long, agree);
    agreement.allow_missing = true;
    let a = agreement.render(&plots.join("agreement"))?;

    let mut table = Table::new(["chart", "width", "height"]);
    for (r, chart) in [
        (&u, &utilities as &dyn Chart),
        (&h, &heat),
        (&l, &lines),
        (&s, &scatter),
    ] {
        let name = r
            .svg
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (w, ht) = chart.pixel_size()?;
        table.row(cells![name, w, ht]);
    }
    let mut fits = Table::new(["slope", "intercept", "r", "n"]);
    fits.row(cells![fit.slope, fit.intercept, fit.r, fit.n]);

    let mut report = Report::new("pref-report gallery");
    report
        .paragraph("Every chart type of `pref-report`, drawn from made-up data.")
        .heading(2, "Files")
        .table(&table)?
        .heading(2, "Template scatter fit")
        .table(&fits)?;
    report.not_reliable("the data are invented for this gallery.");
    for r in [&u, &h, &l, &s, &m, &b, &a] {
        let name = r
            .png
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        report.image(&name, &r.png);
    }
    report.write(&dir.join("report.md"))?;
    pref_data::write_atomic(
        &dir.join("results.json"),
        format!(
            "{{\"slope\": {}, \"intercept\": {}, \"r\": {}}}",
            fit.slope, fit.intercept, fit.r
        )
        .as_bytes(),
    )?;
    pref_data::write_atomic(&dir.join("config.toml"), b"study = \"gallery\"\nseed = 0\n")?;
    let index = write_index(&dir)?;
    println!("wrote {}", index.display());
    Ok(())
}
