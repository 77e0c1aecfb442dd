//! The study's configuration: personas (`[[personas]]`), the prompts they
//! write (`[prompts]`), the contestants (`[[contestants]]`) and how they answer
//! (`[generation]`), the judge (`[judge]`), the global ratings (`[global]`) and
//! the evaluation (`[analysis]`). Every option has a default; unknown keys are
//! errors; every setting is checked before the first model call, naming it.
//! See docs/personal-rank.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{bail, Result};
use pref_llm::ModelSpec;
use pref_rank::personal::PersonalParams;
use pref_rank::{EloParams, RewardHeadParams, StyleBtParams};
use pref_study::{AnswerMode, BoxError, ResolvedModels, StudyConfig};
use serde::{Deserialize, Serialize};

/// The whole configuration (`config.toml` of a run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Who the rankings are for.
    pub personas: Vec<Persona>,
    /// How each persona's prompts are written.
    pub prompts: PromptsConfig,
    /// The models ranked.
    pub contestants: Vec<Contestant>,
    /// How contestants answer.
    pub generation: GenerationConfig,
    /// The judge that compares two answers as a persona (and, neutrally, for the
    /// global ratings of models without an Arena rating).
    pub judge: JudgeConfig,
    /// Where the global ratings come from.
    pub global: GlobalConfig,
    /// The evaluation of the three systems.
    pub analysis: AnalysisConfig,
    /// Model ids recorded when the run was created (written by the runner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<ResolvedModels>,
}

/// A persona: a name and a description in the second person's voice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    /// Name (letters, digits, `_`, `-`).
    pub name: String,
    /// Who they are and what they value, e.g. "a software engineer who wants
    /// correct, runnable code and short explanations".
    pub description: String,
}

impl Persona {
    fn new(name: &str, description: &str) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
        }
    }
}

/// How each persona's prompts are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptsConfig {
    /// The model that writes them (role `writer`).
    pub model: ModelSpec,
    /// Prompts per persona.
    pub per_persona: usize,
    /// What the writer is asked; `{description}` is the persona's description.
    pub template: String,
    /// Tokens at most per prompt.
    pub max_tokens: u32,
    /// Sampling temperature (each prompt has its own seed).
    pub temperature: f32,
    /// Seed of the first prompt's sampling.
    pub seed: u64,
}

/// The default prompt-writing request.
pub const PROMPT_TEMPLATE: &str = "You are {description}. Write one question or request \
that you would send to an AI assistant today. Write only the question, in one or two sentences.";

impl Default for PromptsConfig {
    fn default() -> Self {
        Self {
            model: ModelSpec::default(),
            per_persona: 8,
            template: PROMPT_TEMPLATE.into(),
            max_tokens: 48,
            temperature: 1.0,
            seed: 0,
        }
    }
}

/// A contestant: a model, or a variant of one (its own system prompt or temperature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contestant {
    /// Name (letters, digits, `_`, `-`, `.`).
    pub name: String,
    /// The model.
    #[serde(default)]
    pub model: ModelSpec,
    /// System message when answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Temperature (default `generation.temperature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Its name on the `global.leaderboard` file, for a global rating from the Arena;
    /// without it the rating comes from the neutral judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arena: Option<String>,
}

impl Contestant {
    fn local(name: &str, model: &str, system: Option<&str>) -> Self {
        Self {
            name: name.into(),
            model: ModelSpec {
                name: model.into(),
                ..ModelSpec::default()
            },
            system: system.map(String::from),
            temperature: None,
            arena: None,
        }
    }
}

/// How contestants answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationConfig {
    /// Tokens at most per answer.
    pub max_tokens: u32,
    /// Temperature unless a contestant sets its own (0 = greedy).
    pub temperature: f32,
    /// Sampling seed (each answer's seed derives from it).
    pub seed: u64,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_tokens: 96,
            temperature: 0.7,
            seed: 0,
        }
    }
}

/// The judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JudgeConfig {
    /// The model (role `judge`).
    pub model: ModelSpec,
    /// The system message that makes it a persona; `{description}` is replaced.
    pub persona_system: String,
    /// The question; `{prompt}`, `{first}` and `{second}` are replaced and the
    /// labels are `labels`.
    pub template: String,
    /// The two labels, first-shown first.
    pub labels: [String; 2],
    /// `logprobs` (the labels' log-probabilities, one call) or `text`.
    pub answer: AnswerMode,
    /// Each response is cut to this many characters in the judge's prompt.
    pub max_chars: usize,
}

