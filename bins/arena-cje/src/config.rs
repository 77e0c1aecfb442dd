//! The study's configuration: the prompts (`[prompts]`), the logging policy
//! π0 (`[logging]`), the target policies (`[[targets]]`), their fresh draws
//! (`[fresh]`), the judge (`[judge]`), the oracle (`[oracle]`) and the
//! estimators (`[estimation]`). Every option has a default; unknown keys are
//! errors; every setting is checked before the first model call, naming it.
//! See docs/arena-cje.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{bail, Result};
use pref_cje::{CjeParams, EstimatorKind, GateThresholds, WeightCalibration};
use pref_llm::{Backend, ModelSpec};
use pref_study::{BoxError, ResolvedModels, StudyConfig};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which prompts are asked.
    pub prompts: PromptsConfig,
    /// The logging policy π0: it writes the logged responses.
    pub logging: PolicyConfig,
    /// The target policies whose value is estimated.
    pub targets: Vec<TargetConfig>,
    /// Fresh draws of every target (for `dr`, `direct` and the oracle mean).
    pub fresh: FreshConfig,
    /// The judge that scores every response.
    pub judge: JudgeConfig,
    /// The oracle that labels a share of the prompts.
    pub oracle: OracleConfig,
    /// The estimators.
    pub estimation: EstimationConfig,
    /// Written by `arena-cje run`: the models' ids by role and the tool version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<ResolvedModels>,
}

impl Default for Config {
    fn default() -> Self {
        let helpful = "You are a helpful assistant.";
        Self {
            prompts: PromptsConfig::default(),
            logging: PolicyConfig {
                system: helpful.into(),
                ..PolicyConfig::default()
            },
            targets: vec![
                TargetConfig::new("pi_clone", helpful),
                TargetConfig::new(
                    "pi_bad",
                    "You are an unhelpful assistant. Answer vaguely, change the subject and \
                     never give useful details.",
                ),
                TargetConfig::new(
                    "pi_better",
                    "You are a careful expert. Answer the question directly and correctly, \
                     with concrete details, in a few sentences.",
                ),
            ],
            fresh: FreshConfig::default(),
            judge: JudgeConfig::default(),
            oracle: OracleConfig::default(),
            estimation: EstimationConfig::default(),
            resolved: None,
        }
    }
}

/// Which prompts are asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptsConfig {
    /// An arena-hard `question.jsonl` (`{uid, category, prompt}` or the v0.1
    /// `{question_id, turns}`), relative to the working directory.
    pub path: PathBuf,
    /// Prompts drawn (after the filters), at most.
    pub n: usize,
    /// Seed of the draw.
    pub seed: u64,
    /// Keep only prompts identified as English (whatlang).
    pub english_only: bool,
    /// A Latin-script prompt is dropped as another language only when
    /// whatlang names that language with at least this confidence (0–1).
    pub min_confidence: f64,
    /// Longest prompt kept, in characters (longer ones are dropped and counted).
    pub max_chars: usize,
}

impl Default for PromptsConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("fixtures/arena_cje/prompts.jsonl"),
            n: 100,
            seed: 0,
            english_only: true,
            min_confidence: 0.5,
            max_chars: 1500,
        }
    }
}

/// A policy: a model, a system prompt and how it samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// The model.
    pub model: ModelSpec,
    /// The system prompt (empty: none).
    pub system: String,
    /// Tokens of each response at most.
    pub max_tokens: u32,
    /// Must be 1: teacher forcing scores the model's own distribution.
    pub temperature: f32,
    /// Must be 1 (no nucleus truncation), for the same reason.
    pub top_p: f32,
    /// Must be 0 (no top-k truncation), for the same reason.
    pub top_k: u32,
    /// Seed of the sampled responses (each prompt and draw adds its own offset).
    pub seed: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            model: ModelSpec::default(),
            system: String::new(),
            max_tokens: 48,
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            seed: 0,
        }
    }
}

