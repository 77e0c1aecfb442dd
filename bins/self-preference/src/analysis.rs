//! From judgments to measures, all computed by pref-rank's judge statistics
//! (self-preference, position bias, order flips, win rates and win shares with
//! cluster-bootstrap intervals; recognition as the same statistics on "which did
//! you write?"; Bradley–Terry ratings of the authors; self-bias; the comparison
//! with a ground-truth leaderboard). Shared by `run`, `analyze` and `merge`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pref_data::RunDir;
use pref_rank::judges::{
    against_reference, analyze, judge_ratings, read_judge_decisions, self_bias,
    self_bias_vs_reference, win_share_grid, Estimate, JudgeAnalysisParams, JudgeDecision,
    JudgeRatings, JudgeStats, ReferenceComparison, SelfBias, SelfBiasVsReference,
};
use serde::{Deserialize, Serialize};

use crate::config::{Config, GroundTruth};
use crate::study::{Judgment, Question};

/// A parsed judgment as a pref-rank decision (`None` when unparseable).
pub fn to_decision(j: &Judgment) -> Option<JudgeDecision> {
    Some(JudgeDecision {
        question_id: j.question_id.clone(),
        model_a: j.model_a.clone(),
        model_b: j.model_b.clone(),
        winner: j.winner?.into(),
        judge: j.judge.clone(),
        order: Some(j.order.as_str().to_string()),
        choice_prob: j.choice_prob,
    })
}

/// One judge's statistics, with recognition beside its preferences.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JudgeEntry {
    /// Preference statistics.
    #[serde(flatten)]
    pub stats: JudgeStats,
    /// Share of "which did you write?" answers naming its own output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition: Option<Estimate>,
    /// Mean probability given to its own output on that question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition_prob: Option<Estimate>,
    /// First-shown option's share on that question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition_first_option_rate: Option<Estimate>,
    /// Recognition decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_recognition: Option<usize>,
    /// Unparseable answers by question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparseable: Option<BTreeMap<String, usize>>,
}

/// Judge × author grids (`null` where a judge made no such decision).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heatmaps {
    /// Rows.
    pub judges: Vec<String>,
    /// Columns.
    pub authors: Vec<String>,
    /// Share of the judge's decisions involving the author that the author won.
    pub preference: Vec<Vec<Option<f64>>>,
    /// Share of own-vs-author recognition questions answered with its own output.
    pub recognition: Option<Vec<Vec<Option<f64>>>>,
}

/// A measure, or why it could not be computed (a design that does not identify it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Fallible<T> {
    /// Computed.
    Ok(T),
    /// Not computed.
    Failed {
        /// Why.
        error: String,
    },
}

impl<T> Fallible<T> {
    fn of(r: pref_rank::Result<T>) -> Self {
        r.map_or_else(
            |e| Self::Failed {
                error: e.to_string(),
            },
            Self::Ok,
        )
    }
}

/// The ratings set against a leaderboard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroundTruthResult {
    /// The leaderboard file.
    pub file: PathBuf,
    /// Its category.
    pub category: Option<String>,
    /// All judges' ratings against it.
    pub comparison: ReferenceComparison,
    /// Each judge's own ratings against it.
    pub self_bias_vs_reference: BTreeMap<String, SelfBiasVsReference>,
}

pub use pref_study::Unparseable;

/// Every measure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measures {
    /// Per judge.
    pub judges: BTreeMap<String, JudgeEntry>,
    /// Parsed preference decisions.
    pub n_decisions: usize,
    /// Tasks (bootstrap clusters).
    pub n_questions: usize,
    /// Bootstrap replicates.
    pub bootstrap: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Interval level.
    pub level: f64,
    /// Judge × author grids.
    pub heatmaps: Heatmaps,
    /// Bradley–Terry ratings of the authors by all judges.
    pub ratings: Fallible<JudgeRatings>,
    /// The ratings against a leaderboard, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ground_truth: Option<GroundTruthResult>,
    /// Each judge's rating of itself against the others' rating of it.
    pub self_bias: Fallible<SelfBias>,
    /// Unparseable answers (runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparseable: Option<Unparseable>,
}

