//! `status` and `--dry-run`, the same for every study: per stage, the jobs
//! planned, recorded, unparseable and already answered by the model cache, and
//! the model calls still needed. Read-only: nothing here writes to a run.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One planned job of a stage, known before any model call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedJob {
    /// The record id it will be written under.
    pub id: String,
    /// Whether it is answered without a model call (the cache holds the answer,
    /// or the job needs no model); `None` when that cannot be known yet (the
    /// prompt depends on an earlier stage's answers).
    pub cached: Option<bool>,
}

/// A stage as planned: what `status` and `--dry-run` report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePlan {
    /// Stage name.
    pub stage: String,
    /// Its record log (`records/<log>.jsonl`).
    pub log: String,
    /// Jobs (records) planned.
    pub planned: usize,
    /// Whether `planned` is an upper bound (the jobs depend on answers, as in
    /// active learning).
    pub upper_bound: bool,
    /// The jobs, when they are known before asking.
    pub jobs: Option<Vec<PlannedJob>>,
    /// The record field that is `null` in an unparseable answer (e.g. `choice`).
    pub unparseable_field: Option<String>,
}

impl StagePlan {
    /// A stage whose jobs are known before asking.
    pub fn known(stage: &str, log: &str, jobs: Vec<PlannedJob>) -> Self {
        Self {
            stage: stage.into(),
            log: log.into(),
            planned: jobs.len(),
            upper_bound: false,
            jobs: Some(jobs),
            unparseable_field: None,
        }
    }

    /// A stage of at most `planned` jobs chosen while it runs: every record of its
    /// log counts as this stage's.
    pub fn at_most(stage: &str, log: &str, planned: usize) -> Self {
        Self {
            stage: stage.into(),
            log: log.into(),
            planned,
            upper_bound: true,
            jobs: None,
            unparseable_field: None,
        }
    }

    /// Names the field that is `null` in an unparseable answer.
    pub fn unparseable_when_null(mut self, field: &str) -> Self {
        self.unparseable_field = Some(field.into());
        self
    }
}

/// A stage's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageStatus {
    /// Stage name.
    pub stage: String,
    /// Its record log.
    pub log: String,
    /// Jobs planned.
    pub planned: usize,
    /// Whether `planned` is an upper bound.
    pub planned_is_upper_bound: bool,
    /// Planned jobs with a record.
    pub recorded: usize,
    /// Of those, unparseable answers (kept in the log).
    pub unparseable: usize,
    /// Jobs without a record whose answer needs no model call (cache), when known.
    pub cached: Option<usize>,
    /// Jobs without a record.
    pub to_ask: usize,
    /// Model calls still needed: `to_ask − cached` (an upper bound where
    /// `cached` is unknown).
    pub calls_needed: usize,
    /// Line number of a torn last line (a killed writer's) that a resume will drop.
    pub torn_last_line: Option<u64>,
}

/// The progress of a run (or of a plan, for `--dry-run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The study.
    pub study: String,
    /// The run directory (`None` for the plan of a new run).
    pub run: Option<PathBuf>,
    /// Stage by stage.
    pub stages: Vec<StageStatus>,
    /// Model calls the rest of the run needs at most.
    pub expected_model_calls: usize,
    /// Whether the run has finished: `results.json`, `report.md` and `index.html`
    /// (written last) exist.
    pub finished: bool,
    /// What the study adds (its items, models, …).
    pub details: serde_json::Value,
}

/// The status of `plans` against the records in `dir` (none for a new run).
pub fn status(
    study: &str,
    dir: Option<&Path>,
    plans: &[StagePlan],
    details: serde_json::Value,
) -> Result<Status> {
    let mut stages = Vec::with_capacity(plans.len());
    for p in plans {
        let (entries, torn_line) = match dir {
            Some(d) => {
                let log = d.join("records").join(format!("{}.jsonl", p.log));
                let s = pref_data::scan_records::<serde_json::Value>(&log)?;
                (s.entries, s.torn_line)
            }
            None => (Vec::new(), None),
        };
        let unparseable_of = |v: &serde_json::Value| {
            p.unparseable_field
                .as_deref()
                .is_some_and(|f| v.get(f).is_some_and(serde_json::Value::is_null))
        };
        let (recorded, unparseable, cached) = match &p.jobs {
            Some(jobs) => {
                let planned: HashSet<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
                let mut recorded_ids = HashSet::new();
                let mut unparseable = 0;
                for (id, v) in &entries {
                    if planned.contains(id.as_str()) {
                        recorded_ids.insert(id.as_str());
                        unparseable += usize::from(unparseable_of(v));
                    }
                }
                let cached = jobs
                    .iter()
                    .filter(|j| !recorded_ids.contains(j.id.as_str()))
                    .map(|j| j.cached.map(usize::from))
                    .sum::<Option<usize>>();
                (recorded_ids.len(), unparseable, cached)
            }
            None => (
                entries.len(),
                entries.iter().filter(|(_, v)| unparseable_of(v)).count(),
                None,
            ),
        };
        let to_ask = p.planned.saturating_sub(recorded);
        stages.push(StageStatus {
            stage: p.stage.clone(),
            log: p.log.clone(),
            planned: p.planned,
            planned_is_upper_bound: p.upper_bound,
            recorded,
            unparseable,
            cached,
            to_ask,
            calls_needed: to_ask - cached.unwrap_or(0).min(to_ask),
            torn_last_line: torn_line,
        });
    }
    // index.html is the report's last file: a kill while the report is written
    // leaves the run unfinished (and a resume writes the report again).
    let finished = dir.is_some_and(|d| {
        ["results.json", "report.md", "index.html"]
            .iter()
            .all(|f| d.join(f).is_file())
    });
    Ok(Status {
        study: study.into(),
        run: dir.map(Path::to_path_buf),
        expected_model_calls: stages.iter().map(|s| s.calls_needed).sum(),
        stages,
        finished,
        details,
    })
}

impl Status {
    /// The status of one stage.
    pub fn stage(&self, name: &str) -> Option<&StageStatus> {
        self.stages.iter().find(|s| s.stage == name)
    }
}
