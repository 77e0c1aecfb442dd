//! Matrix heatmaps (e.g. judge × author self-preference), with a colour bar
//! and optional value annotations.

use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::error::{Error, Result};
use crate::format::{fmt_sig, fmt_tick, truncate_label};
use crate::render::{
    anchored, draw_err, draw_text, font, impl_chart, max_text_width, text_width, title_font, Draw,
    AXIS_DESC_SIZE, TITLE_SIZE,
};

const WHAT: &str = "heatmap";

/// The colour scale of a [`Heatmap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorScale {
    /// Viridis (perceptually uniform, colour-blind safe): low = dark purple, high = yellow.
    #[default]
    Viridis,
    /// Blue – white – red, white at the middle of the range: give a range
    /// symmetric about the reference value (e.g. `(-1, 1)` for correlations,
    /// `(0, 1)` for probabilities around 0.5).
    Diverging,
}

const DIVERGING: [RGBColor; 5] = [
    RGBColor(33, 102, 172),
    RGBColor(146, 197, 222),
    RGBColor(247, 247, 247),
    RGBColor(244, 165, 130),
    RGBColor(178, 24, 43),
];

const MISSING: RGBColor = RGBColor(215, 215, 215);

impl ColorScale {
    /// The colour of `v` on a scale from `lo` to `hi` (values outside are clamped).
    pub fn color(self, v: f64, lo: f64, hi: f64) -> RGBColor {
        match self {
            ColorScale::Viridis => ViridisRGB::get_color_normalized(v, lo, hi),
            ColorScale::Diverging => {
                DerivedColorMap::new(&DIVERGING).get_color_normalized(v, lo, hi)
            }
        }
    }
}

/// A heatmap of `values[row][col]` with row and column labels.
///
/// Cells grow to hold their annotations; with more than 30 rows or columns
/// cells shrink (down to 10 px) and annotations are left out. Column labels
/// that do not fit under their cell are drawn vertically.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Title drawn above the chart.
    pub title: String,
    /// Description of the rows (drawn vertically on the left), e.g. `"judge"`; empty for none.
    pub row_axis: String,
    /// Description of the columns (drawn below), e.g. `"author"`; empty for none.
    pub col_axis: String,
    /// One label per row.
    pub row_labels: Vec<String>,
    /// One label per column.
    pub col_labels: Vec<String>,
    /// `values[row][col]`; every row has one value per column label.
    pub values: Vec<Vec<f64>>,
    /// Colour range `(lo, hi)`; `None` = the data's min and max.
    pub range: Option<(f64, f64)>,
    /// The colour scale.
    pub scale: ColorScale,
    /// Write each value in its cell.
    pub annotate: bool,
    /// Significant digits of annotations (default 2).
    pub digits: usize,
    /// Accept `NaN` as "no value" (drawn grey, annotated `–`); otherwise `NaN` is an error.
    pub allow_missing: bool,
    /// Labels longer than this many characters are cut with `…` (default 30).
    pub max_label_chars: usize,
}

impl Heatmap {
    /// A heatmap with default options (Viridis, data range, annotated, 2 digits, no missing cells).
    pub fn new(
        title: impl Into<String>,
        row_labels: Vec<String>,
        col_labels: Vec<String>,
        values: Vec<Vec<f64>>,
    ) -> Self {
        Self {
            title: title.into(),
            row_axis: String::new(),
            col_axis: String::new(),
            row_labels,
            col_labels,
            values,
            range: None,
            scale: ColorScale::Viridis,
            annotate: true,
            digits: 2,
            allow_missing: false,
            max_label_chars: 30,
        }
    }