/// Every measure. `authors` fixes the heatmaps' column order; `unparseable` is
/// `{judge: {question: count}}`.
pub fn measures(
    preference: &[JudgeDecision],
    recognition: &[JudgeDecision],
    authors: &[String],
    unparseable: &BTreeMap<String, BTreeMap<String, usize>>,
    params: &JudgeAnalysisParams,
    ground_truth: Option<&GroundTruth>,
) -> Result<Measures> {
    if preference.is_empty() {
        bail!("no parseable preference judgment to analyse");
    }
    let a = analyze(preference, params)?;
    let recog = if recognition.is_empty() {
        None
    } else {
        Some(analyze(recognition, params)?)
    };
    let judges: Vec<String> = a.judges.keys().cloned().collect();
    let entries = a
        .judges
        .iter()
        .map(|(j, s)| {
            let r = recog.as_ref().and_then(|r| r.judges.get(j));
            let entry = JudgeEntry {
                stats: s.clone(),
                recognition: r.and_then(|r| r.self_preference),
                recognition_prob: r.and_then(|r| r.self_preference_prob),
                recognition_first_option_rate: r.map(|r| r.first_option_rate),
                n_recognition: r.map(|r| r.n_own),
                unparseable: unparseable.get(j).cloned(),
            };
            (j.clone(), entry)
        })
        .collect();
    // Recognition cell (j, x): the recognition analysis' win rate of j against x
    // (share of "which did you write?" between its output and x's naming its own).
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
    let cells = |g: Vec<Vec<f64>>| -> Vec<Vec<Option<f64>>> {
        g.into_iter()
            .map(|r| r.into_iter().map(|v| v.is_finite().then_some(v)).collect())
            .collect()
    };
    let heatmaps = Heatmaps {
        preference: cells(win_share_grid(preference, &judges, authors)),
        recognition: recog.is_some().then(|| cells(recog_grid)),
        judges: judges.clone(),
        authors: authors.to_vec(),
    };

    // Ratings of the authors by all judges, self-bias, and the ground truth. A
    // design whose fits are not identified is reported, not fatal.
    let ratings = judge_ratings(preference, None, params);
    let ground_truth = match (&ratings, ground_truth) {
        (Ok(r), Some(g)) => {
            let board = pref_data::loaders::load_leaderboard(&g.file, g.category.as_deref())
                .with_context(|| format!("ground_truth.file {}", g.file.display()))?;
            let reference: Vec<(String, f64)> =
                board.iter().map(|e| (e.model.clone(), e.rating)).collect();
            Some(GroundTruthResult {
                file: g.file.clone(),
                category: g.category.clone(),
                comparison: against_reference(&r.estimates(), &reference, &g.names)?,
                self_bias_vs_reference: self_bias_vs_reference(
                    preference, &judges, &reference, &g.names, params,
                )?,
            })
        }
        _ => None,
    };
    Ok(Measures {
        judges: entries,
        n_decisions: a.n_decisions,
        n_questions: a.n_questions,
        bootstrap: a.bootstrap,
        seed: a.seed,
        level: a.level,
        heatmaps,
        ratings: Fallible::of(ratings),
        ground_truth,
        self_bias: Fallible::of(self_bias(preference, params)),
        unparseable: None,
    })
}

fn params(bootstrap: usize, seed: u64) -> JudgeAnalysisParams {
    JudgeAnalysisParams::default()
        .bootstrap(bootstrap)
        .seed(seed)
}

/// Parsed preference and recognition decisions, and the unparseable answers
/// counted per judge and question.
struct Split {
    preference: Vec<JudgeDecision>,
    recognition: Vec<JudgeDecision>,
    unparseable: BTreeMap<String, BTreeMap<String, usize>>,
}

fn split(judgments: &[Judgment]) -> Split {
    let mut s = Split {
        preference: Vec::new(),
        recognition: Vec::new(),
        unparseable: BTreeMap::new(),
    };
    for j in judgments {
        match (to_decision(j), j.question) {
            (Some(d), Question::Preference) => s.preference.push(d),
            (Some(d), Question::Recognition) => s.recognition.push(d),
            (None, q) => {
                let q = match q {
                    Question::Preference => "preference",
                    Question::Recognition => "recognition",
                };
                *s.unparseable
                    .entry(j.judge.clone())
                    .or_default()
                    .entry(q.to_string())
                    .or_default() += 1
            }
        }
    }
    s
}