/// The default persona system message.
pub const PERSONA_SYSTEM: &str = "You are {description}. Judge every answer as this person \
would: by what they need and what they like.";

/// The default judge question.
pub const JUDGE_TEMPLATE: &str = "Which response to this request do you prefer?\n\n\
[Request]\n{prompt}\n\n[Response A]\n{first}\n\n[Response B]\n{second}\n\n\
Answer with A or B only.";

impl Default for JudgeConfig {
    fn default() -> Self {
        Self {
            model: ModelSpec::default(),
            persona_system: PERSONA_SYSTEM.into(),
            template: JUDGE_TEMPLATE.into(),
            labels: ["A".into(), "B".into()],
            answer: AnswerMode::Logprobs,
            max_chars: 600,
        }
    }
}

/// Where the global ratings come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalConfig {
    /// An Arena leaderboard (JSON or CSV, as `pref_rank::Ratings::read`) holding
    /// every contestant's `arena` name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaderboard: Option<PathBuf>,
}

/// The evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Repetitions (random held-out splits and training orders), ≥ 2.
    pub seeds: usize,
    /// Seed of the first repetition.
    pub seed: u64,
    /// Held-out prompts per persona (ground truth), ≥ 1.
    pub heldout: usize,
    /// Learning-curve points: training comparisons per persona (ascending); every
    /// training comparison is always the last point.
    pub sizes: Vec<usize>,
    /// System B continues training from the previous point (`--incremental`).
    pub incremental: bool,
    /// Leave each contestant out of training in turn.
    pub leave_one_out: bool,
    /// System A: the Elo K factor.
    pub elo_k: f64,
    /// System B: the reward head.
    pub reward: RewardConfig,
    /// System C: the style-controlled Bradley–Terry model.
    pub style: StyleConfig,
    /// Interval level.
    pub level: f64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            seeds: 5,
            seed: 0,
            heldout: 2,
            sizes: vec![6, 12, 24, 48],
            incremental: false,
            leave_one_out: true,
            elo_k: 4.0,
            reward: RewardConfig::default(),
            style: StyleConfig::default(),
            level: 0.95,
        }
    }
}

/// System B's hyperparameters (pref-rank's `RewardHeadParams`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    /// Weight λ of the rank regulariser towards the global order.
    pub lambda: f64,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Passes over the training pairs.
    pub epochs: usize,
    /// Pairs per mini-batch.
    pub batch_size: usize,
    /// Dropout after the ReLU.
    pub dropout: f64,
    /// Seed of the head (offset by the repetition).
    pub seed: u64,
}

impl Default for RewardConfig {
    fn default() -> Self {
        let d = RewardHeadParams::default();
        Self {
            lambda: d.lambda,
            lr: d.lr,
            weight_decay: d.weight_decay,
            epochs: d.epochs,
            batch_size: d.batch_size,
            dropout: d.dropout,
            seed: d.seed,
        }
    }
}

/// System C's hyperparameters (pref-rank's `StyleBtParams`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StyleConfig {
    /// Prior precision of the persona offsets.
    pub offset_precision: f64,
    /// Prior precision of the style coefficients.
    pub style_precision: f64,
    /// Style coefficients per persona (else one set for everyone, as arena-rank).
    pub per_persona: bool,
}

impl Default for StyleConfig {
    fn default() -> Self {
        let d = StyleBtParams::default();
        Self {
            offset_precision: d.offset_precision,
            style_precision: d.style_precision,
            per_persona: d.per_group_style,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            personas: vec![
                Persona::new(
                    "coder",
                    "a software engineer who wants correct, runnable code and short, precise \
                     explanations",
                ),
                Persona::new(
                    "academic",
                    "a university researcher who wants careful, well-reasoned answers that \
                     mention evidence and limitations",
                ),
                Persona::new(
                    "creative_writer",
                    "a novelist who loves vivid, imaginative and playful language",
                ),
            ],
            prompts: PromptsConfig::default(),
            contestants: vec![
                Contestant::local("smollm2", "default", None),
                Contestant::local(
                    "smollm2-terse",
                    "default",
                    Some("Answer in one short sentence. No lists, no formatting."),
                ),
                Contestant::local(
                    "smollm2-markdown",
                    "default",
                    Some(
                        "Answer with a markdown heading, a bulleted list and **bold** key \
                         terms.",
                    ),
                ),
                Contestant::local("gemma3", "gemma-3-270m", None),
            ],
            generation: GenerationConfig::default(),
            judge: JudgeConfig::default(),
            global: GlobalConfig::default(),
            analysis: AnalysisConfig::default(),
            resolved: None,
        }
    }
}

