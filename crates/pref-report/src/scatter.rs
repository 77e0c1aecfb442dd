//! Scatter plots with an optional ordinary-least-squares line.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::format::{fmt_sig, truncate_label};
use crate::render::{
    check_finite, draw_err, draw_legend, font, impl_chart, legend_width, min_max, padded_range,
    xy_frame, Draw, LegendEntry, PALETTE,
};

const WHAT: &str = "scatter plot";

/// A fitted line `y = intercept + slope · x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OlsLine {
    /// Slope.
    pub slope: f64,
    /// Intercept.
    pub intercept: f64,
    /// Pearson correlation of x and y (`NaN` when every y is equal).
    pub r: f64,
    /// Number of points.
    pub n: usize,
}

impl OlsLine {
    /// The legend text, e.g. `OLS: y = 0.51·x + 1.2 (r = 0.87, n = 40)`.
    pub fn describe(&self) -> String {
        let sign = if self.intercept < 0.0 { '−' } else { '+' };
        let r = if self.r.is_nan() {
            "undefined".to_string()
        } else {
            fmt_sig(self.r, 3)
        };
        format!(
            "OLS: y = {}·x {sign} {} (r = {r}, n = {})",
            fmt_sig(self.slope, 3),
            fmt_sig(self.intercept.abs(), 3),
            self.n
        )
    }
}

/// Least-squares line through `points`.
///
/// Hand-written (five sums) rather than a linear-algebra dependency: the
/// closed form `slope = Sxy / Sxx` on centred data is exact and stable for
/// one regressor. Errors on fewer than 2 points, non-finite values, or all x equal.
pub fn ols_line(points: &[(f64, f64)]) -> Result<OlsLine> {
    let t = "OLS";
    if points.len() < 2 {
        return Err(Error::input(
            WHAT,
            t,
            format!(
                "a fitted line needs at least 2 points (got {})",
                points.len()
            ),
        ));
    }
    for (i, &(x, y)) in points.iter().enumerate() {
        check_finite(WHAT, t, x, || format!("point {i}: x"))?;
        check_finite(WHAT, t, y, || format!("point {i}: y"))?;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in points {
        let (dx, dy) = (x - mx, y - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return Err(Error::input(
            WHAT,
            t,
            "every x is equal: no line can be fitted",
        ));
    }
    let slope = sxy / sxx;
    let r = if syy > 0.0 {
        sxy / (sxx * syy).sqrt()
    } else {
        f64::NAN
    };
    Ok(OlsLine {
        slope,
        intercept: my - slope * mx,
        r,
        n: points.len(),
    })
}

/// A scatter plot, optionally with point labels and an OLS line whose slope,
/// intercept and correlation appear in the legend.
///
/// Point labels are drawn next to their points when there are at most 200 points.
#[derive(Debug, Clone, PartialEq)]
pub struct Scatter {
    /// Title drawn above the chart.
    pub title: String,
    /// Horizontal axis description.
    pub x_label: String,
    /// Vertical axis description.
    pub y_label: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
    /// Optional label per point (same length as `points`).
    pub labels: Option<Vec<String>>,
    /// Fit and draw an OLS line.
    pub fit_line: bool,
    /// Plot size in pixels without the legend (default 640 × 520).
    pub plot_size: (u32, u32),
}

impl Scatter {
    /// A scatter plot with default options (no labels, no fitted line).
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
        points: Vec<(f64, f64)>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            points,
            labels: None,
            fit_line: false,
            plot_size: (640, 520),
        }
    }

    /// The OLS line through the points (what the chart draws when `fit_line` is set).
    pub fn fit(&self) -> Result<OlsLine> {
        ols_line(&self.points).map_err(|e| match e {
            Error::InvalidInput { what, message, .. } => Error::InvalidInput {
                what,
                title: self.title.clone(),
                message,
            },
            other => other,
        })
    }

    fn layout(&self) -> Result<ScatterLayout<'_>> {
        let t = &self.title;
        if self.points.is_empty() {
            return Err(Error::input(WHAT, t, "no points to plot"));
        }
        for (i, &(x, y)) in self.points.iter().enumerate() {
            check_finite(WHAT, t, x, || format!("point {i}: x"))?;
            check_finite(WHAT, t, y, || format!("point {i}: y"))?;
        }
        if let Some(labels) = &self.labels {
            if labels.len() != self.points.len() {
                return Err(Error::input(
                    WHAT,
                    t,
                    format!("{} labels for {} points", labels.len(), self.points.len()),
                ));
            }
        }
        let fit = if self.fit_line {
            Some(self.fit()?)
        } else {
            None
        };
        let (x_lo, x_hi) = min_max(self.points.iter().map(|p| p.0)).expect("non-empty");
        let (y_lo, y_hi) = min_max(self.points.iter().map(|p| p.1)).expect("non-empty");
        let mut entries = vec![LegendEntry {
            label: format!("points (n = {})", self.points.len()),
            color: PALETTE[0],
            line: false,
            marker: true,
            band: false,
        }];
        if let Some(f) = &fit {
            entries.push(LegendEntry {
                label: f.describe(),
                color: PALETTE[3],
                line: true,
                marker: false,
                band: false,
            });
        }
        let legend_w = legend_width(entries.iter().map(|e| e.label.as_str()))? + 16;
        let (w, h) = self.plot_size;
        Ok(ScatterLayout {
            chart: self,
            fit,
            x_range: padded_range(x_lo, x_hi, 0.05),
            y_range: padded_range(y_lo, y_hi, 0.06),
            entries,
            legend_w,
            size: (w.max(300) + legend_w, h.max(240)),
        })
    }
}

