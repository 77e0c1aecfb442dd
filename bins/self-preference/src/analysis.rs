//! From judgments to measures: pref-rank's judge statistics (self-preference,
//! position bias, order flips, win rates, all with cluster-bootstrap
//! intervals), recognition (the same statistics on "which did you write?"),
//! judge × author heatmaps, Bradley–Terry ratings of the authors, self-bias,
//! and the comparison with a ground-truth leaderboard. Shared by `run`,
//! `analyze` and `merge`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pref_data::{RecordLog, RunDir, Winner};
use pref_rank::judges::{
    against_reference, analyze, judge_point_ratings, judge_ratings, read_judge_decisions,
    self_bias, JudgeAnalysisParams, JudgeDecision,
};
use serde_json::{json, Value};

use crate::config::{Config, GroundTruth};
use crate::study::{Judgment, Question};

/// A parsed judgment as a pref-rank decision (`None` when unparseable).
pub fn to_decision(j: &Judgment) -> Option<JudgeDecision> {
    let winner = match j.winner.as_deref()? {
        "model_a" => Winner::A,
        "model_b" => Winner::B,
        _ => Winner::Tie,
    };
    Some(JudgeDecision {
        question_id: j.question_id.clone(),
        model_a: j.model_a.clone(),
        model_b: j.model_b.clone(),
        winner,
        judge: j.judge.clone(),
        order: Some(j.order.clone()),
        choice_prob: j.choice_prob,
    })
}

/// Share of `judge`'s decisions involving `author` that `author` won (ties ½);
/// NaN when there are none.
fn win_share(decisions: &[JudgeDecision], judge: &str, author: &str) -> f64 {
    let (mut won, mut n) = (0.0, 0usize);
    for d in decisions
        .iter()
        .filter(|d| d.judge == judge && (d.model_a == author || d.model_b == author))
    {
        n += 1;
        won += match d.winner_model() {
            Some(w) if w == author => 1.0,
            Some(_) => 0.0,
            None => 0.5,
        };
    }
    if n == 0 {
        f64::NAN
    } else {
        won / n as f64
    }
}

