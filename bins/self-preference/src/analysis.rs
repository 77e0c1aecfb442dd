//! From judgments to measures: pref-rank computes every one
//! (`pref_rank::judge_measures`: self-preference, position bias, order flips, win
//! rates and shares with cluster-bootstrap intervals, recognition, ratings of the
//! authors, self-bias, the comparison with a ground-truth leaderboard); this module
//! turns records into decisions and counts the unparseable ones. Shared by `run`,
//! `analyze` and `merge`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pref_data::RunDir;
use pref_rank::judge_measures::{judge_measures, JudgeMeasures, ReferenceBoard};
use pref_rank::judges::{read_judge_decisions, JudgeAnalysisParams, JudgeDecision};
use serde::{Deserialize, Serialize};

use crate::config::{Config, GroundTruth};
use pref_elicit::judging::{Decisions, Judgment};

/// Every measure, with a run's unparseable answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measures {
    /// The judge statistics.
    #[serde(flatten)]
    pub all: JudgeMeasures,
    /// Unparseable answers (runs; `analyze` reads parsed decisions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparseable: Option<pref_study::Unparseable>,
}

impl std::ops::Deref for Measures {
    type Target = JudgeMeasures;
    fn deref(&self) -> &JudgeMeasures {
        &self.all
    }
}

/// [`judge_measures`] with the configured leaderboard.
fn measures(
    preference: &[JudgeDecision],
    recognition: &[JudgeDecision],
    authors: &[String],
    unparseable: &BTreeMap<String, BTreeMap<String, usize>>,
    params: &JudgeAnalysisParams,
    ground_truth: Option<&GroundTruth>,
) -> Result<Measures> {
    let board = ground_truth.map(|g| ReferenceBoard {
        file: &g.file,
        category: g.category.as_deref(),
        names: &g.names,
    });
    let all = judge_measures(
        preference,
        recognition,
        authors,
        unparseable,
        params,
        board.as_ref(),
    )
    .with_context(|| match ground_truth {
        Some(g) => format!("with ground_truth.file {}", g.file.display()),
        None => "analysing the judgments".into(),
    })?;
    Ok(Measures {
        all,
        unparseable: None,
    })
}

fn params(bootstrap: usize, seed: u64) -> JudgeAnalysisParams {
    JudgeAnalysisParams::default()
        .bootstrap(bootstrap)
        .seed(seed)
}

/// The analysis of a run's judgments.
pub fn analyse(cfg: &Config, judgments: &[Judgment]) -> Result<Measures> {
    let s = Decisions::of(judgments);
    let authors: Vec<String> = cfg.authors.iter().map(|a| a.name.clone()).collect();
    let mut out = measures(
        &s.preference,
        &s.recognition,
        &authors,
        &s.unparseable,
        &params(cfg.analysis.bootstrap, cfg.analysis.seed),
        cfg.ground_truth.as_ref(),
    )?;
    out.unparseable = Some(pref_study::Unparseable {
        count: s.n_unparseable(),
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