/// The role of the model that writes the prompts.
pub const WRITER: &str = "writer";
/// The judge's role.
pub const JUDGE: &str = "judge";

fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        bail!("{what} `{name}` must be letters, digits, `_`, `-` or `.` (it names records)");
    }
    Ok(())
}

impl Config {
    /// A contestant's role in the run.
    pub fn contestant_role(c: &Contestant) -> String {
        format!("contestant:{}", c.name)
    }

    /// A contestant's temperature.
    pub fn temperature(&self, c: &Contestant) -> f32 {
        c.temperature.unwrap_or(self.generation.temperature)
    }

    /// Whether any contestant needs the neutral judge for its global rating.
    pub fn needs_neutral(&self) -> bool {
        self.global.leaderboard.is_none() || self.contestants.iter().any(|c| c.arena.is_none())
    }

    /// The evaluation's parameters.
    pub fn personal_params(&self) -> PersonalParams {
        let a = &self.analysis;
        PersonalParams {
            seeds: a.seeds,
            seed: a.seed,
            heldout: a.heldout,
            sizes: a.sizes.clone(),
            incremental: a.incremental,
            leave_one_out: a.leave_one_out,
            elo: EloParams::default().k(a.elo_k),
            reward: RewardHeadParams {
                hidden: None,
                dropout: a.reward.dropout,
                lambda: a.reward.lambda,
                lr: a.reward.lr,
                weight_decay: a.reward.weight_decay,
                batch_size: a.reward.batch_size,
                epochs: a.reward.epochs,
                seed: a.reward.seed,
            },
            style: StyleBtParams::default()
                .offset_precision(a.style.offset_precision)
                .style_precision(a.style.style_precision)
                .per_group_style(a.style.per_persona)
                .level(a.level),
            truth_prior: 0.01,
            level: a.level,
        }
    }

    /// Checks what serde cannot, naming the setting.
    pub fn check(&self) -> Result<()> {
        if self.personas.is_empty() {
            bail!("personas: give at least one [[personas]] with a name and a description");
        }
        let mut names = BTreeSet::new();
        for (i, p) in self.personas.iter().enumerate() {
            check_name(&format!("personas[{i}].name"), &p.name)?;
            if !names.insert(p.name.as_str()) {
                bail!("personas[{i}].name `{}` is used twice", p.name);
            }
            if p.description.trim().is_empty() {
                bail!("personas[{i}].description is empty");
            }
        }
        let pr = &self.prompts;
        pr.model.check("prompts.model")?;
        if !pr.template.contains("{description}") {
            bail!("prompts.template must contain {{description}}");
        }
        if !(1..=10_000).contains(&pr.per_persona) {
            bail!(
                "prompts.per_persona must be in 1..=10000, got {}",
                pr.per_persona
            );
        }
        if !(1..=1024).contains(&pr.max_tokens) {
            bail!(
                "prompts.max_tokens must be in 1..=1024, got {}",
                pr.max_tokens
            );
        }
        if !(0.0..=2.0).contains(&pr.temperature) {
            bail!(
                "prompts.temperature must be in [0, 2], got {}",
                pr.temperature
            );
        }
        if self.contestants.len() < 3 {
            bail!(
                "contestants: give at least three [[contestants]] (a ranking of two has one \
                 pair; Kendall's τ and top-3 need more), got {}",
                self.contestants.len()
            );
        }
        let mut names = BTreeSet::new();
        for (i, c) in self.contestants.iter().enumerate() {
            check_name(&format!("contestants[{i}].name"), &c.name)?;
            if !names.insert(c.name.as_str()) {
                bail!("contestants[{i}].name `{}` is used twice", c.name);
            }
            c.model.check(&format!("contestants[{i}].model"))?;
            if let Some(t) = c.temperature {
                if !(0.0..=2.0).contains(&t) {
                    bail!("contestants[{i}].temperature must be in [0, 2], got {t}");
                }
            }
            if c.arena.is_some() && self.global.leaderboard.is_none() {
                bail!(
                    "contestants[{i}].arena is set but global.leaderboard is not: give the \
                     leaderboard file the name refers to"
                );
            }
        }
        let g = &self.generation;
        if !(1..=4096).contains(&g.max_tokens) {
            bail!(
                "generation.max_tokens must be in 1..=4096, got {}",
                g.max_tokens
            );
        }
        if !(0.0..=2.0).contains(&g.temperature) {
            bail!(
                "generation.temperature must be in [0, 2], got {}",
                g.temperature
            );
        }
        let j = &self.judge;
        j.model.check("judge.model")?;
        for key in ["{prompt}", "{first}", "{second}"] {
            if !j.template.contains(key) {
                bail!("judge.template must contain {key}");
            }
        }
        if !j.persona_system.contains("{description}") {
            bail!("judge.persona_system must contain {{description}}");
        }
        let [a, b] = &j.labels;
        if a.trim().is_empty() || b.trim().is_empty() || a.trim() == b.trim() {
            bail!("judge.labels must be two different non-empty labels, got {a:?} and {b:?}");
        }
        if j.max_chars < 20 {
            bail!("judge.max_chars must be at least 20, got {}", j.max_chars);
        }
        let an = &self.analysis;
        if an.heldout >= pr.per_persona {
            bail!(
                "analysis.heldout ({}) must be smaller than prompts.per_persona ({}): the rest \
                 of a persona's prompts train the systems",
                an.heldout,
                pr.per_persona
            );
        }
        self.personal_params()
            .check()
            .map_err(|e| anyhow::anyhow!("analysis: {e}"))?;
        Ok(())
    }
}

