//! Rendering tests: the PNGs decode with the right size and real content
//! (text pixels where the title is), the SVGs hold the title and the expected
//! number of marks, and bad input is an error, never a panic.

mod common;

use common::{count, Image};
use pref_report::{Chart, ColorScale, Error, ErrorBarChart, Heatmap, LineChart, Scatter, Series};

/// plotters' SVG backend writes `<text …>\ncontent\n</text>`.
fn has_text(svg: &str, text: &str) -> bool {
    svg.contains(&format!(">\n{text}\n</text>"))
}

fn utilities(n: usize) -> Vec<(String, f64, f64)> {
    (0..n)
        .map(|i| {
            let x = i as f64;
            (
                format!("task {i}"),
                (x * 0.37).sin(),
                0.05 + 0.01 * (i % 5) as f64,
            )
        })
        .collect()
}

fn error_bars(n: usize) -> ErrorBarChart {
    ErrorBarChart::new("Fitted utilities", "utility μ", "task", utilities(n))
}

fn heatmap() -> Heatmap {
    let labels = |p: &str| (0..3).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
    Heatmap::new(
        "Self-preference",
        labels("judge "),
        labels("author "),
        vec![
            vec![0.62, 0.41, 0.5],
            vec![0.33, 0.71, 0.45],
            vec![0.58, 0.49, 0.8],
        ],
    )
}

fn lines() -> LineChart {
    let a: Vec<(f64, f64)> = (1..=10)
        .map(|k| (k as f64 * 100.0, 0.5 + 0.03 * k as f64))
        .collect();
    let b: Vec<(f64, f64)> = (1..=10)
        .map(|k| (k as f64 * 100.0, 0.5 + 0.02 * k as f64))
        .collect();
    let band = b.iter().map(|p| (p.1 - 0.02, p.1 + 0.02)).collect();
    LineChart::new(
        "Learning curve",
        "comparisons",
        "held-out accuracy",
        vec![
            Series::new("active", a),
            Series::new("random", b).with_band(band),
        ],
    )
}

fn scatter(n: usize) -> Scatter {
    let pts = (0..n)
        .map(|i| {
            let x = i as f64 * 0.1;
            (x, 2.0 * x + (i as f64 * 1.7).sin())
        })
        .collect();
    let mut s = Scatter::new("Run agreement", "μ run A", "μ run B", pts);
    s.fit_line = true;
    s
}

fn all_charts() -> Vec<Box<dyn Chart>> {
    vec![
        Box::new(error_bars(25)),
        Box::new(heatmap()),
        Box::new(lines()),
        Box::new(scatter(30)),
    ]
}

#[test]
fn png_decodes_with_expected_size_and_content() {
    for chart in all_charts() {
        let (w, h) = chart.pixel_size().unwrap();
        let img = Image::decode(&chart.to_png().unwrap());
        assert_eq!((img.width, img.height), (w, h), "{}", chart.title());
        assert!(
            img.distinct_colours() > 20,
            "{}: {} colours",
            chart.title(),
            img.distinct_colours()
        );
        let ink = img.non_white_fraction();
        assert!(
            ink > 0.01 && ink < 0.9,
            "{}: non-white fraction {ink}",
            chart.title()
        );
    }
}

/// The title band (top 30 px) has dark text pixels with a title and none without:
/// text really is drawn by the embedded font (no system font is involved, as
/// plotters is built without font-kit).
#[test]
fn title_text_pixels_present() {
    let mut with = error_bars(10);
    with.title = "Fitted utilities of the tasks".into();
    let mut without = with.clone();
    without.title = String::new();
    let a = Image::decode(&with.to_png().unwrap());
    let b = Image::decode(&without.to_png().unwrap());
    assert!(
        a.dark_in_rows(0, 30) > 150,
        "title pixels: {}",
        a.dark_in_rows(0, 30)
    );
    assert_eq!(b.dark_in_rows(0, 30), 0);

    let mut hm = heatmap();
    let with_h = Image::decode(&hm.to_png().unwrap());
    hm.title = String::new();
    let without_h = Image::decode(&hm.to_png().unwrap());
    assert!(with_h.dark_in_rows(0, 30) > 100);
    assert_eq!(without_h.dark_in_rows(0, 30), 0);

    for chart in all_charts() {
        let img = Image::decode(&chart.to_png().unwrap());
        assert!(
            img.dark_in_rows(0, 30) > 100,
            "{}: no title pixels",
            chart.title()
        );
    }
}