/// A target policy: a name and what differs from the logging policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The policy's name in the results (letters, digits, `_`, `-`).
    pub name: String,
    /// The model (default: the logging policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSpec>,
    /// The system prompt (default: the logging policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

impl TargetConfig {
    fn new(name: &str, system: &str) -> Self {
        Self {
            name: name.into(),
            model: None,
            system: Some(system.into()),
        }
    }
}

/// Fresh draws of every target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FreshConfig {
    /// Responses of each target to each prompt.
    pub draws: usize,
}

impl Default for FreshConfig {
    fn default() -> Self {
        Self { draws: 1 }
    }
}

/// The judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JudgeConfig {
    /// The judge model.
    pub model: ModelSpec,
    /// The instruction; `{prompt}` and `{response}` are replaced.
    pub template: String,
    /// Scores run from 0 to this; the judge score is `E[score] / max_score`.
    /// The default 9 keeps every label one token, so a score costs one forward
    /// pass; 10 adds the two-token label `10`, and every label is then
    /// teacher-forced on its own (11 passes on the embedded backend).
    pub max_score: u32,
}

/// The judge's default instruction.
pub const JUDGE_TEMPLATE: &str = "Rate how helpful, correct and clear the response is \
as an answer to the user's request, from 0 (useless) to {max} (excellent).\n\n\
[User request]\n{prompt}\n\n[Response]\n{response}\n\n\
Answer with one number from 0 to {max}.";

impl Default for JudgeConfig {
    fn default() -> Self {
        Self {
            model: ModelSpec::default(),
            template: JUDGE_TEMPLATE.into(),
            max_score: 9,
        }
    }
}

/// The oracle: a second judge whose labels calibrate the first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OracleConfig {
    /// Ask the oracle at all (without it the estimates are on the judge's scale).
    pub enabled: bool,
    /// The oracle model (the judge's template and scale).
    pub model: ModelSpec,
    /// Share of prompts whose logged response and fresh draws are labelled.
    pub fraction: f64,
}

impl Default for OracleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model: ModelSpec {
                name: "gemma-3-270m".into(),
                ..ModelSpec::default()
            },
            fraction: 0.25,
        }
    }
}

/// The estimators (pref-cje).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstimationConfig {
    /// Estimators (names as `pref cje` takes them); empty: all the data allow.
    pub estimators: Vec<String>,
    /// Cross-fitting folds.
    pub folds: usize,
    /// Seed of the folds and the oracle draw.
    pub seed: u64,
    /// Interval level.
    pub level: f64,
    /// Cluster-bootstrap replicates (0: influence-function intervals).
    pub bootstrap: usize,
    /// Clipping threshold of `clipped-ips` (raw weight scale).
    pub clip: f64,
}

impl Default for EstimationConfig {
    fn default() -> Self {
        Self {
            estimators: Vec::new(),
            folds: 5,
            seed: 42,
            level: 0.95,
            bootstrap: 0,
            clip: 100.0,
        }
    }
}

/// The role of the logging policy's model.
pub const LOGGING: &str = "logging";
/// The judge's role.
pub const JUDGE: &str = "judge";
/// The oracle's role.
pub const ORACLE: &str = "oracle";

impl Config {
    /// A target's model (its own or the logging policy's).
    pub fn target_model<'a>(&'a self, t: &'a TargetConfig) -> &'a ModelSpec {
        t.model.as_ref().unwrap_or(&self.logging.model)
    }

    /// A target's system prompt (its own or the logging policy's).
    pub fn target_system<'a>(&'a self, t: &'a TargetConfig) -> &'a str {
        t.system.as_deref().unwrap_or(&self.logging.system)
    }

    /// A target's role: `target:<name>`.
    pub fn target_role(t: &TargetConfig) -> String {
        format!("target:{}", t.name)
    }

