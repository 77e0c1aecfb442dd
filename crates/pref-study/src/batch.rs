//! The Batch API for any study: models with `batch = true` queue their requests
//! in the model cache instead of sending them; a stage that needs their answers
//! stops the run ([`crate::Error::Deferred`]); `batch export` writes the queued
//! requests of each such model as a Batch API input file, `batch import` puts a
//! Batch API output file's answers into the cache, and the resumed run reads
//! them from there, with no live call. See docs/runs.md, "The Batch API".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pref_llm::{ModelCache, ModelSpec};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::run::StudyConfig;
use crate::study::Study;

/// One model's queued requests, written to one file.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedFile {
    /// The model's role in the study.
    pub role: String,
    /// The model's content id.
    pub model: String,
    /// The Batch API input file (absent when nothing is queued).
    pub path: Option<PathBuf>,
    /// Requests in it.
    pub requests: usize,
}

/// What one output file gave one model.
#[derive(Debug, Clone, Serialize)]
pub struct ImportedFile {
    /// The output file.
    pub path: PathBuf,
    /// The model's role.
    pub role: String,
    /// Answers stored in the cache.
    pub completed: usize,
    /// Lines that were errors or unusable (still queued): `(custom_id, why)`.
    pub failed: Vec<(String, String)>,
    /// Lines not queued for this model (another model's, or imported before).
    pub unknown: usize,
}

/// The distinct batch models of a run's configuration, by first role.
fn batch_models<C: StudyConfig>(config: &C) -> Vec<(String, ModelSpec)> {
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    let mut out = Vec::new();
    for (role, spec) in config.models() {
        if spec.batch && seen.insert(format!("{spec:?}"), ()).is_none() {
            out.push((role, spec));
        }
    }
    out
}

fn open<S: Study>(dir: &Path) -> Result<(Vec<(String, ModelSpec)>, ModelCache)> {
    let run = pref_data::RunDir::open_existing(dir)?;
    let config: S::Config = run.config()?;
    let models = batch_models(&config);
    if models.is_empty() {
        return Err(Error::Study(
            format!(
                "{}: no model of this run has `batch = true`; nothing goes through the Batch API",
                dir.display()
            )
            .into(),
        ));
    }
    Ok((models, ModelCache::open_default()?))
}

/// `batch export RUN_DIR --out DIR`: one Batch API input file per batch model,
/// `DIR/<role>.jsonl` (`custom_id` = the request's cache key).
pub fn batch_export<S: Study>(dir: &Path, out: &Path) -> Result<Vec<ExportedFile>> {
    let (models, cache) = open::<S>(dir)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut files = Vec::new();
    for (role, spec) in models {
        let lm = spec.load_openai()?;
        let path = out.join(format!("{}.jsonl", role.replace([':', '/'], "-")));
        let n = cache
            .pending(&pref_llm::LanguageModel::id(&lm).to_string())?
            .len();
        let written = if n > 0 {
            lm.export_batch(&cache, &path)?;
            Some(path)
        } else {
            None
        };
        files.push(ExportedFile {
            role,
            model: pref_llm::LanguageModel::id(&lm).to_string(),
            path: written,
            requests: n,
        });
    }
    Ok(files)
}

/// `batch import RUN_DIR FILE…`: every answer of the Batch API output files
/// stored in the cache under its `custom_id`, for whichever batch model queued
/// it. Failed lines stay queued and are listed.
pub fn batch_import<S: Study>(dir: &Path, files: &[PathBuf]) -> Result<Vec<ImportedFile>> {
    let (models, cache) = open::<S>(dir)?;
    let mut out = Vec::new();
    for f in files {
        for (role, spec) in &models {
            let lm = spec.load_openai()?;
            let r = lm.import_batch(&cache, f)?;
            out.push(ImportedFile {
                path: f.clone(),
                role: role.clone(),
                completed: r.completed,
                failed: r.failed,
                unknown: r.unknown,
            });
        }
    }
    Ok(out)
}