/// Every measure, as the JSON `results.json` holds. `authors` fixes the
/// heatmaps' column order; `unparseable` is `{judge: {question: count}}`.
pub fn measures(
    preference: &[JudgeDecision],
    recognition: &[JudgeDecision],
    authors: &[String],
    unparseable: &BTreeMap<String, BTreeMap<String, usize>>,
    params: &JudgeAnalysisParams,
    ground_truth: Option<&GroundTruth>,
) -> Result<Value> {
    if preference.is_empty() {
        bail!("no parseable preference judgment to analyse");
    }
    let a = analyze(preference, params)?;
    let mut out = serde_json::to_value(&a)?;
    let judges: Vec<String> = a.judges.keys().cloned().collect();
    let recog = if recognition.is_empty() {
        None
    } else {
        Some(analyze(recognition, params)?)
    };
    if let Some(r) = &recog {
        for (j, s) in &r.judges {
            out["judges"][j]["recognition"] = json!(s.self_preference);
            out["judges"][j]["recognition_prob"] = json!(s.self_preference_prob);
            out["judges"][j]["recognition_first_option_rate"] = json!(s.first_option_rate);
            out["judges"][j]["n_recognition"] = json!(s.n_own);
        }
    }
    for (j, u) in unparseable {
        if out["judges"].get(j).is_some() {
            out["judges"][j]["unparseable"] = json!(u);
        }
    }
    let pref_grid: Vec<Vec<f64>> = judges
        .iter()
        .map(|j| {
            authors
                .iter()
                .map(|x| win_share(preference, j, x))
                .collect()
        })
        .collect();
    // Recognition cell (j, x): share of j's "which did you write?" decisions
    // between its own output and x's where it picked its own (ties ½): the
    // recognition analysis' win rate of j against x.
    let recog_grid: Vec<Vec<f64>> = judges
        .iter()
        .map(|j| {
            let vs = recog
                .as_ref()
                .and_then(|r| r.judges.get(j))
                .map(|s| &s.win_rate_vs);
            authors
                .iter()
                .map(|x| vs.and_then(|v| v.get(x)).copied().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    // JSON has no NaN: missing cells are null.
    let grid_json = |g: &Vec<Vec<f64>>| -> Value {
        json!(g
            .iter()
            .map(|r| r
                .iter()
                .map(|v| v.is_finite().then_some(*v))
                .collect::<Vec<_>>())
            .collect::<Vec<_>>())
    };
    out["heatmaps"] = json!({
        "judges": judges,
        "authors": authors,
        "preference": grid_json(&pref_grid),
        "recognition": (!recognition.is_empty()).then(|| grid_json(&recog_grid)),
    });

    // Ratings of the authors by all judges, self-bias, and the ground truth.
    // A design whose fits are not identified is reported, not fatal.
    match judge_ratings(preference, None, params) {
        Ok(r) => {
            if let Some(g) = ground_truth {
                let board = pref_data::loaders::load_leaderboard(&g.file, g.category.as_deref())
                    .with_context(|| format!("ground_truth.file {}", g.file.display()))?;
                let reference: Vec<(String, f64)> =
                    board.iter().map(|e| (e.model.clone(), e.rating)).collect();
                let cmp = against_reference(&r.estimates(), &reference, &g.names)?;
                // Self-bias against the reference: each judge's own ratings of all
                // authors, set against the leaderboard; the judge's centred rating
                // of itself minus its centred leaderboard rating.
                let mut vs_reference = BTreeMap::new();
                for j in &judges {
                    // Point estimates only: the bootstrap's refits would go unused.
                    let own = match judge_point_ratings(
                        preference,
                        Some(std::slice::from_ref(j)),
                        params,
                    ) {
                        Ok(own) => own,
                        Err(e) => {
                            vs_reference.insert(j.clone(), json!({"error": e.to_string()}));
                            continue;
                        }
                    };
                    let c = against_reference(&own, &reference, &g.names)?;
                    let me = c.matched.iter().find(|m| &m.model == j);
                    vs_reference.insert(
                        j.clone(),
                        match me {
                            Some(m) => json!({"self_bias": m.difference, "n_matched": c.n_matched,
                                              "rating_by_self_centred": m.rating_centred,
                                              "reference_centred": m.reference_centred}),
                            None => json!({"self_bias": null,
                                           "reason": "the judge is not in the reference (see missing_from_reference)"}),
                        },
                    );
                }
                out["ground_truth"] = json!({"file": g.file, "category": g.category,
                    "comparison": cmp, "self_bias_vs_reference": vs_reference});
            }
            out["ratings"] = serde_json::to_value(&r)?;
        }
        Err(e) => out["ratings"] = json!({"error": e.to_string()}),
    }
    out["self_bias"] = match self_bias(preference, params) {
        Ok(s) => serde_json::to_value(&s)?,
        Err(e) => json!({"error": e.to_string()}),
    };
    Ok(out)
}

fn params(bootstrap: usize, seed: u64) -> JudgeAnalysisParams {
    JudgeAnalysisParams::default()
        .bootstrap(bootstrap)
        .seed(seed)
}

/// Splits judgments into parsed preference and recognition decisions and counts
/// the unparseable ones per judge and question.
#[allow(clippy::type_complexity)]
fn split(
    judgments: &[Judgment],
) -> (
    Vec<JudgeDecision>,
    Vec<JudgeDecision>,
    BTreeMap<String, BTreeMap<String, usize>>,
) {
    let (mut pref, mut recog) = (Vec::new(), Vec::new());
    let mut unparseable: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for j in judgments {
        let q = match j.question {
            Question::Preference => "preference",
            Question::Recognition => "recognition",
        };
        match (to_decision(j), j.question) {
            (Some(d), Question::Preference) => pref.push(d),
            (Some(d), Question::Recognition) => recog.push(d),
            (None, _) => {
                *unparseable
                    .entry(j.judge.clone())
                    .or_default()
                    .entry(q.to_string())
                    .or_default() += 1
            }
        }
    }
    (pref, recog, unparseable)
}

/// The analysis of a run's judgments.
pub fn analyse(cfg: &Config, judgments: &[Judgment]) -> Result<Value> {
    let (pref, recog, unparseable) = split(judgments);
    let authors: Vec<String> = cfg.authors.iter().map(|a| a.name.clone()).collect();
    let mut out = measures(
        &pref,
        &recog,
        &authors,
        &unparseable,
        &params(cfg.analysis.bootstrap, cfg.analysis.seed),
        cfg.ground_truth.as_ref(),
    )?;
    let n_unparseable: usize = unparseable.values().flat_map(|m| m.values()).sum();
    out["unparseable"] = json!({"count": n_unparseable, "of": judgments.len(),
        "policy": "kept in records/judgments.jsonl with winner null; left out of every measure"});
    Ok(out)
}

/// `self-preference analyze FILE`: every measure from recorded judgments.
pub fn analyze_file(
    file: &Path,
    out: Option<&Path>,
    bootstrap: usize,
    seed: u64,
    ground_truth: Option<GroundTruth>,
) -> Result<Value> {
    let decisions = read_judge_decisions(file)?;
    let authors: Vec<String> = decisions
        .iter()
        .flat_map(|d| [d.model_a.clone(), d.model_b.clone()])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut v = measures(
        &decisions,
        &[],
        &authors,
        &BTreeMap::new(),
        &params(bootstrap, seed),
        ground_truth.as_ref(),
    )?;
    v["source"] = json!(file);
    if let Some(dir) = out {
        write_out(
            dir,
            &v,
            &format!("Self-preference of the judges in `{}`", file.display()),
        )?;
    }
    Ok(v)
}

/// `self-preference merge RUN… --out DIR`: one analysis over the judgments of
/// several runs of the same design (a question asked in two runs counts once).
pub fn merge(runs: &[PathBuf], out: &Path) -> Result<Value> {
    let mut first: Option<Config> = None;
    let mut seen = HashSet::new();
    let mut judgments = Vec::new();
    for dir in runs {
        let run = RunDir::open(dir)?;
        let cfg: Config = run.config()?;
        let names = |c: &Config| c.authors.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
        if let Some(f) = &first {
            if names(f) != names(&cfg) {
                bail!(
                    "{}: its authors {:?} differ from the first run's {:?}; merge runs of one design",
                    dir.display(),
                    names(&cfg),
                    names(f)
                );
            }
        } else {
            first = Some(cfg.clone());
        }
        let log: RecordLog<Judgment> = run.records("judgments")?;
        for j in log.records() {
            let key = (
                j.judge.clone(),
                j.question_id.clone(),
                j.model_a.clone(),
                j.model_b.clone(),
                j.question,
            );
            if seen.insert(key) {
                judgments.push(j.clone());
            }
        }
    }
    let cfg = first.context("no run directory given")?;
    let mut v = analyse(&cfg, &judgments)?;
    v["runs"] = json!(runs);
    v["n_judgments"] = json!(judgments.len());
    write_out(out, &v, "Self-preference (merged runs)")?;
    Ok(v)
}

fn write_out(dir: &Path, v: &Value, title: &str) -> Result<()> {
    std::fs::create_dir_all(dir.join("plots"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    pref_data::write_json_atomic(dir.join("results.json"), v)?;
    crate::report::write_report(dir, title, v)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(q: &str, a: &str, b: &str, w: Winner, judge: &str) -> JudgeDecision {
        JudgeDecision {
            question_id: q.into(),
            model_a: a.into(),
            model_b: b.into(),
            winner: w,
            judge: judge.into(),
            order: None,
            choice_prob: None,
        }
    }

    #[test]
    fn heatmap_cells_count_wins_and_ties() {
        // Judge x: x beats y (first shown), y beats x, x vs z tie, y vs z: z wins.
        let ds = [
            d("1", "x", "y", Winner::A, "x"),
            d("1", "y", "x", Winner::A, "x"),
            d("2", "x", "z", Winner::Tie, "x"),
            d("2", "y", "z", Winner::B, "x"),
        ];
        // x: won 1 of 2 against y, ½ against z → (1 + 0 + ½) / 3.
        assert!((win_share(&ds, "x", "x") - 0.5).abs() < 1e-12);
        // y: 1 win of 3 decisions involving y.
        assert!((win_share(&ds, "x", "y") - 1.0 / 3.0).abs() < 1e-12);
        // z: tie (½) and a win: 1.5 / 2.
        assert!((win_share(&ds, "x", "z") - 0.75).abs() < 1e-12);
        assert!(win_share(&ds, "nobody", "x").is_nan());
        // Read as recognition decisions: x picks itself against y once of two,
        // and its "recognition" against z is the tie.
        let r = analyze(&ds, &JudgeAnalysisParams::default().bootstrap(1)).unwrap();
        let vs = &r.judges["x"].win_rate_vs;
        assert_eq!(vs.len(), 2);
        assert!((vs["y"] - 0.5).abs() < 1e-12);
        assert!((vs["z"] - 0.5).abs() < 1e-12);
    }
}