impl StudyConfig for Config {
    fn check(&self) -> std::result::Result<(), BoxError> {
        Config::check(self).map_err(Into::into)
    }

    fn models(&self) -> Vec<(String, ModelSpec)> {
        let mut v = vec![(WRITER.to_string(), self.prompts.model.clone())];
        for c in &self.contestants {
            v.push((Config::contestant_role(c), c.model.clone()));
        }
        v.push((JUDGE.to_string(), self.judge.model.clone()));
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
        c.personas[1].name = "coder".into();
        assert_eq!(err(&c), "personas[1].name `coder` is used twice");
        let mut c = Config::default();
        c.contestants[2].name = "a b".into();
        assert!(
            err(&c).starts_with("contestants[2].name `a b` must be"),
            "{}",
            err(&c)
        );
        let mut c = Config::default();
        c.judge.template = "pick {first}".into();
        assert_eq!(err(&c), "judge.template must contain {prompt}");
        let mut c = Config::default();
        c.judge.labels = ["A".into(), "A".into()];
        assert!(err(&c).starts_with("judge.labels must be two different"));
        let mut c = Config::default();
        c.prompts.template = "Write a question.".into();
        assert_eq!(err(&c), "prompts.template must contain {description}");
        let mut c = Config::default();
        c.analysis.sizes = vec![12, 6];
        assert!(
            err(&c).starts_with("analysis: invalid parameter `sizes`"),
            "{}",
            err(&c)
        );
        let mut c = Config::default();
        c.analysis.style.offset_precision = -1.0;
        assert!(err(&c).contains("offset_precision"), "{}", err(&c));
        let mut c = Config::default();
        c.analysis.reward.dropout = 1.0;
        assert!(err(&c).contains("dropout"), "{}", err(&c));
        let mut c = Config::default();
        c.personas.clear();
        assert!(err(&c).starts_with("personas: give at least one"));
    }

    #[test]
    fn the_neutral_judge_runs_only_when_a_rating_is_missing() {
        let mut c = Config::default();
        assert!(c.needs_neutral());
        c.global.leaderboard = Some("board.csv".into());
        for (i, k) in c.contestants.iter_mut().enumerate() {
            k.arena = Some(format!("model-{i}"));
        }
        assert!(!c.needs_neutral());
        c.contestants[0].arena = None;
        assert!(c.needs_neutral());
    }

    /// The example configurations parse and pass the checks.
    #[test]
    fn example_configs_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs");
        let c = pref_study::read_config::<Config>(&dir.join("personal-rank.toml")).unwrap();
        c.check().unwrap();
        assert_eq!(c.contestants.len(), 4);
        let c =
            pref_study::read_config::<Config>(&dir.join("personal-rank-endpoints.toml")).unwrap();
        c.check().unwrap();
        assert_eq!(
            c.contestants[2].arena.as_deref(),
            Some("gpt-4o-mini-2024-07-18")
        );
        assert!(c.needs_neutral());
    }
}
