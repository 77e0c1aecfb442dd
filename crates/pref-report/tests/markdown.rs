//! Markdown output, tested as exact strings.

use std::path::Path;

use pref_report::{cells, Cell, Report, Table};

#[test]
fn table_is_exact() {
    let mut t = Table::new(["model", "μ", "σ", "n", "note"]);
    t.row(cells!["gemma-3-270m", 1.23456, 0.000123456, 120, "ok"])
        .row(cells!["smollm2 | 135m", -0.5, f64::NAN, 7, Cell::Empty])
        .row(cells!["x", 12345.678, 9.996, 0, "multi\nline"]);
    // Widths: model = len("smollm2 \| 135m") = 15; μ = len("-0.500") = 6.
    let expected = "\
| model           |      μ |        σ |   n | note       |
| :-------------- | -----: | -------: | --: | :--------- |
| gemma-3-270m    |   1.23 | 0.000123 | 120 | ok         |
| smollm2 \\| 135m | -0.500 |      NaN |   7 |            |
| x               |  12346 |     10.0 |   0 | multi line |
";
    assert_eq!(t.to_markdown().unwrap(), expected);
}

#[test]
fn digits_are_configurable() {
    let mut t = Table::new(["a", "b"]).digits(5);
    t.row(cells![std::f64::consts::PI, 2.0]);
    assert_eq!(
        t.to_markdown().unwrap(),
        "|      a |      b |\n| -----: | -----: |\n| 3.1416 | 2.0000 |\n"
    );
}

#[test]
fn bad_tables_are_errors() {
    let mut t = Table::new(["a", "b"]);
    t.row(cells![1]);
    let e = t.to_markdown().unwrap_err().to_string();
    assert!(e.contains("row 0 has 1 cells, expected 2"), "{e}");
    let t = Table::new(Vec::<String>::new());
    assert!(t.to_markdown().is_err());
    let mut r = Report::new("x");
    assert!(r.table(&Table::new(Vec::<String>::new())).is_err());
}

#[test]
fn report_is_exact_and_links_images_relative_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("runs/utility/r1");
    let mut t = Table::new(["task", "utility"]);
    t.row(cells!["a", 0.5]);
    let mut r = Report::new("Utility run r1");
    r.paragraph("Fitted with **MLE**.")
        .heading(2, "Utilities")
        .table(&t)
        .unwrap()
        .image("utilities [sorted]", run.join("plots/utilities ±σ.png"))
        .image("elsewhere", "/srv/shared/plot.png")
        .not_reliable("only 17 comparisons\nfor 40 tasks")
        .bullets(["one", "two"])
        .code("toml", "seed = 1");
    let path = r.write(&run.join("report.md")).unwrap();
    assert_eq!(path, run.join("report.md"));
    let text = std::fs::read_to_string(&path).unwrap();
    let expected = "\
# Utility run r1

Fitted with **MLE**.

## Utilities

| task | utility |
| :--- | ------: |
| a    |   0.500 |

![utilities \\[sorted\\]](plots/utilities%20%C2%B1%CF%83.png)

![elsewhere](/srv/shared/plot.png)

> [!WARNING]
> **Not reliable:** only 17 comparisons
> for 40 tasks

- one
- two

```toml
seed = 1
```
";
    assert_eq!(text, expected);
    // A relative image path is taken relative to the current directory, like any path.
    let cwd = std::env::current_dir().unwrap();
    let mut r = Report::default();
    r.image("p", "plots/a.png");
    assert_eq!(r.to_markdown(&cwd), "![p](plots/a.png)\n");
    assert_eq!(r.to_markdown(Path::new(".")), "![p](plots/a.png)\n");
}
