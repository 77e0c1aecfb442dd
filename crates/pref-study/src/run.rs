//! The run lifecycle: create a run directory with the fully resolved
//! configuration, or resume one; one lock per run directory; the models of the
//! run loaded once; the async runtime every stage uses. See `docs/runs.md` and
//! `docs/architecture.md`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pref_data::RunDir;
use pref_llm::ModelSpec;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{BoxError, Error, Result};
use crate::models::{Calls, Model, Models};
use crate::stage::{Stage, StageSummary};
use crate::study::ModelRoles;

/// What the runner needs to know of a study's configuration.
///
/// The configuration is a plain serde struct (TOML in `config.toml`); the
/// runner checks it before loading any model, loads the models it names, and
/// records their content ids in it before freezing it into the run directory.
pub trait StudyConfig: Serialize + DeserializeOwned + Clone {
    /// Checks every setting, naming it in the message. Runs before any model is
    /// loaded or called, on new runs and on resumed ones.
    fn check(&self) -> std::result::Result<(), BoxError>;

    /// Every model the study calls, by role (`model`, an author's name, …).
    /// Roles naming equal specs share one loaded model.
    fn models(&self) -> Vec<(String, ModelSpec)>;

    /// The model ids recorded when the run was created, by role (`None` in a
    /// configuration that has not been run).
    fn recorded_models(&self) -> Option<BTreeMap<String, String>>;

    /// Records the models' content ids (by role) and the tool version in the
    /// configuration before it is written to the run directory.
    fn record_models(&mut self, ids: BTreeMap<String, String>, version: &str);

    /// Top-level keys written by [`StudyConfig::record_models`], ignored when a
    /// resumed run's configuration is compared with the one given now.
    fn recorded_keys() -> &'static [&'static str] {
        &["resolved"]
    }
}

/// What a study with one model (role `model`) records when a run starts, as
/// its configuration's `resolved` key: the model's content id and the tool
/// version. Never read from a user's file.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvedModel {
    /// Content-addressed model id (backend, name, file sha256 or base URL, settings).
    pub model_id: String,
    /// Version of the study binary.
    pub version: String,
}

impl ResolvedModel {
    /// [`StudyConfig::models`] of a one-model study: `spec` as role `model`.
    pub fn roles(spec: &ModelSpec) -> Vec<(String, ModelSpec)> {
        vec![("model".into(), spec.clone())]
    }

    /// [`StudyConfig::recorded_models`] of a one-model study.
    pub fn recorded(resolved: Option<&Self>) -> Option<BTreeMap<String, String>> {
        let r = resolved?;
        Some(BTreeMap::from([("model".to_string(), r.model_id.clone())]))
    }

    /// The value [`StudyConfig::record_models`] stores in a one-model study.
    pub fn record(ids: &BTreeMap<String, String>, version: &str) -> Self {
        Self {
            model_id: ids.get("model").cloned().unwrap_or_default(),
            version: version.into(),
        }
    }
}

/// What a study with several model roles records when a run starts, as its
/// configuration's `resolved` key: every role's content id and the tool
/// version. Never read from a user's file.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvedModels {
    /// Content-addressed model ids by role.
    pub model_ids: BTreeMap<String, String>,
    /// Version of the study binary.
    pub version: String,
}

impl ResolvedModels {
    /// [`StudyConfig::recorded_models`] of a study with several roles.
    pub fn recorded(resolved: Option<&Self>) -> Option<BTreeMap<String, String>> {
        resolved.map(|r| r.model_ids.clone())
    }

    /// The value [`StudyConfig::record_models`] stores.
    pub fn record(ids: BTreeMap<String, String>, version: &str) -> Self {
        Self {
            model_ids: ids,
            version: version.into(),
        }
    }
}

