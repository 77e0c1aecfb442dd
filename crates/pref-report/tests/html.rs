//! The HTML index of a run directory: everything from the run is escaped.

use std::fs;

use pref_report::{
    cells, escape_html, index_html, markdown_to_html, write_index, Chart, Error, ErrorBarChart,
    Report, Table,
};

#[test]
fn escape_html_escapes_the_five() {
    assert_eq!(
        escape_html(r#"<a href="x">&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
    );
}

#[test]
fn markdown_raw_html_and_javascript_links_are_neutralised() {
    let html = markdown_to_html(
        "Label <script>alert(1)</script> here.\n\n<div onclick=\"x()\">block</div>\n\n[click](javascript:alert(1)) [ok](plots/a.png)\n",
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<div"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("javascript:"), "{html}");
    assert!(html.contains("<a href=\"plots/a.png\">ok</a>"), "{html}");
}

#[test]
fn index_lists_report_plots_results_and_config_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r<1>");
    fs::create_dir_all(run.join("records")).unwrap();
    fs::write(run.join("records/comparisons.jsonl"), "{\"id\":\"a\"}\n").unwrap();
    fs::write(
        run.join("config.toml"),
        "model = \"<script>alert('c')</script>\"\n",
    )
    .unwrap();
    fs::write(
        run.join("results.json"),
        r#"{"label":"<script>alert(1)</script>","mu":[1.5,-0.25]}"#,
    )
    .unwrap();

    let c = ErrorBarChart::new(
        "Utilities",
        "μ",
        "",
        vec![
            ("<script>x</script>".into(), 1.0, 0.1),
            ("b & c".into(), 0.0, 0.2),
        ],
    );
    let out = c.render(&run.join("plots/utilities")).unwrap();
    let mut t = Table::new(["task", "μ"]);
    t.row(cells!["<script>alert(2)</script>", 1.0]);
    let mut r = Report::new("Run <r1>");
    r.table(&t).unwrap().image("utilities", &out.png);
    r.write(&run.join("report.md")).unwrap();

    let path = write_index(&run).unwrap();
    assert_eq!(path, run.join("index.html"));
    let html = fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // No raw script from any source, every one shown as text.
    assert_eq!(html.matches("<script").count(), 0, "{html}");
    assert!(html.contains("<title>Run r&lt;1&gt;</title>"), "{html}");
    assert!(
        html.contains("<h1>Run &lt;r1&gt;</h1>"),
        "report heading: {html}"
    );
    assert!(
        html.contains("<td style=\"text-align: left\">&lt;script&gt;alert(2)&lt;/script&gt;</td>")
    );
    assert!(html.contains("<td style=\"text-align: right\">1.00</td>"));
    // The report's image and the plots section both point at the PNG; the SVG is linked.
    assert!(html.contains("<img src=\"plots/utilities.png\" alt=\"utilities\""));
    assert!(html.contains("<a href=\"plots/utilities.svg\">utilities.svg</a>"));
    // results.json pretty-printed and escaped.
    assert!(html.contains(
        "<pre>{\n  &quot;label&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;,\n  &quot;mu&quot;: [\n    1.5,\n    -0.25\n  ]\n}</pre>"
    ), "{html}");
    assert!(html.contains(
        "<pre>model = &quot;&lt;script&gt;alert(&#39;c&#39;)&lt;/script&gt;&quot;\n</pre>"
    ));
    assert!(html.contains("<a href=\"records/comparisons.jsonl\">comparisons.jsonl</a> <span class=\"muted\">(11 bytes)</span>"));
    // index_html is what write_index wrote.
    assert_eq!(index_html(&run).unwrap(), html);
}

#[test]
fn odd_plot_file_names_are_encoded() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("plots")).unwrap();
    fs::write(dir.path().join("plots/a\"b <c>.svg"), "<svg/>").unwrap();
    let html = index_html(dir.path()).unwrap();
    assert!(
        html.contains("<img src=\"plots/a%22b%20%3Cc%3E.svg\" alt=\"a&quot;b &lt;c&gt;\""),
        "{html}"
    );
    assert!(
        html.contains("No report.md.")
            && html.contains("No results.json.")
            && html.contains("No config.toml.")
    );
}

#[test]
fn bad_results_json_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("results.json"),
        "{\n  \"a\": 1,\n  \"b\": nope\n}\n",
    )
    .unwrap();
    let e = write_index(dir.path()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Data(_)));
    assert!(
        msg.contains(&format!(
            "{}:3: not valid JSON",
            dir.path().join("results.json").display()
        )),
        "{msg}"
    );
    assert!(!dir.path().join("index.html").exists());
    let missing = dir.path().join("nope");
    assert!(write_index(&missing).is_err());
}