/// The analysis of a run's judgments.
pub fn analyse(cfg: &Config, judgments: &[Judgment]) -> Result<Measures> {
    let s = split(judgments);
    let authors: Vec<String> = cfg.authors.iter().map(|a| a.name.clone()).collect();
    let mut out = measures(
        &s.preference,
        &s.recognition,
        &authors,
        &s.unparseable,
        &params(cfg.analysis.bootstrap, cfg.analysis.seed),
        cfg.ground_truth.as_ref(),
    )?;
    out.unparseable = Some(Unparseable {
        count: s.unparseable.values().flat_map(|m| m.values()).sum(),
        of: judgments.len(),
        policy: "kept in records/judgments.jsonl with winner null; left out of every measure"
            .into(),
    });
    Ok(out)
}

/// What `analyze` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Analyzed {
    /// Every measure.
    #[serde(flatten)]
    pub measures: Measures,
    /// The judgments' file.
    pub source: PathBuf,
}

/// `self-preference analyze FILE`: every measure from recorded judgments.
pub fn analyze_file(
    file: &Path,
    out: Option<&Path>,
    bootstrap: usize,
    seed: u64,
    ground_truth: Option<GroundTruth>,
) -> Result<Analyzed> {
    let decisions = read_judge_decisions(file)?;
    let authors: Vec<String> = decisions
        .iter()
        .flat_map(|d| [d.model_a.clone(), d.model_b.clone()])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let measures = measures(
        &decisions,
        &[],
        &authors,
        &BTreeMap::new(),
        &params(bootstrap, seed),
        ground_truth.as_ref(),
    )?;
    let v = Analyzed {
        measures,
        source: file.to_path_buf(),
    };
    if let Some(dir) = out {
        let title = format!("Self-preference of the judges in `{}`", file.display());
        write_out(dir, &v, &v.measures, &title)?;
    }
    Ok(v)
}

/// What `merge` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Merged {
    /// Every measure.
    #[serde(flatten)]
    pub measures: Measures,
    /// The run directories.
    pub runs: Vec<PathBuf>,
    /// Distinct judgments pooled.
    pub n_judgments: usize,
}

/// `self-preference merge RUN… --out DIR`: one analysis over the judgments of
/// several runs of the same design (a question asked in two runs counts once).
pub fn merge(runs: &[PathBuf], out: &Path) -> Result<Merged> {
    let mut first: Option<Config> = None;
    let mut seen = HashSet::new();
    let mut judgments = Vec::new();
    for dir in runs {
        let run = RunDir::open_existing(dir)?;
        let cfg: Config = run.config()?;
        let names = |c: &Config| c.authors.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
        match &first {
            Some(f) if names(f) != names(&cfg) => bail!(
                "{}: its authors {:?} differ from the first run's {:?}; merge runs of one design",
                dir.display(),
                names(&cfg),
                names(f)
            ),
            Some(_) => {}
            None => first = Some(cfg.clone()),
        }
        let log = pref_data::scan_records::<Judgment>(&run.records_path("judgments"))?;
        for (_, j) in log.entries {
            let key = (
                j.judge.clone(),
                j.question_id.clone(),
                j.model_a.clone(),
                j.model_b.clone(),
                j.question,
            );
            if seen.insert(key) {
                judgments.push(j);
            }
        }
    }
    let cfg = first.context("no run directory given")?;
    let v = Merged {
        measures: analyse(&cfg, &judgments)?,
        runs: runs.to_vec(),
        n_judgments: judgments.len(),
    };
    write_out(out, &v, &v.measures, "Self-preference (merged runs)")?;
    Ok(v)
}

fn write_out<T: Serialize>(dir: &Path, v: &T, measures: &Measures, title: &str) -> Result<()> {
    std::fs::create_dir_all(dir.join("plots"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    pref_data::write_json_atomic(dir.join("results.json"), v)?;
    crate::report::write_report(dir, title, None, measures)?;
    Ok(())
}
