//! `runs/demo/index.html`: one page for the demo's six studies. Each study gets
//! its question, links to its report and its run's own index, its headline
//! numbers with their intervals (read from its `results.json`), the warnings its
//! report raises (a position-driven judge, a gated estimate, …) and its plots
//! inline. Every link is relative, so the page opens from the file system.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::demo::DemoStudy;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// `x [lo, hi]` from a value with a `mean` and a `ci` pair (pref-stats' MeanInterval).
fn mean_ci(v: &Value) -> Option<String> {
    Some(format!(
        "{:.3} [{:.3}, {:.3}]",
        num(&v["mean"])?,
        num(&v["ci"][0])?,
        num(&v["ci"][1])?
    ))
}

/// `x [lo, hi]` from a pref-rank / pref-cje estimate (`estimate`, `ci_lower`, `ci_upper`).
fn estimate(v: &Value) -> Option<String> {
    Some(format!(
        "{:.3} [{:.3}, {:.3}]",
        num(&v["estimate"])?,
        num(&v["ci_lower"])?,
        num(&v["ci_upper"])?
    ))
}

/// Each study's headline numbers, as short lines.
pub fn headlines(bin: &str, r: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match bin {
        "personal-rank" => {
            if let Some(last) = r["evaluation"]["curve"].as_array().and_then(|c| c.last()) {
                for (s, name) in [
                    ("global", "global only"),
                    ("A", "A: Elo offsets"),
                    ("B", "B: reward head"),
                    ("C", "C: style BT"),
                ] {
                    if let Some(t) = mean_ci(&last["systems"][s]["kendall_tau"]) {
                        out.push(format!("Kendall τ, {name}: {t}"));
                    }
                }
            }
            for v in r["verdicts"].as_array().into_iter().flatten() {
                out.extend(v.as_str().map(str::to_string));
            }
        }
        "arena-cje" => {
            if let Some(policies) = r["policies"].as_object() {
                for (p, v) in policies {
                    let trust = v["verdict"]["trust"].as_str().unwrap_or("direct");
                    if let Some(e) = estimate(&r["cje"]["policies"][p]["estimates"][trust]) {
                        out.push(format!(
                            "{p}: {trust} {e}; {}",
                            v["verdict"]["why"].as_str().unwrap_or("")
                        ));
                    }
                }
            }
        }
        "utility" => {
            if let (Some(acc), Some(n)) = (
                num(&r["heldout"]["accuracy"]),
                r["heldout"]["n_pairs"].as_u64(),
            ) {
                out.push(format!("held-out accuracy {acc:.3} on {n} pairs"));
            }
            if let Some(b) = pair(
                &r["position_bias"]["share_first"],
                &r["position_bias"]["ci95"],
            ) {
                out.push(format!("first-shown option wins {b}"));
            }
        }
        "self-preference" => {
            if let Some(judges) = r["judges"].as_object() {
                for (j, v) in judges {
                    if let (Some(sp), Some(first)) = (
                        estimate(&v["self_preference"]),
                        estimate(&v["first_option_rate"]),
                    ) {
                        out.push(format!(
                            "judge {j}: prefers its own output {sp}; first-shown wins {first}"
                        ));
                    }
                }
            }
        }
        "robustness" => {
            let g = &r["regression"];
            if let Some(r2) = num(&g["r2"]) {
                // A demo-sized design is nearly saturated (few configuration pairs
                // per coefficient), so its bootstrap interval says little: the
                // report has it.
                out.push(format!(
                    "factor regression of the runs' utility agreement: R² {r2:.3} from {} pairs \
                     of configurations for {} coefficients (rank {})",
                    g["n_pairs"], g["p"], g["rank"]
                ));
            }
            if let Some(c) = num(&r["mean_hard_cycle_rate"]) {
                out.push(format!(
                    "hard-cycle rate over triads {c:.3} (random choices: 0.25)"
                ));
            }
            if let Some(p) = num(&r["positivity"]["overall_logprobs"]["positive"]) {
                out.push(format!(
                    "self-reports positive by probabilities: {:.0}%",
                    100.0 * p
                ));
            }
        }
        "probe" => {
            for h in r["headlines"].as_array().into_iter().flatten() {
                if let (Some(t), Some(v)) = (h["target"].as_str(), h["verdict"].as_str()) {
                    let value = pair(&h["value"]["value"], &h["value"]["ci95"]).unwrap_or_default();
                    out.push(format!(
                        "{t}: best site {}, held-out {} {value}; {v}",
                        h["site"].as_str().unwrap_or("?"),
                        h["metric"].as_str().unwrap_or("?")
                    ));
                }
            }
            if let Some(f) = pair(
                &r["choices"]["first_shown_share"][0],
                &r["choices"]["first_shown_share"][1],
            ) {
                out.push(format!("first-shown option wins {f}"));
            }
        }
        _ => {}
    }
    out
}