/// The lock of a run directory: `run.lock`, held (an OS file lock) while a
/// process writes the run and released when it exits, however it exits.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// The lock file of a run directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join("run.lock")
    }

    /// Takes the lock of `dir`, or fails at once with [`Error::Locked`] naming
    /// the lock file and its holder.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = Self::path_in(dir);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {
                // Who holds it, for the message another process shows.
                file.set_len(0).map_err(|e| Error::io(&path, e))?;
                writeln!(file, "pid {}", std::process::id()).map_err(|e| Error::io(&path, e))?;
                Ok(Self { _file: file, path })
            }
            Err(TryLockError::WouldBlock) => Err(Error::Locked {
                dir: dir.to_path_buf(),
                holder: fs::read_to_string(&path)
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
                lock: path,
            }),
            Err(TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// First setting where `given` differs from `stored` (dotted path, stored
/// value, given value), ignoring the top-level `skip` keys.
pub fn config_difference<C: Serialize>(
    stored: &C,
    given: &C,
    skip: &[&str],
) -> Result<Option<(String, String, String)>> {
    let to_value = |c: &C| {
        toml::Value::try_from(c).map_err(|e| Error::Config(format!("cannot serialise: {e}").into()))
    };
    let (mut a, mut b) = (to_value(stored)?, to_value(given)?);
    for t in [&mut a, &mut b] {
        if let toml::Value::Table(t) = t {
            for k in skip {
                t.remove(*k);
            }
        }
    }
    Ok(first_difference(&a, &b, ""))
}

fn first_difference(
    a: &toml::Value,
    b: &toml::Value,
    path: &str,
) -> Option<(String, String, String)> {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    let show = |v: Option<&toml::Value>| v.map_or("unset".to_string(), |v| v.to_string());
    match (a, b) {
        (toml::Value::Table(x), toml::Value::Table(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => first_difference(u, v, &join(k)),
                (u, v) => Some((join(k), show(u), show(v))),
            })
        }
        (toml::Value::Array(x), toml::Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(u, v, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some((path.to_string(), a.to_string(), b.to_string())),
    }
}

/// A run being written: its directory (locked), its frozen configuration, its
/// models and the runtime the stages use.
pub struct Run<C> {
    dir: RunDir,
    lock: RunLock,
    config: C,
    roles: ModelRoles,
    runtime: tokio::runtime::Runtime,
    pub(crate) ledger: Mutex<BTreeMap<String, StageSummary>>,
    started: Instant,
}

/// The async runtime of a run: one thread (model calls are the only async work;
/// the embedded backend computes on its own threads, HTTP calls wait on I/O).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("async runtime", e))
}

impl<C: StudyConfig> Run<C> {
    /// Starts a new run of `study` in `out` (default `runs/<study>/<unix time>`):
    /// checks the configuration, loads its models (from the default cache),
    /// records their ids, then creates and locks the directory.
    pub fn create(study: &str, config: C, out: Option<PathBuf>) -> Result<Self> {
        Self::create_with(Models::open_default()?, study, config, out)
    }

    /// [`Run::create`] with a given model registry (models already inserted
    /// under a spec are used as they are).
    pub fn create_with(
        models: Models,
        study: &str,
        config: C,
        out: Option<PathBuf>,
    ) -> Result<Self> {
        Self::create_planned(models, study, config, out, |_, _| Ok(()))
    }

    /// [`Run::create_with`] that first runs `preflight` on the checked
    /// configuration and its loaded models (a study passes its plan, which reads
    /// its input files): what fails there fails before any directory exists.
    pub fn create_planned(
        models: Models,
        study: &str,
        mut config: C,
        out: Option<PathBuf>,
        preflight: impl FnOnce(&C, &ModelRoles) -> Result<()>,
    ) -> Result<Self> {
        config.check().map_err(Error::Config)?;
        let roles = ModelRoles::load_with(&config, models)?;
        preflight(&config, &roles)?;
        config.record_models(roles.ids(), env!("CARGO_PKG_VERSION"));
        let out = out.unwrap_or_else(|| RunDir::default_path(study));
        fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        // Lock before looking for config.toml: of two processes starting one
        // directory, the second fails on the lock or on the existing config.
        let lock = RunLock::acquire(&out)?;
        let dir = RunDir::create(&out, &config)?;
        Self::assemble(dir, lock, config, roles)
    }

    /// Resumes the run in `dir` with its own `config.toml`. When `given` is set
    /// (the configuration the command line resolves to now), it must equal the
    /// run's: the first differing setting is named in [`Error::ConfigChanged`].
    /// Every model must have the content id recorded when the run started.
    pub fn resume(dir: &Path, given: Option<&C>) -> Result<Self> {
        Self::resume_with(Models::open_default()?, dir, given)
    }

    /// [`Run::resume`] with a given model registry.
    pub fn resume_with(models: Models, dir: &Path, given: Option<&C>) -> Result<Self> {
        let run = RunDir::open(dir)?;
        let lock = RunLock::acquire(dir)?;
        // Under the lock no writer of this run is alive: a temporary file is a
        // killed writer's, and the write it belonged to will be redone.
        for p in run.remove_temporaries()? {
            tracing::warn!("removed {}, left by a killed writer", p.display());
        }
        let stored: C = run.config()?;
        if let Some(given) = given {
            if let Some((field, stored, given)) =
                config_difference(&stored, given, C::recorded_keys())?
            {
                return Err(Error::ConfigChanged {
                    dir: dir.to_path_buf(),
                    field,
                    stored,
                    given,
                });
            }
        }
        stored.check().map_err(Error::Config)?;
        let roles = ModelRoles::load_with(&stored, models)?;
        if let Some(recorded) = stored.recorded_models() {
            for (role, now) in roles.ids() {
                match recorded.get(&role) {
                    Some(was) if *was == now => {}
                    was => {
                        return Err(Error::ModelChanged {
                            dir: dir.to_path_buf(),
                            role,
                            stored: was.cloned().unwrap_or_else(|| "not recorded".into()),
                            now,
                        })
                    }
                }
            }
        }
        Self::assemble(run, lock, stored, roles)
    }

    fn assemble(dir: RunDir, lock: RunLock, config: C, roles: ModelRoles) -> Result<Self> {
        Ok(Self {
            dir,
            lock,
            config,
            roles,
            runtime: runtime()?,
            ledger: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
        })
    }

    /// The frozen configuration.
    pub fn config(&self) -> &C {
        &self.config
    }

    /// The run directory.
    pub fn dir(&self) -> &RunDir {
        &self.dir
    }

    /// The run directory's path.
    pub fn root(&self) -> &Path {
        self.dir.root()
    }

    /// The lock this process holds.
    pub fn lock(&self) -> &RunLock {
        &self.lock
    }

    /// The model registry.
    pub fn models(&self) -> &Models {
        self.roles.registry()
    }

    /// The model of a role named by [`StudyConfig::models`].
    pub fn model(&self, role: &str) -> Result<&Arc<Model>> {
        self.roles.get(role)
    }

    /// Model ids by role.
    pub fn model_ids(&self) -> BTreeMap<String, String> {
        self.roles.ids()
    }

    /// Model calls this process made and had answered by the cache, all models.
    pub fn calls(&self) -> Calls {
        self.roles.registry().calls()
    }

    /// Jobs sent at once: 1 when any model of the run is embedded (it has one
    /// worker), else the smallest `max_concurrency` of the run's endpoints.
    pub fn window(&self) -> usize {
        self.config
            .models()
            .iter()
            .map(|(_, s)| s.parallel_requests())
            .min()
            .unwrap_or(1)
    }

    /// Runs a future to completion on the run's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// Opens the stage `name`, whose records go to `records/<log>.jsonl`.
    pub fn stage<R: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        log: &str,
    ) -> Result<Stage<'_, R>> {
        let log = self.dir.records::<R>(log)?;
        Ok(Stage::new(
            name,
            self.dir.root(),
            log,
            self.window(),
            self.roles.registry(),
            &self.runtime,
            &self.ledger,
        ))
    }

    /// What every stage did in this process, by stage name.
    pub fn stages(&self) -> BTreeMap<String, StageSummary> {
        self.ledger.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Seconds since the run was opened.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    struct Inner {
        n: u32,
        labels: Vec<String>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    struct Cfg {
        a: Inner,
        b: Option<f64>,
        resolved: Option<String>,
    }

    fn cfg() -> Cfg {
        Cfg {
            a: Inner {
                n: 3,
                labels: vec!["A".into(), "B".into()],
            },
            b: None,
            resolved: Some("x".into()),
        }
    }

    #[test]
    fn the_first_changed_setting_is_named() {
        let skip = &["resolved"];
        let mut other = cfg();
        other.resolved = None;
        assert_eq!(config_difference(&cfg(), &other, skip).unwrap(), None);
        other.a.n = 12;
        assert_eq!(
            config_difference(&cfg(), &other, skip).unwrap(),
            Some(("a.n".into(), "3".into(), "12".into()))
        );
        let mut other = cfg();
        other.a.labels[1] = "C".into();
        assert_eq!(
            config_difference(&cfg(), &other, skip).unwrap().unwrap().0,
            "a.labels[1]"
        );
        let mut other = cfg();
        other.b = Some(0.5);
        assert_eq!(
            config_difference(&cfg(), &other, skip).unwrap(),
            Some(("b".into(), "unset".into(), "0.5".into()))
        );
    }

    #[test]
    fn a_second_lock_on_one_directory_fails_at_once_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(tmp.path()).unwrap();
        let e = RunLock::acquire(tmp.path()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("run.lock"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        RunLock::acquire(tmp.path()).unwrap();
    }
}
