//! All the measures of a judge study at once ([`judge_measures`]): what the
//! `self-preference` study reports (`docs/self-preference.md`), from the judge
//! statistics of [`crate::judges`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::judges::{
    against_reference, analyze, judge_ratings, self_bias, self_bias_vs_reference, win_share_grid,
    Estimate, JudgeAnalysisParams, JudgeDecision, JudgeRatings, JudgeStats, ReferenceComparison,
    SelfBias, SelfBiasVsReference,
};

/// A leaderboard to set the judges' ratings against.
#[derive(Debug, Clone, Copy)]
pub struct ReferenceBoard<'a> {
    /// The leaderboard file (any format `pref_data::loaders::load_leaderboard` reads).
    pub file: &'a Path,
    /// Its category (LMArena JSON).
    pub category: Option<&'a str>,
    /// Author name → leaderboard name (authors not listed keep their name).
    pub names: &'a BTreeMap<String, String>,
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
    fn of(r: Result<T>) -> Self {
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

/// Every measure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JudgeMeasures {
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
}

/// Every measure of a set of judge decisions: [`analyze`] of the preference
/// decisions, the same statistics of the recognition decisions ("which one did
/// you write?") beside them, judge × author heatmaps ([`win_share_grid`] and the
/// recognition win rates), Bradley–Terry ratings of the authors, [`self_bias`], and
/// with a reference leaderboard [`against_reference`] and
/// [`self_bias_vs_reference`]. `authors` fixes the heatmaps' column order;
/// `unparseable` is `{judge: {question: count}}`. Ratings and self-bias that the
/// design does not identify are reported ([`Fallible::Failed`]), not errors.
pub fn judge_measures(
    preference: &[JudgeDecision],
    recognition: &[JudgeDecision],
    authors: &[String],
    unparseable: &BTreeMap<String, BTreeMap<String, usize>>,
    params: &JudgeAnalysisParams,
    reference: Option<&ReferenceBoard<'_>>,
) -> Result<JudgeMeasures> {
    if preference.is_empty() {
        return Err(Error::InvalidInput(
            "no parseable preference judgment to analyse".into(),
        ));
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
    let ground_truth = match (&ratings, reference) {
        (Ok(r), Some(g)) => {
            let board = pref_data::loaders::load_leaderboard(g.file, g.category)?;
            let reference: Vec<(String, f64)> =
                board.iter().map(|e| (e.model.clone(), e.rating)).collect();
            Some(GroundTruthResult {
                file: g.file.to_path_buf(),
                category: g.category.map(String::from),
                comparison: against_reference(&r.estimates(), &reference, g.names)?,
                self_bias_vs_reference: self_bias_vs_reference(
                    preference, &judges, &reference, g.names, params,
                )?,
            })
        }
        _ => None,
    };
    Ok(JudgeMeasures {
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
    })
}
