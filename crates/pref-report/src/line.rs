//! Line charts (learning curves, e.g. held-out accuracy vs comparisons for
//! active learning vs random), each series with an optional shaded band.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::format::truncate_label;
use crate::render::{
    check_finite, draw_err, draw_legend, impl_chart, legend_width, min_max, padded_range, xy_frame,
    Draw, LegendEntry, PALETTE,
};

const WHAT: &str = "line chart";

/// One line of a [`LineChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// `(x, y)` points, joined in the given order.
    pub points: Vec<(f64, f64)>,
    /// Optional `(lower, upper)` per point (same length as `points`), drawn as
    /// a shaded band (e.g. ±1 sd over seeds, or a confidence interval).
    pub band: Option<Vec<(f64, f64)>>,
}

impl Series {
    /// A series without a band.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            band: None,
        }
    }

    /// Adds a `(lower, upper)` band, one pair per point.
    pub fn with_band(mut self, band: Vec<(f64, f64)>) -> Self {
        self.band = Some(band);
        self
    }
}

/// A line chart of one or more [`Series`], legend on the right.
///
/// Points are marked when a series has at most 60 of them.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title drawn above the chart.
    pub title: String,
    /// Horizontal axis description.
    pub x_label: String,
    /// Vertical axis description.
    pub y_label: String,
    /// The lines (colours cycle through a 10-colour palette).
    pub series: Vec<Series>,
    /// Fixed vertical range; `None` = fit the data (points and bands).
    pub y_range: Option<(f64, f64)>,
    /// Plot size in pixels without the legend (default 820 × 520).
    pub plot_size: (u32, u32),
}

impl LineChart {
    /// A chart with default options.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
        series: Vec<Series>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series,
            y_range: None,
            plot_size: (820, 520),
        }
    }

    fn layout(&self) -> Result<LineLayout<'_>> {
        let t = &self.title;
        if self.series.is_empty() {
            return Err(Error::input(WHAT, t, "no series to plot"));
        }
        for (s_i, s) in self.series.iter().enumerate() {
            if s.points.is_empty() {
                return Err(Error::input(
                    WHAT,
                    t,
                    format!("series {s_i} (`{}`) has no points", s.name),
                ));
            }
            for (p, &(x, y)) in s.points.iter().enumerate() {
                check_finite(WHAT, t, x, || format!("series `{}` point {p}: x", s.name))?;
                check_finite(WHAT, t, y, || format!("series `{}` point {p}: y", s.name))?;
            }
            if let Some(band) = &s.band {
                if band.len() != s.points.len() {
                    return Err(Error::input(
                        WHAT,
                        t,
                        format!(
                            "series `{}`: band has {} entries but there are {} points",
                            s.name,
                            band.len(),
                            s.points.len()
                        ),
                    ));
                }
                for (p, &(lo, hi)) in band.iter().enumerate() {
                    check_finite(WHAT, t, lo, || {
                        format!("series `{}` band {p}: lower", s.name)
                    })?;
                    check_finite(WHAT, t, hi, || {
                        format!("series `{}` band {p}: upper", s.name)
                    })?;
                    if lo > hi {
                        return Err(Error::input(
                            WHAT,
                            t,
                            format!("series `{}` band {p}: lower {lo} > upper {hi}", s.name),
                        ));
                    }
                }
            }
        }
        let all_x = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (x_lo, x_hi) = min_max(all_x).expect("non-empty");
        let x_range = padded_range(x_lo, x_hi, 0.02);
        let y_range = match self.y_range {
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => (lo, hi),
            Some((lo, hi)) => {
                return Err(Error::input(
                    WHAT,
                    t,
                    format!("y_range ({lo}, {hi}) must be finite with lo < hi"),
                ))
            }
            None => {
                let ys = self.series.iter().flat_map(|s| {
                    let band = s.band.iter().flatten().flat_map(|&(l, u)| [l, u]);
                    s.points.iter().map(|p| p.1).chain(band)
                });
                let (lo, hi) = min_max(ys).expect("non-empty");
                padded_range(lo, hi, 0.05)
            }
        };
        let entries: Vec<LegendEntry> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry {
                label: truncate_label(&s.name, 32),
                color: PALETTE[i % PALETTE.len()],
                line: s.points.len() > 1,
                marker: s.points.len() <= 60,
                band: s.band.is_some(),
            })
            .collect();
        let show_legend = self.series.len() > 1 || !self.series[0].name.is_empty();
        let legend_w = if show_legend {
            legend_width(entries.iter().map(|e| e.label.as_str()))? + 16
        } else {
            0
        };
        let (w, h) = self.plot_size;
        Ok(LineLayout {
            chart: self,
            x_range,
            y_range,
            entries,
            legend_w,
            size: (w.max(300) + legend_w, h.max(240)),
        })
    }
}

struct LineLayout<'a> {
    chart: &'a LineChart,
    x_range: (f64, f64),
    y_range: (f64, f64),
    entries: Vec<LegendEntry>,
    legend_w: u32,
    size: (u32, u32),
}

impl Draw for LineLayout<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let c = self.chart;
        let t = c.title.as_str();
        let e = draw_err(t);
        let (plot, legend) = root.split_horizontally(self.size.0 - self.legend_w);
        let (x_lo, y_hi) = (self.x_range.0, self.y_range.1);
        let mut chart = xy_frame(
            &plot,
            t,
            80,
            (&c.x_label, &c.y_label),
            self.x_range,
            self.y_range,
        )?;

        // Bands first, so every line stays visible on top of every band.
        for (i, s) in c.series.iter().enumerate() {
            if let Some(band) = &s.band {
                let colour = PALETTE[i % PALETTE.len()];
                let mut poly: Vec<(f64, f64)> =
                    s.points.iter().zip(band).map(|(p, b)| (p.0, b.1)).collect();
                poly.extend(s.points.iter().zip(band).rev().map(|(p, b)| (p.0, b.0)));
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        poly,
                        colour.mix(0.18).filled(),
                    )))
                    .map_err(&e)?;
            }
        }
        for (i, s) in c.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            if s.points.len() > 1 {
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        colour.stroke_width(2),
                    ))
                    .map_err(&e)?;
            }
            if s.points.len() <= 60 {
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(&e)?;
            }
        }
        if self.legend_w > 0 {
            let (lx, _) = legend.get_base_pixel();
            let (_, py) = chart.backend_coord(&(x_lo, y_hi));
            draw_legend(root, t, &self.entries, (lx, py))?;
        }
        Ok(())
    }
}

impl_chart!(LineChart);