    fn layout(&self) -> Result<HeatmapLayout<'_>> {
        let t = &self.title;
        let (rows, cols) = (self.row_labels.len(), self.col_labels.len());
        if rows == 0 || cols == 0 {
            return Err(Error::input(
                WHAT,
                t,
                format!("needs at least one row and one column (got {rows} row labels, {cols} column labels)"),
            ));
        }
        if self.values.len() != rows {
            return Err(Error::input(
                WHAT,
                t,
                format!("{} rows of values but {rows} row labels", self.values.len()),
            ));
        }
        let mut finite = Vec::with_capacity(rows * cols);
        for (i, row) in self.values.iter().enumerate() {
            if row.len() != cols {
                return Err(Error::input(
                    WHAT,
                    t,
                    format!(
                        "row {i} (`{}`) has {} values but there are {cols} column labels",
                        self.row_labels[i],
                        row.len()
                    ),
                ));
            }
            for (j, &v) in row.iter().enumerate() {
                if v.is_finite() {
                    finite.push(v);
                } else if !(v.is_nan() && self.allow_missing) {
                    return Err(Error::input(
                        WHAT,
                        t,
                        format!(
                            "cell ({i}, {j}) (`{}` × `{}`) is {v}{}",
                            self.row_labels[i],
                            self.col_labels[j],
                            if v.is_nan() {
                                " (set allow_missing to draw NaN as a missing cell)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
        }
        if finite.is_empty() {
            return Err(Error::input(WHAT, t, "every cell is missing"));
        }
        let (lo, hi) = match self.range {
            Some((lo, hi)) => {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(Error::input(
                        WHAT,
                        t,
                        format!("range ({lo}, {hi}) must be finite with lo < hi"),
                    ));
                }
                (lo, hi)
            }
            None => {
                let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if lo < hi {
                    (lo, hi)
                } else {
                    (lo - 0.5, hi + 0.5)
                }
            }
        };

        let row_labels: Vec<String> = self
            .row_labels
            .iter()
            .map(|l| truncate_label(l, self.max_label_chars))
            .collect();
        let col_labels: Vec<String> = self
            .col_labels
            .iter()
            .map(|l| truncate_label(l, self.max_label_chars))
            .collect();
        let label_size = if rows.max(cols) > 40 { 10.0 } else { 12.0 };
        let annotate = self.annotate && rows.max(cols) <= 30;
        let digits = self.digits.max(1);
        let ann_w = if annotate {
            let texts: Vec<String> = finite.iter().map(|&v| fmt_sig(v, digits)).collect();
            max_text_width(texts.iter().map(String::as_str), 11.0)?
        } else {
            0
        };
        let (cell_w, cell_h) = if annotate {
            ((ann_w + 12).max(46), 30)
        } else {
            let c = (720 / rows.max(cols) as u32).clamp(10, 40);
            (c, c)
        };
        let row_label_w = max_text_width(row_labels.iter().map(String::as_str), label_size)?;
        let col_label_w = max_text_width(col_labels.iter().map(String::as_str), label_size)?;
        let col_vertical = col_label_w + 4 > cell_w;
        let col_label_h = if col_vertical {
            col_label_w + 10
        } else {
            label_size as u32 + 10
        };

        let row_desc_w = if self.row_axis.is_empty() { 0 } else { 28 };
        let col_desc_h = if self.col_axis.is_empty() { 0 } else { 28 };
        let grid_x = 16 + row_desc_w + row_label_w + 8;
        let grid_y = TITLE_SIZE as u32 + 30;
        let grid_w = cols as u32 * cell_w;
        let grid_h = rows as u32 * cell_h;
        let bar_h = grid_h.clamp(120, 420);
        let tick_w = max_text_width(["-0.0000", "-0.000e-0"], 11.0)?;
        let width = (grid_x + grid_w + 24 + 18 + 6 + tick_w + 16)
            .max(text_width(&self.title, TITLE_SIZE)? + 40);
        let height = grid_y + grid_h.max(bar_h) + 6 + col_label_h + col_desc_h + 12;
        Ok(HeatmapLayout {
            map: self,
            row_labels,
            col_labels,
            range: (lo, hi),
            annotate,
            digits,
            cell: (cell_w, cell_h),
            label_size,
            col_vertical,
            grid: (grid_x as i32, grid_y as i32),
            bar_h,
            col_label_h,
            size: (width, height),
        })
    }
}

struct HeatmapLayout<'a> {
    map: &'a Heatmap,
    row_labels: Vec<String>,
    col_labels: Vec<String>,
    range: (f64, f64),
    annotate: bool,
    digits: usize,
    cell: (u32, u32),
    label_size: f64,
    col_vertical: bool,
    grid: (i32, i32),
    bar_h: u32,
    col_label_h: u32,
    size: (u32, u32),
}

fn luminance(c: RGBColor) -> f64 {
    (0.2126 * c.0 as f64 + 0.7152 * c.1 as f64 + 0.0722 * c.2 as f64) / 255.0
}

impl Draw for HeatmapLayout<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let m = self.map;
        let t = m.title.as_str();
        let e = draw_err(t);
        let (lo, hi) = self.range;
        let (gx, gy) = self.grid;
        let (cw, ch) = (self.cell.0 as i32, self.cell.1 as i32);
        let rows = self.row_labels.len() as i32;
        let cols = self.col_labels.len() as i32;

        draw_text(
            root,
            t,
            t,
            (self.size.0 as i32 / 2, 12),
            anchored(title_font().into(), HPos::Center, VPos::Top),
        )?;

        for (i, row) in m.values.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let (x0, y0) = (gx + j as i32 * cw, gy + i as i32 * ch);
                let colour = if v.is_nan() {
                    MISSING
                } else {
                    m.scale.color(v, lo, hi)
                };
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cw, y0 + ch)],
                    colour.filled(),
                ))
                .map_err(&e)?;
                if self.annotate {
                    let text = if v.is_nan() {
                        "–".to_string()
                    } else {
                        fmt_sig(v, self.digits)
                    };
                    let ink = if luminance(colour) < 0.5 {
                        WHITE
                    } else {
                        BLACK
                    };
                    let style = anchored(font(11.0).color(&ink), HPos::Center, VPos::Center);
                    draw_text(root, t, &text, (x0 + cw / 2, y0 + ch / 2), style)?;
                }
            }
        }
        // Thin white grid lines between cells when they are large enough to need separating.
        if cw >= 14 {
            for j in 1..cols {
                let x = gx + j * cw;
                root.draw(&PathElement::new(vec![(x, gy), (x, gy + rows * ch)], WHITE))
                    .map_err(&e)?;
            }
            for i in 1..rows {
                let y = gy + i * ch;
                root.draw(&PathElement::new(vec![(gx, y), (gx + cols * cw, y)], WHITE))
                    .map_err(&e)?;
            }
        }

        // Row labels, right-aligned left of the grid.
        let row_style = anchored(font(self.label_size).into(), HPos::Right, VPos::Center);
        for (i, label) in self.row_labels.iter().enumerate() {
            draw_text(
                root,
                t,
                label,
                (gx - 6, gy + i as i32 * ch + ch / 2),
                row_style.clone(),
            )?;
        }
        // Column labels below the grid, vertical when they would overlap.
        let below = gy + rows * ch + 6;
        for (j, label) in self.col_labels.iter().enumerate() {
            let cx = gx + j as i32 * cw + cw / 2;
            let style: TextStyle = if self.col_vertical {
                anchored(
                    font(self.label_size)
                        .transform(FontTransform::Rotate90)
                        .into(),
                    HPos::Left,
                    VPos::Center,
                )
            } else {
                anchored(font(self.label_size).into(), HPos::Center, VPos::Top)
            };
            draw_text(root, t, label, (cx, below), style)?;
        }
        let desc = anchored(font(AXIS_DESC_SIZE).into(), HPos::Center, VPos::Top);
        if !m.col_axis.is_empty() {
            let y = below + self.col_label_h as i32;
            draw_text(root, t, &m.col_axis, (gx + cols * cw / 2, y), desc.clone())?;
        }
        if !m.row_axis.is_empty() {
            let style = anchored(
                font(AXIS_DESC_SIZE)
                    .transform(FontTransform::Rotate270)
                    .into(),
                HPos::Center,
                VPos::Top,
            );
            draw_text(root, t, &m.row_axis, (12, gy + rows * ch / 2), style)?;
        }

        // Colour bar with ticks.
        let bx = gx + cols * cw + 24;
        let bh = self.bar_h as i32;
        const BANDS: i32 = 64;
        for k in 0..BANDS {
            let v = hi - (hi - lo) * (k as f64 + 0.5) / BANDS as f64;
            let (y0, y1) = (gy + k * bh / BANDS, gy + (k + 1) * bh / BANDS);
            root.draw(&Rectangle::new(
                [(bx, y0), (bx + 18, y1)],
                m.scale.color(v, lo, hi).filled(),
            ))
            .map_err(&e)?;
        }
        root.draw(&Rectangle::new(
            [(bx, gy), (bx + 18, gy + bh)],
            BLACK.mix(0.5),
        ))
        .map_err(&e)?;
        let axis: RangedCoordf64 = (lo..hi).into();
        let tick_style = anchored(font(11.0).into(), HPos::Left, VPos::Center);
        for v in axis.key_points(6) {
            let y = gy + ((hi - v) / (hi - lo) * bh as f64).round() as i32;
            root.draw(&PathElement::new(vec![(bx + 18, y), (bx + 22, y)], BLACK))
                .map_err(&e)?;
            draw_text(
                root,
                t,
                &fmt_tick(v, hi - lo),
                (bx + 25, y),
                tick_style.clone(),
            )?;
        }
        Ok(())
    }
}

impl_chart!(Heatmap);
