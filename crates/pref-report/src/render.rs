//! Rendering shared by every chart: one drawing routine, run once on plotters'
//! SVG backend and once on its bitmap backend, then written atomically.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::font::{ensure_fonts, FAMILY};

/// The two files a chart renders to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `<stem>.svg`.
    pub svg: PathBuf,
    /// `<stem>.png`.
    pub png: PathBuf,
}

/// A chart that renders to SVG and PNG.
///
/// Every chart validates its data first: NaN, empty input or inconsistent
/// shapes give [`Error::InvalidInput`], never a panic.
pub trait Chart {
    /// The chart's title (also used in error messages).
    fn title(&self) -> &str;

    /// Width and height in pixels (they grow with the number of items).
    fn pixel_size(&self) -> Result<(u32, u32)>;

    /// The chart as an SVG document.
    fn to_svg(&self) -> Result<String>;

    /// The chart as PNG bytes (8-bit RGB).
    fn to_png(&self) -> Result<Vec<u8>>;

    /// Writes `<stem>.svg` and `<stem>.png` atomically (creating the directory),
    /// e.g. `render(&run.plots_dir().join("utilities"))`.
    fn render(&self, stem: &Path) -> Result<Rendered> {
        // Both are drawn before either is written, so bad data writes nothing.
        let svg = self.to_svg()?;
        let png = self.to_png()?;
        let out = Rendered {
            svg: with_suffix(stem, ".svg"),
            png: with_suffix(stem, ".png"),
        };
        pref_data::write_atomic(&out.svg, svg.as_bytes())?;
        pref_data::write_atomic(&out.png, &png)?;
        Ok(out)
    }
}

/// `stem` + `suffix` (not `with_extension`, which would eat `fig.v1`'s `.v1`).
fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = stem.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Implemented by each chart's validated layout: draws on any plotters backend.
pub(crate) trait Draw {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

pub(crate) fn draw_err<E: std::fmt::Display>(title: &str) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Draw {
        title: title.to_string(),
        message: e.to_string(),
    }
}

/// Largest image drawn (pixels): 150 Mpx is a 450 MB RGB buffer. Beyond it
/// (e.g. a 2000 × 2000 heatmap) the chart is refused instead of exhausting memory.
pub(crate) const MAX_PIXELS: u64 = 150_000_000;

fn check_size(title: &str, (w, h): (u32, u32)) -> Result<()> {
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(Error::input(
            "chart",
            title,
            format!("{w} × {h} px is larger than {MAX_PIXELS} pixels: plot fewer items (or split the chart)"),
        ));
    }
    Ok(())
}

pub(crate) fn svg_of<D: Draw>(title: &str, layout: &D) -> Result<String> {
    check_size(title, layout.size())?;
    ensure_fonts()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, layout.size()).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err(title))?;
        layout.draw(&root)?;
        root.present().map_err(draw_err(title))?;
    }
    Ok(out)
}

pub(crate) fn png_of<D: Draw>(title: &str, layout: &D) -> Result<Vec<u8>> {
    check_size(title, layout.size())?;
    ensure_fonts()?;
    let (w, h) = layout.size();
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err(title))?;
        layout.draw(&root)?;
        root.present().map_err(draw_err(title))?;
    }
    let png_err = |e: png::EncodingError| Error::Png {
        title: title.to_string(),
        message: e.to_string(),
    };
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(png_err)?;
        writer.write_image_data(&rgb).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
    }
    Ok(bytes)
}

/// Implements [`Chart`] for a type with `fn layout(&self) -> Result<impl Draw>`.
macro_rules! impl_chart {
    ($ty:ty) => {
        impl $crate::render::Chart for $ty {
            fn title(&self) -> &str {
                &self.title
            }
            fn pixel_size(&self) -> $crate::Result<(u32, u32)> {
                use $crate::render::Draw;
                Ok(self.layout()?.size())
            }
            fn to_svg(&self) -> $crate::Result<String> {
                $crate::render::svg_of(&self.title, &self.layout()?)
            }
            fn to_png(&self) -> $crate::Result<Vec<u8>> {
                $crate::render::png_of(&self.title, &self.layout()?)
            }
        }
    };
}
pub(crate) use impl_chart;

// ---------------------------------------------------------------------------
// Text and layout helpers.

pub(crate) const TITLE_SIZE: f64 = 20.0;
pub(crate) const AXIS_DESC_SIZE: f64 = 15.0;
pub(crate) const LABEL_SIZE: f64 = 13.0;

pub(crate) fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
}

pub(crate) fn title_font() -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), TITLE_SIZE, FontStyle::Bold)
}

/// Width in pixels of `text` in the embedded font at `size`.
pub(crate) fn text_width(text: &str, size: f64) -> Result<u32> {
    ensure_fonts()?;
    font(size)
        .box_size(text)
        .map(|(w, _)| w)
        .map_err(|e| Error::Font(format!("{e:?}")))
}

