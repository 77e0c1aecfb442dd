//! A study as the runner sees it, and the commands every study binary shares:
//! run a new study, resume one, `status`, `--dry-run`. See `docs/architecture.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pref_llm::LanguageModel;
use serde::Serialize;

use crate::error::{BoxError, Error, Result};
use crate::models::{Model, Models};
use crate::run::{Run, StudyConfig};
use crate::status::{status, StagePlan, Status};

/// A study: a configuration, its stages as planned (for `status` and
/// `--dry-run`), and how to run them and analyse the records.
pub trait Study {
    /// The study's name (`runs/<NAME>/…`, messages).
    const NAME: &'static str;
    /// The configuration (the whole of `config.toml`).
    type Config: StudyConfig;
    /// What `results.json` holds (typed; the report is written from it).
    type Results: Serialize;

    /// The stages as known before any model call, with what the study wants to
    /// show beside them. `models` are the configuration's models by role, for
    /// asking the cache whether it holds an answer.
    fn plan(
        config: &Self::Config,
        models: &ModelRoles,
    ) -> std::result::Result<(Vec<StagePlan>, serde_json::Value), BoxError>;

    /// Runs (or resumes) every stage, analyses the records, writes
    /// `results.json` (with [`Run::write_results`]) and the report.
    fn run(run: &Run<Self::Config>) -> std::result::Result<Self::Results, BoxError>;
}

/// A configuration's models by role, each loaded once in a [`Models`] registry
/// (for a run, and for planning without one).
pub struct ModelRoles {
    models: Models,
    roles: BTreeMap<String, Arc<Model>>,
}

impl ModelRoles {
    /// Loads the models of `config` over the default cache.
    pub fn load<C: StudyConfig>(config: &C) -> Result<Self> {
        Self::load_with(config, Models::open_default()?)
    }

    /// Loads the models of `config` into `models` (models already inserted
    /// under a spec are used as they are).
    pub fn load_with<C: StudyConfig>(config: &C, mut models: Models) -> Result<Self> {
        let mut roles = BTreeMap::new();
        for (role, spec) in config.models() {
            let m = models
                .load(&spec)
                .map_err(|e| Error::Study(format!("model `{role}` ({}): {e}", spec.name).into()))?;
            roles.insert(role, m);
        }
        Ok(Self { models, roles })
    }

    /// The model of a role.
    pub fn get(&self, role: &str) -> Result<&Arc<Model>> {
        self.roles.get(role).ok_or_else(|| {
            Error::Study(format!("no model has the role `{role}` in this study").into())
        })
    }

    /// Content ids by role.
    pub fn ids(&self) -> BTreeMap<String, String> {
        self.roles
            .iter()
            .map(|(r, m)| (r.clone(), m.id().to_string()))
            .collect()
    }

    /// The registry behind the roles.
    pub fn registry(&self) -> &Models {
        &self.models
    }
}

impl<C: StudyConfig> Run<C> {
    /// Writes `results.json` atomically.
    pub fn write_results<T: Serialize>(&self, results: &T) -> Result<PathBuf> {
        Ok(self.dir().write_json("results.json", results)?)
    }
}

/// Unparseable answers of a run and what became of them (a part of every
/// study's results: nothing is dropped silently).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Unparseable {
    /// Unparseable answers.
    pub count: usize,
    /// Answers in all.
    pub of: usize,
    /// What the study does with them (where they are kept, how they count).
    pub policy: String,
}

/// What a study command prints: the study's results plus where they are and
/// what each stage did in this process.
#[derive(Debug, Serialize)]
pub struct Finished<T> {
    /// The results (as in `results.json`).
    #[serde(flatten)]
    pub results: T,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The report.
    pub report: PathBuf,
    /// Per stage: jobs, records appended, unparseable answers, model calls.
    pub stages: BTreeMap<String, crate::stage::StageSummary>,
}

fn finish<S: Study>(run: Run<S::Config>) -> Result<Finished<S::Results>> {
    eprintln!("run directory: {}", run.root().display());
    let results = S::run(&run).map_err(Error::Study)?;
    Ok(Finished {
        results,
        run_dir: run.root().to_path_buf(),
        report: run.root().join("report.md"),
        stages: run.stages(),
    })
}

/// `run --config … [--out DIR]`: a new run of `config`.
pub fn start<S: Study>(config: S::Config, out: Option<PathBuf>) -> Result<Finished<S::Results>> {
    // The plan reads the study's inputs (item and task files): a missing or
    // bad one fails here, before the run directory is created.
    let run = Run::create_planned(Models::open_default()?, S::NAME, config, out, |c, m| {
        S::plan(c, m).map(|_| ()).map_err(Error::Study)
    })?;
    finish::<S>(run)
}

/// `run --resume DIR`: continues a run with its own configuration; `given`
/// (what the command line resolves to now, when it names any setting) must
/// equal it.
pub fn resume<S: Study>(dir: &Path, given: Option<&S::Config>) -> Result<Finished<S::Results>> {
    finish::<S>(Run::resume(dir, given)?)
}

/// `status DIR`: the run's progress, stage by stage (read-only; no lock taken).
pub fn run_status<S: Study>(dir: &Path) -> Result<Status> {
    let run = pref_data::RunDir::open_existing(dir)?;
    let config: S::Config = run.config()?;
    config.check().map_err(Error::Config)?;
    let models = ModelRoles::load(&config)?;
    let (plans, details) = S::plan(&config, &models).map_err(Error::Study)?;
    status(S::NAME, Some(dir), &plans, details)
}

/// `run --dry-run`: the plan of a new run of `config`, or of the rest of the
/// run in `dir`; nothing is asked and nothing is written.
pub fn dry_run<S: Study>(config: &S::Config, dir: Option<&Path>) -> Result<Status> {
    config.check().map_err(Error::Config)?;
    let models = ModelRoles::load(config)?;
    let (plans, details) = S::plan(config, &models).map_err(Error::Study)?;
    status(S::NAME, dir, &plans, details)
}