#[test]
fn svg_holds_title_and_one_mark_per_item() {
    // Error bars: plotters' ErrorBar draws one circle at each value.
    let svg = error_bars(25).to_svg().unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(has_text(&svg, "Fitted utilities"));
    assert_eq!(count(&svg, "<circle"), 25);
    assert!(has_text(&svg, "task 24"));

    // Scatter: one circle per point plus the legend's marker.
    let svg = scatter(30).to_svg().unwrap();
    assert!(has_text(&svg, "Run agreement"));
    assert_eq!(count(&svg, "<circle"), 31);
    assert!(svg.contains("OLS: y = "));

    // Lines: 10 markers per series plus one legend marker per series; one band polygon.
    let svg = lines().to_svg().unwrap();
    assert!(has_text(&svg, "Learning curve"));
    assert_eq!(count(&svg, "<circle"), 22);
    assert_eq!(count(&svg, "<polygon"), 1);
    assert!(has_text(&svg, "active") && has_text(&svg, "random"));

    // Heatmap: 9 cells + 64 colour-bar bands + bar outline + background.
    let svg = heatmap().to_svg().unwrap();
    assert!(has_text(&svg, "Self-preference"));
    assert_eq!(count(&svg, "<rect"), 9 + 64 + 2);
    for v in [
        "0.62", "0.41", "0.50", "0.33", "0.71", "0.45", "0.58", "0.49", "0.80",
    ] {
        assert!(has_text(&svg, v), "annotation {v}");
    }
}

#[test]
fn svg_text_is_escaped() {
    let mut c = error_bars(3);
    c.title = "a <script>alert(1)</script> & b".into();
    c.items[0].0 = "<b>bold</b>".into();
    let svg = c.to_svg().unwrap();
    assert!(!svg.contains("<script>"));
    assert!(svg.contains("a &lt;script&gt;alert(1)&lt;/script&gt; &amp; b"));
    assert!(svg.contains("&lt;b&gt;bold&lt;/b&gt;"));
}

#[test]
fn long_labels_are_truncated() {
    let mut c = error_bars(3);
    let long = "write a limerick about the entire history of the Byzantine Empire, with footnotes";
    c.items[1].0 = long.into();
    let svg = c.to_svg().unwrap();
    assert!(!svg.contains(long));
    assert!(has_text(&svg, "write a limerick about the entire histo…"));
    // The chart does not grow to fit the full label.
    assert_eq!(c.pixel_size().unwrap().0, 900);
}

#[test]
fn size_grows_with_item_count() {
    let (w30, h30) = error_bars(30).pixel_size().unwrap();
    let (w500, h500) = error_bars(500).pixel_size().unwrap();
    assert_eq!(w30, w500);
    assert!(h500 >= 500 * 13, "500 rows in {h500} px");
    assert!(h30 < 30 * 23 + 200);
    let img = Image::decode(&error_bars(500).to_png().unwrap());
    assert_eq!((img.width, img.height), (w500, h500));
    // Every one of the 500 labels is drawn.
    let svg = error_bars(500).to_svg().unwrap();
    assert_eq!(count(&svg, "<circle"), 500);
    assert!(has_text(&svg, "task 0") && has_text(&svg, "task 499"));

    let names: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    let big = Heatmap::new("big", names.clone(), names, vec![vec![0.5; 40]; 40]);
    let (w, h) = big.pixel_size().unwrap();
    assert!(w < 1100 && h < 1100, "40×40 heatmap is {w}×{h}");
    // Cells too small for annotations: none drawn.
    assert!(!has_text(&big.to_svg().unwrap(), "0.50"));
}

#[test]
fn sort_orders_rows_by_value() {
    let items = vec![
        ("low".to_string(), -1.0, 0.1),
        ("high".to_string(), 2.0, 0.1),
        ("mid".to_string(), 0.5, 0.1),
    ];
    let mut c = ErrorBarChart::new("t", "v", "", items);
    let pos = |svg: &str, s: &str| svg.find(&format!(">\n{s}\n</text>")).unwrap();
    // plotters writes elements in drawing order and labels are drawn top row first.
    c.sort = true;
    let svg = c.to_svg().unwrap();
    assert!(pos(&svg, "high") < pos(&svg, "mid") && pos(&svg, "mid") < pos(&svg, "low"));
    c.sort = false;
    let svg = c.to_svg().unwrap();
    assert!(pos(&svg, "low") < pos(&svg, "high") && pos(&svg, "high") < pos(&svg, "mid"));
}

#[test]
fn render_writes_both_files_atomically_and_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("plots").join("fig.v1");
    let out = lines().render(&stem).unwrap();
    assert_eq!(out.svg, dir.path().join("plots/fig.v1.svg"));
    assert_eq!(out.png, dir.path().join("plots/fig.v1.png"));
    let png1 = std::fs::read(&out.png).unwrap();
    Image::decode(&png1);
    assert!(std::fs::read_to_string(&out.svg)
        .unwrap()
        .contains("Learning curve"));
    let names: Vec<_> = std::fs::read_dir(dir.path().join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temp files left: {names:?}");
    lines().render(&stem).unwrap();
    assert_eq!(std::fs::read(&out.png).unwrap(), png1);
}

