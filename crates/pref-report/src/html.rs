//! A one-page HTML index of a run directory (`docs/runs.md`): the rendered
//! `report.md`, every plot (PNG inline, linked to its SVG), `results.json`
//! pretty-printed, `config.toml`, and the record files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

use crate::error::Result;
use crate::markdown::url_path;

/// Escapes text for HTML element content and quoted attribute values.
///
/// Hand-written: five replacements, tested, and it keeps this crate free of
/// a templating dependency for one page.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn io_err(path: &Path, e: std::io::Error) -> pref_data::Error {
    pref_data::Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e).into()),
    }
}

/// Whether a link target is safe to keep: relative, or http(s)/mailto.
fn safe_url(url: &str) -> bool {
    let scheme_end = url.find(':');
    let path_start = url.find(['/', '?', '#']).unwrap_or(url.len());
    match scheme_end {
        Some(i) if i < path_start => {
            let scheme = url[..i].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto")
        }
        _ => true,
    }
}

/// Markdown → HTML with raw HTML shown as text (a label like `<script>` in a
/// report stays text) and unsafe link schemes (`javascript:`) removed.
pub fn markdown_to_html(markdown: &str) -> String {
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_GFM;
    let events = Parser::new_ext(markdown, opts).map(|ev| match ev {
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_url(&dest_url) => Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::from("#"),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_url(&dest_url) => Event::Start(Tag::Image {
            link_type,
            dest_url: CowStr::from("#"),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
nav a{margin-right:1em}
pre{background:#f6f8fa;padding:1em;overflow:auto;font-size:13px;border-radius:4px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f0f0f0}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #eee}
img{max-width:100%}
blockquote{border-left:4px solid #ccc;margin:1em 0;padding:.2em 1em;color:#444}
blockquote.markdown-alert-warning{border-left-color:#d9822b;background:#fff8f0}
.muted{color:#777}";

/// Writes `<run_dir>/index.html` (atomically) and returns its path.
///
/// Everything that came from the run (file names, markdown, JSON, TOML) is
/// escaped. Parts that are absent are listed as absent; a `results.json`
/// that is not valid JSON is an error naming the file and line.
pub fn write_index(run_dir: &Path) -> Result<PathBuf> {
    let html = index_html(run_dir)?;
    let path = run_dir.join("index.html");
    pref_data::write_atomic(&path, html.as_bytes())?;
    Ok(path)
}

/// The HTML of [`write_index`], without writing it.
pub fn index_html(run_dir: &Path) -> Result<String> {
    if !run_dir.is_dir() {
        return Err(pref_data::Error::Format {
            path: run_dir.to_path_buf(),
            message: "not a directory".into(),
        }
        .into());
    }
    let name = run_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| run_dir.display().to_string());
    let mut body = String::new();
    let mut nav = Vec::new();

    // report.md
    let report = read_optional(&run_dir.join("report.md"))?;
    body += "<section id=\"report\">\n<h2>Report</h2>\n";
    match &report {
        Some(md) => {
            nav.push(("report", "Report"));
            body += "<p class=\"muted\"><a href=\"report.md\">report.md</a></p>\n";
            body += "<div class=\"report\">\n";
            body += &markdown_to_html(md);
            body += "</div>\n";
        }
        None => body += "<p class=\"muted\">No report.md.</p>\n",
    }
    body += "</section>\n";

    // plots/: group files by stem so one figure shows the PNG and links the SVG.
    let plots_dir = run_dir.join("plots");
    let mut plots: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if plots_dir.is_dir() {
        let entries = fs::read_dir(&plots_dir).map_err(|e| io_err(&plots_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&plots_dir, e))?;
            let p = entry.path();
            let (Some(stem), Some(ext)) = (p.file_stem(), p.extension()) else {
                continue;
            };
            let ext = ext.to_string_lossy().to_ascii_lowercase();
            if matches!(ext.as_str(), "png" | "svg") && !stem.to_string_lossy().starts_with('.') {
                plots
                    .entry(stem.to_string_lossy().into_owned())
                    .or_default()
                    .push(
                        p.file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned(),
                    );
            }
        }
    }
    body += "<section id=\"plots\">\n<h2>Plots</h2>\n";
    if plots.is_empty() {
        body += "<p class=\"muted\">No plots.</p>\n";
    } else {
        nav.push(("plots", "Plots"));
    }
    for (stem, mut files) in plots {
        files.sort();
        let href = |f: &str| escape_html(&url_path(&Path::new("plots").join(f)));
        let shown = files
            .iter()
            .find(|f| f.to_ascii_lowercase().ends_with(".png"))
            .unwrap_or(&files[0]);
        let links: Vec<String> = files
            .iter()
            .map(|f| format!("<a href=\"{}\">{}</a>", href(f), escape_html(f)))
            .collect();
        body += &format!(
            "<figure><img src=\"{}\" alt=\"{}\" loading=\"lazy\"><figcaption>{} — {}</figcaption></figure>\n",
            href(shown),
            escape_html(&stem),
            escape_html(&stem),
            links.join(" · ")
        );
    }
    body += "</section>\n";

    // results.json, pretty-printed.
    let results_path = run_dir.join("results.json");
    body += "<section id=\"results\">\n<h2>results.json</h2>\n";
    match read_optional(&results_path)? {
        Some(text) => {
            nav.push(("results", "results.json"));
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| pref_data::Error::Record {
                    at: pref_data::Location {
                        path: results_path.clone(),
                        line: e.line() as u64,
                        is_row: false,
                    },
                    field: None,
                    message: format!("not valid JSON: {e}"),
                })?;
            let pretty = serde_json::to_string_pretty(&value).unwrap_or(text);
            body += &format!(
                "<p class=\"muted\"><a href=\"results.json\">results.json</a></p>\n<pre>{}</pre>\n",
                escape_html(&pretty)
            );
        }
        None => body += "<p class=\"muted\">No results.json.</p>\n",
    }
    body += "</section>\n";

    // config.toml, as written.
    body += "<section id=\"config\">\n<h2>config.toml</h2>\n";
    match read_optional(&run_dir.join("config.toml"))? {
        Some(text) => {
            nav.push(("config", "config.toml"));
            body += &format!(
                "<p class=\"muted\"><a href=\"config.toml\">config.toml</a></p>\n<pre>{}</pre>\n",
                escape_html(&text)
            );
        }
        None => body += "<p class=\"muted\">No config.toml.</p>\n",
    }
    body += "</section>\n";

    // records/: names and sizes only (they can be large).
    let records_dir = run_dir.join("records");
    let mut records = Vec::new();
    if records_dir.is_dir() {
        for entry in fs::read_dir(&records_dir).map_err(|e| io_err(&records_dir, e))? {
            let entry = entry.map_err(|e| io_err(&records_dir, e))?;
            let meta = entry.metadata().map_err(|e| io_err(&entry.path(), e))?;
            if meta.is_file() {
                records.push((entry.file_name().to_string_lossy().into_owned(), meta.len()));
            }
        }
    }
    records.sort();
    if !records.is_empty() {
        nav.push(("records", "records"));
        body += "<section id=\"records\">\n<h2>records/</h2>\n<ul>\n";
        for (f, len) in &records {
            body += &format!(
                "<li><a href=\"{}\">{}</a> <span class=\"muted\">({len} bytes)</span></li>\n",
                escape_html(&url_path(&Path::new("records").join(f))),
                escape_html(f)
            );
        }
        body += "</ul>\n</section>\n";
    }

    let nav_html: Vec<String> = nav
        .iter()
        .map(|(id, label)| format!("<a href=\"#{id}\">{label}</a>"))
        .collect();
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n\
         <h1>{title}</h1>\n<nav>{nav}</nav>\n{body}</body>\n</html>\n",
        title = escape_html(&format!("Run {name}")),
        nav = nav_html.join(""),
    ))
}