/// `x [lo, hi]` from a value and a `[lo, hi]` array.
fn pair(v: &Value, ci: &Value) -> Option<String> {
    Some(format!(
        "{:.3} [{:.3}, {:.3}]",
        num(v)?,
        num(&ci[0])?,
        num(&ci[1])?
    ))
}

/// The report's warnings: the text of every `> [!WARNING]` block.
pub fn warnings(report_md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in report_md.lines() {
        if line.trim() == "> [!WARNING]" {
            if let Some(w) = current.take() {
                out.push(w);
            }
            current = Some(String::new());
        } else if let (Some(w), Some(rest)) = (current.as_mut(), line.strip_prefix('>')) {
            if !w.is_empty() {
                w.push(' ');
            }
            w.push_str(rest.trim());
        } else if let Some(w) = current.take() {
            out.push(w);
        }
    }
    out.extend(current);
    out.into_iter().filter(|w| !w.is_empty()).collect()
}

/// The run's plots (`plots/*.png`), sorted, relative to the demo directory.
fn plots(out: &Path, bin: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(out.join(bin).join("plots"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .filter_map(|p| p.strip_prefix(out).ok().map(Path::to_path_buf))
        .collect();
    v.sort();
    v
}

/// Writes `out/index.html` for `studies` (their run directories are `out/<bin>`).
pub fn write(out: &Path, studies: &[DemoStudy]) -> Result<PathBuf> {
    let mut h = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>pref demo: six studies</title>\n<style>\
         body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
         section{border-top:1px solid #ccc;margin-top:2em;padding-top:1em}\
         .warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.4em .8em;margin:.4em 0}\
         img{max-width:100%;border:1px solid #eee;margin:.5em 0}\
         li{margin:.2em 0}code{background:#f4f4f4;padding:0 .2em}\
         </style></head><body>\n<h1>pref: six preference studies on the embedded models</h1>\n\
         <p>Each study below ran small, on SmolLM2-135M-Instruct, Gemma-3-270M and \
         all-MiniLM-L6-v2 and the project's fixtures (<code>cargo xtask demo</code>). The \
         models are tiny: their preferences are mostly position bias, and the reports say \
         so with intervals. Every number links back to its report.</p>\n<ul>\n",
    );
    for s in studies {
        let _ = writeln!(
            h,
            "<li><a href=\"#{0}\">{0}</a>: {1}</li>",
            s.bin,
            esc(s.question)
        );
    }
    h.push_str("</ul>\n");
    for s in studies {
        let dir = out.join(s.bin);
        let results: Value = fs::read(dir.join("results.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let report = fs::read_to_string(dir.join("report.md")).unwrap_or_default();
        let _ = writeln!(
            h,
            "<section id=\"{0}\"><h2>{0}</h2><p>{1}</p>\n<p><a href=\"{0}/index.html\">the run</a> · \
             <a href=\"{0}/report.md\">report.md</a> · <a href=\"{0}/results.json\">results.json</a></p>",
            s.bin,
            esc(s.question)
        );
        let lines = headlines(s.bin, &results);
        if !lines.is_empty() {
            h.push_str("<ul>\n");
            for l in lines {
                let _ = writeln!(h, "<li>{}</li>", esc(&l));
            }
            h.push_str("</ul>\n");
        }
        for w in warnings(&report) {
            let _ = writeln!(h, "<div class=\"warn\">{}</div>", esc(&w.replace("**", "")));
        }
        for p in plots(out, s.bin) {
            let rel = p.to_string_lossy().replace('\\', "/");
            let _ = writeln!(
                h,
                "<p><img src=\"{}\" alt=\"{}\"></p>",
                esc(&rel),
                esc(&rel)
            );
        }
        h.push_str("</section>\n");
    }
    h.push_str("</body></html>\n");
    let path = out.join("index.html");
    fs::write(&path, h).with_context(|| format!("could not write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_read_from_the_report() {
        let md = "# T\n\n> [!WARNING]\n> first line\n> second\n\ntext\n\n> [!WARNING]\n> **Not reliable:** x\n";
        assert_eq!(
            warnings(md),
            vec!["first line second", "**Not reliable:** x"]
        );
    }
}