struct ScatterLayout<'a> {
    chart: &'a Scatter,
    fit: Option<OlsLine>,
    x_range: (f64, f64),
    y_range: (f64, f64),
    entries: Vec<LegendEntry>,
    legend_w: u32,
    size: (u32, u32),
}

impl Draw for ScatterLayout<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let c = self.chart;
        let t = c.title.as_str();
        let e = draw_err(t);
        let (plot, legend) = root.split_horizontally(self.size.0 - self.legend_w);
        let (x_lo, x_hi) = self.x_range;
        let (y_lo, y_hi) = self.y_range;
        let mut chart = xy_frame(
            &plot,
            t,
            70,
            (&c.x_label, &c.y_label),
            self.x_range,
            self.y_range,
        )?;

        let n = c.points.len();
        let radius = if n > 1000 { 2 } else { 4 };
        chart
            .draw_series(
                c.points
                    .iter()
                    .map(|&p| Circle::new(p, radius, PALETTE[0].mix(0.75).filled())),
            )
            .map_err(&e)?;
        if let (Some(labels), true) = (&c.labels, n <= 200) {
            let style = font(10.0).color(&BLACK.mix(0.8));
            for (&p, label) in c.points.iter().zip(labels) {
                let (px, py) = chart.backend_coord(&p);
                let text = truncate_label(label, 24);
                root.draw(&Text::new(text, (px + 6, py - 12), style.clone()))
                    .map_err(&e)?;
            }
        }
        if let Some(f) = &self.fit {
            // Clip the line to the plotted box so it never leaves the axes.
            let (mut a, mut b) = (x_lo, x_hi);
            if f.slope != 0.0 {
                let xa = (y_lo - f.intercept) / f.slope;
                let xb = (y_hi - f.intercept) / f.slope;
                a = a.max(xa.min(xb));
                b = b.min(xa.max(xb));
            }
            if a < b {
                let line = vec![
                    (a, f.intercept + f.slope * a),
                    (b, f.intercept + f.slope * b),
                ];
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        line,
                        PALETTE[3].stroke_width(2),
                    )))
                    .map_err(&e)?;
            }
        }
        let (lx, _) = legend.get_base_pixel();
        let (_, py) = chart.backend_coord(&(x_lo, y_hi));
        draw_legend(root, t, &self.entries, (lx, py))?;
        Ok(())
    }
}

impl_chart!(Scatter);