/// Widest of `texts` (0 when empty).
pub(crate) fn max_text_width<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    size: f64,
) -> Result<u32> {
    let mut w = 0;
    for t in texts {
        w = w.max(text_width(t, size)?);
    }
    Ok(w)
}

/// Draws `text` with the given anchor at absolute backend coordinates.
pub(crate) fn draw_text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    text: &str,
    pos: (i32, i32),
    style: TextStyle<'_>,
) -> Result<()> {
    root.draw(&Text::new(text.to_string(), pos, style))
        .map_err(draw_err(title))
}

pub(crate) fn anchored(style: TextStyle<'_>, h: HPos, v: VPos) -> TextStyle<'_> {
    style.pos(Pos::new(h, v))
}

/// A readable colour palette (Tableau 10), cycled for series.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// `[lo, hi]` widened by `pad` of its span (or by ±0.5 / ±10% when flat).
pub(crate) fn padded_range(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 {
        (lo - pad * span, hi + pad * span)
    } else {
        let d = if lo == 0.0 { 0.5 } else { 0.1 * lo.abs() };
        (lo - d, hi + d)
    }
}

/// Min and max of finite values (None if there are none).
pub(crate) fn min_max(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// One legend entry.
pub(crate) struct LegendEntry {
    pub label: String,
    pub color: RGBColor,
    /// Draw a line sample (else a marker).
    pub line: bool,
    /// Draw a marker sample.
    pub marker: bool,
    /// Draw a shaded band behind the sample.
    pub band: bool,
}

/// Height in pixels of one legend row.
pub(crate) const LEGEND_ROW: i32 = 20;

/// Draws a legend box with its top-left corner at `(x, y)` (absolute pixels).
pub(crate) fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    entries: &[LegendEntry],
    (x, y): (i32, i32),
) -> Result<()> {
    let e = draw_err(title);
    let label_w = max_text_width(entries.iter().map(|e| e.label.as_str()), LABEL_SIZE)? as i32;
    let w = 44 + label_w + 8;
    let h = LEGEND_ROW * entries.len() as i32 + 8;
    root.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        WHITE.mix(0.85).filled(),
    ))
    .map_err(&e)?;
    root.draw(&Rectangle::new([(x, y), (x + w, y + h)], BLACK.mix(0.3)))
        .map_err(&e)?;
    for (i, entry) in entries.iter().enumerate() {
        let cy = y + 4 + LEGEND_ROW * i as i32 + LEGEND_ROW / 2;
        let (x0, x1) = (x + 8, x + 36);
        if entry.band {
            root.draw(&Rectangle::new(
                [(x0, cy - 6), (x1, cy + 6)],
                entry.color.mix(0.2).filled(),
            ))
            .map_err(&e)?;
        }
        if entry.line {
            root.draw(&PathElement::new(
                vec![(x0, cy), (x1, cy)],
                entry.color.stroke_width(2),
            ))
            .map_err(&e)?;
        }
        if entry.marker {
            root.draw(&Circle::new(((x0 + x1) / 2, cy), 3, entry.color.filled()))
                .map_err(&e)?;
        }
        draw_text(
            root,
            title,
            &entry.label,
            (x + 44, cy),
            anchored(font(LABEL_SIZE).into(), HPos::Left, VPos::Center),
        )?;
    }
    Ok(())
}

/// Width in pixels of a legend for these labels.
pub(crate) fn legend_width<'a>(labels: impl IntoIterator<Item = &'a str>) -> Result<u32> {
    Ok(44 + max_text_width(labels, LABEL_SIZE)? + 8)
}

/// Checks a value is finite, naming it in the error.
pub(crate) fn check_finite(
    what: &'static str,
    title: &str,
    v: f64,
    name: impl FnOnce() -> String,
) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::input(
            what,
            title,
            format!("{} is {v} (must be finite)", name()),
        ))
    }
}

/// The frame line charts and scatter plots share: the title (cut to
/// `title_chars`), margins, continuous x and y axes with eight ticks each,
/// their descriptions and a light grid.
#[allow(clippy::type_complexity)]
pub(crate) fn xy_frame<'a, DB: DrawingBackend>(
    plot: &'a DrawingArea<DB, Shift>,
    title: &str,
    title_chars: usize,
    (x_desc, y_desc): (&str, &str),
    (x_lo, x_hi): (f64, f64),
    (y_lo, y_hi): (f64, f64),
) -> Result<
    ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
> {
    let e = draw_err(title);
    let mut chart = ChartBuilder::on(plot)
        .caption(
            crate::format::truncate_label(title, title_chars),
            title_font(),
        )
        .margin(12)
        .margin_right(20)
        .x_label_area_size(48)
        .y_label_area_size(68)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&|v| crate::format::fmt_tick(*v, x_hi - x_lo))
        .y_label_formatter(&|v| crate::format::fmt_tick(*v, y_hi - y_lo))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(font(AXIS_DESC_SIZE))
        .label_style(font(12.0))
        .max_light_lines(1)
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.1))
        .draw()
        .map_err(&e)?;
    Ok(chart)
}