fn input_message(r: pref_report::Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(e @ Error::InvalidInput { .. }) => e.to_string(),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn bad_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();

    let mut c = error_bars(5);
    c.items[2].1 = f64::NAN;
    let m = input_message(c.render(&dir.path().join("nan")));
    assert!(m.contains("item 2 (`task 2`): value is NaN"), "{m}");
    let mut c = error_bars(5);
    c.items[1].2 = -0.1;
    assert!(input_message(c.to_png()).contains("err is -0.1"));
    let c = ErrorBarChart::new("empty", "v", "", vec![]);
    assert!(input_message(c.to_svg()).contains("no items"));

    let mut h = heatmap();
    h.values[1].pop();
    let m = input_message(h.to_png());
    assert!(
        m.contains("row 1 (`judge 1`) has 2 values but there are 3 column labels"),
        "{m}"
    );
    let mut h = heatmap();
    h.values.pop();
    assert!(input_message(h.to_png()).contains("2 rows of values but 3 row labels"));
    let mut h = heatmap();
    h.values[0][2] = f64::NAN;
    assert!(input_message(h.to_png()).contains("allow_missing"));
    h.allow_missing = true;
    let svg = h.to_svg().unwrap();
    assert!(has_text(&svg, "–"));
    h.values[0][1] = f64::INFINITY;
    assert!(input_message(h.to_png()).contains("cell (0, 1)"));
    let mut h = heatmap();
    h.range = Some((1.0, 0.0));
    assert!(input_message(h.to_svg()).contains("lo < hi"));
    let h = Heatmap::new("none", vec![], vec![], vec![]);
    assert!(input_message(h.to_svg()).contains("at least one row"));

    let l = LineChart::new("l", "x", "y", vec![]);
    assert!(input_message(l.to_svg()).contains("no series"));
    let l = LineChart::new("l", "x", "y", vec![Series::new("s", vec![])]);
    assert!(input_message(l.to_svg()).contains("series 0 (`s`) has no points"));
    let l = LineChart::new(
        "l",
        "x",
        "y",
        vec![Series::new("s", vec![(0.0, 1.0), (1.0, f64::NAN)])],
    );
    assert!(input_message(l.to_png()).contains("point 1: y is NaN"));
    let l = LineChart::new(
        "l",
        "x",
        "y",
        vec![Series::new("s", vec![(0.0, 1.0), (1.0, 2.0)]).with_band(vec![(0.0, 1.0)])],
    );
    assert!(input_message(l.to_png()).contains("band has 1 entries but there are 2 points"));

    let mut s = scatter(5);
    s.points[3].0 = f64::INFINITY;
    assert!(input_message(s.to_png()).contains("point 3: x is inf"));
    let mut s = scatter(5);
    s.labels = Some(vec!["a".into()]);
    assert!(input_message(s.to_png()).contains("1 labels for 5 points"));
    let mut s = Scatter::new("flat", "x", "y", vec![(1.0, 1.0), (1.0, 2.0)]);
    s.fit_line = true;
    assert!(input_message(s.to_png()).contains("every x is equal"));
    s.fit_line = false;
    s.to_png().unwrap();
    let s = Scatter::new("empty", "x", "y", vec![]);
    assert!(input_message(s.to_svg()).contains("no points"));

    // A chart too large to hold in memory is refused before drawing.
    let names: Vec<String> = (0..1300).map(|i| format!("m{i}")).collect();
    let huge = Heatmap::new("huge", names.clone(), names, vec![vec![0.0; 1300]; 1300]);
    assert!(huge.pixel_size().is_ok());
    assert!(input_message(huge.to_png()).contains("larger than 150000000 pixels"));

    // Nothing was written for the failed render.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn single_points_and_flat_data_render() {
    let c = ErrorBarChart::new("one", "v", "", vec![("only".into(), 0.0, 0.0)]);
    Image::decode(&c.to_png().unwrap());
    let l = LineChart::new("one", "x", "y", vec![Series::new("", vec![(1.0, 1.0)])]);
    let svg = l.to_svg().unwrap();
    assert_eq!(
        count(&svg, "<circle"),
        1,
        "no legend for one unnamed series"
    );
    let mut h = Heatmap::new("flat", vec!["r".into()], vec!["c".into()], vec![vec![3.0]]);
    h.scale = ColorScale::Diverging;
    Image::decode(&h.to_png().unwrap());
    let s = Scatter::new("one", "x", "y", vec![(2.0, 2.0)]);
    Image::decode(&s.to_png().unwrap());
}