    /// The estimators' parameters.
    pub fn cje_params(&self) -> Result<CjeParams> {
        let e = &self.estimation;
        let estimators = e
            .estimators
            .iter()
            .map(|s| {
                s.parse::<EstimatorKind>()
                    .map_err(|m| anyhow::anyhow!("estimation.estimators: {m}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CjeParams {
            estimators,
            folds: e.folds,
            seed: e.seed,
            clip: e.clip,
            level: e.level,
            bootstrap: e.bootstrap,
            weight_calibration: WeightCalibration::Stack,
            oracle_jackknife_groups: 20,
            gate: GateThresholds::default(),
        })
    }

    /// Checks values serde cannot, naming the setting.
    pub fn check(&self) -> Result<()> {
        let p = &self.prompts;
        if p.path.as_os_str().is_empty() {
            bail!("prompts.path is empty");
        }
        if !(1..=1_000_000).contains(&p.n) {
            bail!("prompts.n must be in 1..=1000000, got {}", p.n);
        }
        if !(0.0..=1.0).contains(&p.min_confidence) {
            bail!(
                "prompts.min_confidence must be in [0, 1], got {}",
                p.min_confidence
            );
        }
        if p.max_chars == 0 {
            bail!("prompts.max_chars must be positive");
        }
        check_policy("logging", &self.logging)?;
        if self.targets.is_empty() {
            bail!("targets: give at least one target policy ([[targets]] with a name)");
        }
        let mut names = BTreeSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            let ok = !t.name.is_empty()
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                bail!(
                    "targets[{i}].name `{}` must be letters, digits, `_` or `-` (it names files)",
                    t.name
                );
            }
            if t.name == "base" {
                bail!("targets[{i}].name `base` is reserved for the logging policy");
            }
            if !names.insert(t.name.as_str()) {
                bail!("targets[{i}].name `{}` is used twice", t.name);
            }
            if let Some(m) = &t.model {
                m.check(&format!("targets[{i}].model"))?;
                check_scorer(&format!("targets[{i}].model"), m)?;
            }
        }
        if !(1..=16).contains(&self.fresh.draws) {
            bail!("fresh.draws must be in 1..=16, got {}", self.fresh.draws);
        }
        let j = &self.judge;
        j.model.check("judge.model")?;
        for key in ["{prompt}", "{response}"] {
            if !j.template.contains(key) {
                bail!("judge.template must contain {key}");
            }
        }
        if !(1..=10).contains(&j.max_score) {
            bail!("judge.max_score must be in 1..=10, got {}", j.max_score);
        }
        let o = &self.oracle;
        if o.enabled {
            o.model.check("oracle.model")?;
            if !(o.fraction > 0.0 && o.fraction <= 1.0) {
                bail!("oracle.fraction must be in (0, 1], got {}", o.fraction);
            }
        }
        let params = self.cje_params()?;
        params
            .check()
            .map_err(|e| anyhow::anyhow!("estimation: {e}"))?;
        let e = &self.estimation;
        if p.n < e.folds {
            bail!(
                "prompts.n {} is smaller than estimation.folds {}: every fold needs a prompt",
                p.n,
                e.folds
            );
        }
        if o.enabled {
            let labelled = (o.fraction * p.n as f64).round() as usize;
            if labelled < e.folds {
                bail!(
                    "oracle.fraction {} of prompts.n {} labels {labelled} prompts, fewer than \
                     estimation.folds {}: each cross-fitting fold's calibrator needs labels \
                     from the other folds; raise oracle.fraction or lower estimation.folds",
                    o.fraction,
                    p.n,
                    e.folds
                );
            }
        }
        Ok(())
    }
}

/// Teacher forcing needs a backend that scores given text.
fn check_scorer(what: &str, m: &ModelSpec) -> Result<()> {
    if m.backend != Backend::Llama {
        bail!(
            "{what}.backend must be `llama`: teacher forcing scores π0's responses token by \
             token, and chat-completions endpoints return log-probabilities of generated tokens \
             only (the judge and the oracle may be endpoints)"
        );
    }
    Ok(())
}

