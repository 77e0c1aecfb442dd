//! A stage of a study (generate, judge, score, …) and the one job loop every
//! study runs its model calls through. See `docs/architecture.md`.
//!
//! Each job has a deterministic record id. [`Stage::run`] skips the ids already
//! in the stage's record log, keeps up to `window` jobs in flight (a sliding
//! window: a new job starts as soon as any finishes, so one slow answer does not
//! idle the endpoint), appends each answer to the log as it arrives (one line,
//! one `write`), and advances the stage's progress bar. A job that fails stops
//! the stage with its id; every answer recorded before it stays recorded, and the
//! model cache holds every answer that arrived, so a resumed run repeats no call.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Mutex;

use futures::StreamExt;
use indicatif::ProgressBar;
use pref_data::RecordLog;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{BoxError, Error, Result};
use crate::models::{Calls, Models};
use crate::progress::progress;

/// What a stage did in this process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Jobs handed to the stage (over all its `run` calls, repeats included).
    pub jobs: usize,
    /// Jobs skipped because their record was already in the log.
    pub already_recorded: usize,
    /// Records appended by this process.
    pub recorded: usize,
    /// Of those, answers the study could not parse (kept in the log).
    pub unparseable: usize,
    /// Model calls during the stage, by model id.
    pub calls: BTreeMap<String, Calls>,
    /// Bytes of a torn last line (left by a killed writer) removed when the log was opened.
    pub repaired_bytes: u64,
    /// Jobs queued for the Batch API (nothing recorded; the run stops after the stage).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deferred: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Whether a job's error is a request queued for the Batch API.
fn is_deferred(e: &BoxError) -> bool {
    matches!(
        e.downcast_ref::<pref_llm::Error>(),
        Some(pref_llm::Error::Deferred { .. })
    )
}

/// The running program's name, for the commands a message suggests.
fn program() -> String {
    std::env::args_os()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "STUDY".into())
}

/// One stage of a run: its record log, progress bar and job loop.
pub struct Stage<'r, R> {
    name: String,
    dir: std::path::PathBuf,
    log: RecordLog<R>,
    bar: ProgressBar,
    window: usize,
    parsed: fn(&R) -> bool,
    models: &'r Models,
    runtime: &'r tokio::runtime::Runtime,
    ledger: &'r Mutex<BTreeMap<String, StageSummary>>,
}

impl<'r, R: Serialize + DeserializeOwned> Stage<'r, R> {
    pub(crate) fn new(
        name: &str,
        dir: &std::path::Path,
        log: RecordLog<R>,
        window: usize,
        models: &'r Models,
        runtime: &'r tokio::runtime::Runtime,
        ledger: &'r Mutex<BTreeMap<String, StageSummary>>,
    ) -> Self {
        let repaired = log.repaired_bytes();
        if let Ok(mut l) = ledger.lock() {
            l.entry(name.to_string()).or_default().repaired_bytes += repaired;
        }
        Self {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            log,
            bar: progress(0, name),
            window: window.max(1),
            parsed: |_| true,
            models,
            runtime,
            ledger,
        }
    }

    /// Sets how an answer counts as parsed (unparseable answers are recorded all
    /// the same, and counted).
    pub fn parsed_when(mut self, parsed: fn(&R) -> bool) -> Self {
        self.parsed = parsed;
        self
    }

    /// Sets the number of jobs in flight at once (default: the run's window).
    pub fn window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// Sets the progress bar's length: the jobs the stage will see over all its
    /// `run` calls (an upper bound is fine; the bar ends at [`Stage::finish`]).
    pub fn planned(self, n: usize) -> Self {
        self.bar.set_length(n as u64);
        self
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stage's record log.
    pub fn log(&self) -> &RecordLog<R> {
        &self.log
    }

    /// The record with this id.
    pub fn get(&self, id: &str) -> Option<&R> {
        self.log.get(id)
    }

    /// Whether a record with this id exists.
    pub fn contains(&self, id: &str) -> bool {
        self.log.contains(id)
    }

    /// Unparseable records in the whole log.
    pub fn unparseable(&self) -> usize {
        self.log.records().filter(|r| !(self.parsed)(r)).count()
    }

    fn account(&self, f: impl FnOnce(&mut StageSummary)) {
        if let Ok(mut l) = self.ledger.lock() {
            f(l.entry(self.name.clone()).or_default());
        }
    }

    /// Runs `jobs`: the ones whose id is not recorded are asked with `ask`, up
    /// to the window at a time, and each answer is appended under its id as it
    /// arrives. Returns the number of records appended.
    ///
    /// `ask` gets each job by reference for as long as `jobs` lives, so its
    /// future may borrow from the job.
    pub fn run<'j, J, I, F, Fut, E>(&mut self, jobs: &'j [J], id: I, ask: F) -> Result<usize>
    where
        I: Fn(&J) -> String,
        F: Fn(&'j J) -> Fut,
        Fut: Future<Output = std::result::Result<R, E>>,
        E: Into<BoxError>,
    {
        let mut seen = HashSet::new();
        let todo: Vec<(&'j J, String)> = jobs
            .iter()
            .map(|j| (j, id(j)))
            .filter(|(_, id)| !self.log.contains(id) && seen.insert(id.clone()))
            .collect();
        let skipped = jobs.len() - todo.len();
        self.bar.inc(skipped as u64);
        let before = self.models.calls_by_model();

        let (window, runtime) = (self.window, self.runtime);
        let (log, bar, parsed, name) = (&mut self.log, &self.bar, self.parsed, &self.name);
        let (mut recorded, mut unparseable, mut deferred) = (0usize, 0usize, 0usize);
        let ask = &ask;
        let outcome: Result<()> = runtime.block_on(async {
            let mut answers = futures::stream::iter(todo)
                .map(|(job, id)| async move { (id, ask(job).await) })
                .buffer_unordered(window);
            while let Some((id, answer)) = answers.next().await {
                let record = match answer {
                    Ok(r) => r,
                    Err(e) => {
                        let e: BoxError = e.into();
                        if is_deferred(&e) {
                            // Queued in the cache's pending table; the answer
                            // comes back with `batch import`.
                            deferred += 1;
                            bar.inc(1);
                            continue;
                        }
                        return Err(Error::Job {
                            stage: name.clone(),
                            id: id.clone(),
                            source: e,
                        });
                    }
                };
                if !parsed(&record) {
                    unparseable += 1;
                }
                log.append(&id, record)?;
                recorded += 1;
                bar.inc(1);
            }
            Ok(())
        });

        let after = self.models.calls_by_model();
        self.account(|s| {
            s.jobs += jobs.len();
            s.already_recorded += skipped;
            s.recorded += recorded;
            s.unparseable += unparseable;
            s.deferred += deferred;
            for (model, now) in after {
                let was = before.get(&model).copied().unwrap_or_default();
                let delta = now.since(was);
                if delta != Calls::default() {
                    s.calls.entry(model).or_default().add(delta);
                }
            }
        });
        outcome?;
        if deferred > 0 {
            return Err(Error::Deferred {
                study: program(),
                dir: self.dir.clone(),
                stage: self.name.clone(),
                count: deferred,
            });
        }
        Ok(recorded)
    }

    /// Clears the progress bar and hands back the record log.
    pub fn finish(self) -> RecordLog<R> {
        self.bar.finish_and_clear();
        self.log
    }
}
