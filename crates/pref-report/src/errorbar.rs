//! Point estimates with ±error bars, one row per item (e.g. fitted utilities ± σ).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::error::{Error, Result};
use crate::format::{fmt_tick, truncate_label};
use crate::render::{
    anchored, check_finite, draw_err, draw_text, font, impl_chart, max_text_width, min_max,
    padded_range, title_font, Draw, AXIS_DESC_SIZE, PALETTE,
};

const WHAT: &str = "error-bar chart";

/// Horizontal dot-and-whisker chart: each item is a row, its value a dot and
/// `value ± err` a whisker. Rows are drawn top to bottom in input order, or
/// from the largest value down when `sort` is set.
///
/// The height grows with the number of items (22 px a row for up to 30 items,
/// 16 px up to 100, 13 px beyond), so 500 utilities stay readable; with more
/// than 40 rows the value axis is repeated at the top.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBarChart {
    /// Title drawn above the chart.
    pub title: String,
    /// Description of the value axis (horizontal), e.g. `"utility μ (±1 σ)"`.
    pub value_label: String,
    /// Description of the item axis (vertical), e.g. `"task"`; empty for none.
    pub item_label: String,
    /// `(label, value, err)`: the bar spans `value − err … value + err`; `err ≥ 0`.
    pub items: Vec<(String, f64, f64)>,
    /// Sort rows by value, largest at the top (ties keep input order).
    pub sort: bool,
    /// Labels longer than this many characters are cut with `…` (default 40).
    pub max_label_chars: usize,
    /// Width in pixels (default 900).
    pub width: u32,
}

impl ErrorBarChart {
    /// A chart with default options (`sort = true`, 40-character labels, 900 px wide).
    pub fn new(
        title: impl Into<String>,
        value_label: impl Into<String>,
        item_label: impl Into<String>,
        items: Vec<(String, f64, f64)>,
    ) -> Self {
        Self {
            title: title.into(),
            value_label: value_label.into(),
            item_label: item_label.into(),
            items,
            sort: true,
            max_label_chars: 40,
            width: 900,
        }
    }

    fn layout(&self) -> Result<ErrorBarLayout<'_>> {
        let t = &self.title;
        if self.items.is_empty() {
            return Err(Error::input(WHAT, t, "no items to plot"));
        }
        for (i, (label, v, e)) in self.items.iter().enumerate() {
            check_finite(WHAT, t, *v, || format!("item {i} (`{label}`): value"))?;
            check_finite(WHAT, t, *e, || format!("item {i} (`{label}`): err"))?;
            if *e < 0.0 {
                return Err(Error::input(
                    WHAT,
                    t,
                    format!("item {i} (`{label}`): err is {e} (must be ≥ 0)"),
                ));
            }
        }
        let mut order: Vec<usize> = (0..self.items.len()).collect();
        if self.sort {
            order.sort_by(|&a, &b| self.items[b].1.total_cmp(&self.items[a].1));
        }
        let n = order.len();
        let (row_h, label_size) = match n {
            0..=30 => (22, 13.0),
            31..=100 => (16, 12.0),
            _ => (13, 10.5),
        };
        let labels: Vec<String> = order
            .iter()
            .map(|&i| truncate_label(&self.items[i].0, self.max_label_chars))
            .collect();
        let label_w = max_text_width(labels.iter().map(String::as_str), label_size)?;
        let (lo, hi) = min_max(self.items.iter().flat_map(|(_, v, e)| [v - e, v + e]))
            .expect("items is not empty");
        let (x_lo, x_hi) = padded_range(lo, hi, 0.04);
        let top_axis = n > 40;
        let width = self.width.max(label_w + 360);
        let height = 50 + if top_axis { 54 } else { 8 } + n as u32 * row_h + 62;
        Ok(ErrorBarLayout {
            chart: self,
            order,
            labels,
            label_size,
            label_w,
            x_range: (x_lo, x_hi),
            top_axis,
            size: (width, height),
        })
    }
}

struct ErrorBarLayout<'a> {
    chart: &'a ErrorBarChart,
    order: Vec<usize>,
    labels: Vec<String>,
    label_size: f64,
    label_w: u32,
    x_range: (f64, f64),
    top_axis: bool,
    size: (u32, u32),
}

impl Draw for ErrorBarLayout<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let c = self.chart;
        let t = c.title.as_str();
        let e = draw_err(t);
        let n = self.order.len();
        let area = root
            .titled(&truncate_label(t, 90), title_font())
            .map_err(&e)?;
        let desc_w = if c.item_label.is_empty() { 0 } else { 26 };
        let (x_lo, x_hi) = self.x_range;
        let span = x_hi - x_lo;
        let mut chart = ChartBuilder::on(&area)
            .margin_top(if self.top_axis { 4 } else { 8 })
            .margin_right(24)
            .margin_bottom(8)
            .set_label_area_size(LabelAreaPosition::Left, self.label_w + 12 + desc_w)
            .set_label_area_size(LabelAreaPosition::Bottom, 50)
            .set_label_area_size(LabelAreaPosition::Top, if self.top_axis { 50 } else { 0 })
            .build_cartesian_2d(x_lo..x_hi, -0.5..(n as f64 - 0.5))
            .map_err(&e)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(8)
            .x_label_formatter(&|v| fmt_tick(*v, span))
            .x_desc(c.value_label.as_str())
            .y_desc(c.item_label.as_str())
            .axis_desc_style(font(AXIS_DESC_SIZE))
            .label_style(font(12.0))
            .max_light_lines(1)
            .light_line_style(BLACK.mix(0.04))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(&e)?;

        // Row position: the first row in `order` at the top.
        let y_of = |row: usize| (n - 1 - row) as f64;
        if n > 20 {
            let stripes = (0..n).step_by(2).map(|row| {
                let y = y_of(row);
                Rectangle::new(
                    [(x_lo, y - 0.5), (x_hi, y + 0.5)],
                    BLACK.mix(0.035).filled(),
                )
            });
            chart.draw_series(stripes).map_err(&e)?;
        }
        if x_lo < 0.0 && x_hi > 0.0 {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, -0.5), (0.0, n as f64 - 0.5)],
                    BLACK.mix(0.4).stroke_width(1),
                )))
                .map_err(&e)?;
        }
        let colour = PALETTE[0];
        let marker = if n > 100 { 6 } else { 8 };
        chart
            .draw_series(self.order.iter().enumerate().map(|(row, &i)| {
                let (_, v, err) = &c.items[i];
                ErrorBar::new_horizontal(
                    y_of(row),
                    v - err,
                    *v,
                    v + err,
                    colour.filled().stroke_width(if n > 100 { 1 } else { 2 }),
                    marker,
                )
            }))
            .map_err(&e)?;

        // Item labels, right-aligned against the axis, centred on their row.
        let style = anchored(font(self.label_size).into(), HPos::Right, VPos::Center);
        for (row, label) in self.labels.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(x_lo, y_of(row)));
            draw_text(root, t, label, (px - 6, py), style.clone())?;
        }
        Ok(())
    }
}

impl_chart!(ErrorBarChart);