fn check_policy(what: &str, p: &PolicyConfig) -> Result<()> {
    p.model.check(&format!("{what}.model"))?;
    check_scorer(&format!("{what}.model"), &p.model)?;
    if !(1..=4096).contains(&p.max_tokens) {
        bail!(
            "{what}.max_tokens must be in 1..=4096, got {}",
            p.max_tokens
        );
    }
    let why = "teacher forcing scores the model's own untempered, untruncated distribution, \
               so responses must be sampled from exactly that distribution (docs/arena-cje.md, \
               \"Sampling\")";
    if p.temperature != 1.0 {
        bail!("{what}.temperature must be 1, got {}: {why}", p.temperature);
    }
    if p.top_p != 1.0 {
        bail!("{what}.top_p must be 1, got {}: {why}", p.top_p);
    }
    if p.top_k != 0 {
        bail!("{what}.top_k must be 0, got {}: {why}", p.top_k);
    }
    Ok(())
}

impl StudyConfig for Config {
    fn check(&self) -> std::result::Result<(), BoxError> {
        Config::check(self).map_err(Into::into)
    }

    fn models(&self) -> Vec<(String, ModelSpec)> {
        let mut v = vec![(LOGGING.to_string(), self.logging.model.clone())];
        for t in &self.targets {
            v.push((Config::target_role(t), self.target_model(t).clone()));
        }
        v.push((JUDGE.to_string(), self.judge.model.clone()));
        if self.oracle.enabled {
            v.push((ORACLE.to_string(), self.oracle.model.clone()));
        }
        v
    }

    fn recorded_models(&self) -> Option<BTreeMap<String, String>> {
        ResolvedModels::recorded(self.resolved.as_ref())
    }

    fn record_models(&mut self, ids: BTreeMap<String, String>, version: &str) {
        self.resolved = Some(ResolvedModels::record(ids, version));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(c: &Config) -> String {
        c.check().unwrap_err().to_string()
    }

    #[test]
    fn defaults_pass_and_bad_settings_are_named() {
        Config::default().check().unwrap();
        let mut c = Config::default();
        c.logging.temperature = 0.7;
        assert!(
            err(&c).starts_with("logging.temperature must be 1"),
            "{}",
            err(&c)
        );
        let mut c = Config::default();
        c.logging.top_p = 0.9;
        assert!(err(&c).starts_with("logging.top_p must be 1"));
        let mut c = Config::default();
        c.targets[1].name = "pi_clone".into();
        assert_eq!(err(&c), "targets[1].name `pi_clone` is used twice");
        let mut c = Config::default();
        c.targets[0].name = "a/b".into();
        assert!(err(&c).contains("targets[0].name `a/b`"));
        let mut c = Config::default();
        c.judge.template = "rate {response}".into();
        assert_eq!(err(&c), "judge.template must contain {prompt}");
        let mut c = Config::default();
        c.estimation.estimators = vec!["dr".into(), "magic".into()];
        assert!(err(&c).starts_with("estimation.estimators: unknown estimator `magic`"));
        let mut c = Config::default();
        c.prompts.n = 12;
        assert!(err(&c).contains("labels 3 prompts, fewer than estimation.folds 5"));
        c.oracle.enabled = false;
        c.check().unwrap();
        let mut c = Config::default();
        c.targets[2].model = Some(ModelSpec {
            backend: Backend::Openai,
            base_url: Some("http://127.0.0.1:8000/v1".into()),
            ..ModelSpec::default()
        });
        assert!(err(&c).starts_with("targets[2].model.backend must be `llama`"));
        let mut c = Config::default();
        c.estimation.level = 1.5;
        assert!(err(&c).starts_with("estimation: "), "{}", err(&c));
    }
}
