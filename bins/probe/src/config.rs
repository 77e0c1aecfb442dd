//! The study's configuration: the items and the utility elicitation's sections
//! (`[items]`, `[elicitation]`, `[pairs]`, `[fit]`, `[model]`), the task
//! completions (`[completion]`), the self-report (`[self_report]`), which
//! targets are collected (`[targets]`), the extraction (`[extraction]`) and the
//! probes (`[probe]`). Every option has a default; unknown keys are errors.
//! See docs/probe.md.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use pref_elicit::settings::{ElicitationConfig, FitConfig, ItemsConfig, PairsConfig, MAX_TOKENS};
use pref_elicit::{ItemKind, Settings, Strategy};
use pref_llm::{Backend, ModelSpec, Position};
use pref_study::{BoxError, StudyConfig};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The tasks (`items.kind` must be `tasks`: each is completed).
    pub items: ItemsConfig,
    /// How the pairwise choices are asked and read (the utility target).
    pub elicitation: ElicitationConfig,
    /// Which pairs are asked.
    pub pairs: PairsConfig,
    /// The Thurstonian fit of the choices.
    pub fit: FitConfig,
    /// The model (the embedded backend: activations are read inside it).
    pub model: ModelSpec,
    /// The task completions.
    pub completion: CompletionConfig,
    /// The post-task self-report.
    pub self_report: SelfReportConfig,
    /// Which targets are collected and probed.
    pub targets: TargetsConfig,
    /// Where activations are read.
    pub extraction: ExtractionConfig,
    /// The probes and their evaluation.
    pub probe: ProbeConfig,
    /// Written by `probe run`: the model's id and the tool version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<pref_study::ResolvedModel>,
}

impl Default for Config {
    fn default() -> Self {
        let items = ItemsConfig {
            n_items: 30,
            ..ItemsConfig::default()
        };
        // Every pair once per order among 30 items: 870 questions, no pair
        // held out by the elicitation (the probes hold out items instead).
        let pairs = PairsConfig {
            strategy: Strategy::All,
            heldout_fraction: 0.0,
            ..PairsConfig::default()
        };
        Self {
            items,
            elicitation: ElicitationConfig::default(),
            pairs,
            fit: FitConfig::default(),
            model: ModelSpec::default(),
            completion: CompletionConfig::default(),
            self_report: SelfReportConfig::default(),
            targets: TargetsConfig::default(),
            extraction: ExtractionConfig::default(),
            probe: ProbeConfig::default(),
            resolved: None,
        }
    }
}

/// The task completions (the conversation whose activations are read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompletionConfig {
    /// Tokens of each completion at most.
    pub max_tokens: u32,
    /// Temperature (0 = greedy).
    pub temperature: f32,
    /// Seed of sampled completions.
    pub seed: u64,
}

impl Default for CompletionConfig {
    fn default() -> Self {
        Self {
            max_tokens: 32,
            temperature: 0.0,
            seed: 0,
        }
    }
}

/// The post-task self-report: after its completion, the model is asked the
/// question; the options' log-probabilities give the expected score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelfReportConfig {
    /// The question (the user's second turn).
    pub question: String,
    /// The answers read from the log-probabilities (2 to 10).
    pub options: Vec<String>,
    /// The score of each option; the target is `Σ p(option) · score`.
    pub scores: Vec<f64>,
}

impl Default for SelfReportConfig {
    fn default() -> Self {
        Self {
            question: "How did you find doing that task? Rate it as good, neutral, bad.\n\
                       Respond with only 'good', 'neutral', or 'bad'."
                .into(),
            options: vec!["good".into(), "neutral".into(), "bad".into()],
            scores: vec![1.0, 0.0, -1.0],
        }
    }
}

/// Which targets are collected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetsConfig {
    /// The self-report's expected score.
    pub self_report: bool,
    /// The pairwise choices: their Thurstonian μ per item, and the choices
    /// themselves for the Bradley–Terry probe.
    pub choices: bool,
}

impl Default for TargetsConfig {
    fn default() -> Self {
        Self {
            self_report: true,
            choices: true,
        }
    }
}

/// Where activations are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractionConfig {
    /// Relative depths in [0, 1]: layer `⌊depth × n_layers⌋` (at most the last).
    pub depths: Vec<f64>,
    /// Explicit layers (0-based), added to those of `depths`.
    pub layers: Vec<usize>,
    /// Token positions: `last` (the conversation's last token), `turn-boundary`
    /// (the prompt's last token, before the completion), `answer-mean` (the
    /// mean over the completion's tokens).
    pub positions: Vec<Position>,
    /// Conversations extracted between two writes of the activation files
    /// (a kill loses at most this many forward passes, never a model call).
    pub flush_every: usize,
}

impl Default for ExtractionConfig {
    fn default() -> Self {
        Self {
            depths: vec![0.5, 0.75],
            layers: Vec::new(),
            positions: vec![Position::Last, Position::TurnBoundary, Position::AnswerMean],
            flush_every: 32,
        }
    }
}

/// The probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeConfig {
    /// Share of the items held out (never seen by any probe's fit).
    pub test_fraction: f64,
    /// Seed of the item split, the baselines and the bootstraps.
    pub seed: u64,
    /// Ridge α grid (chosen by leave-one-out on the training items).
    pub alphas: Vec<f64>,
    /// Bradley–Terry probe λ grid (chosen on a validation share of the
    /// training pairs).
    pub lambdas: Vec<f64>,
    /// Bootstrap replicates of every held-out metric (over held-out items or
    /// pairs).
    pub bootstrap: usize,
    /// The text-only baseline: all-MiniLM-L6-v2 embeddings of the task
    /// through the same probes.
    pub text_baseline: bool,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            test_fraction: 0.25,
            seed: 0,
            alphas: pref_probe::DEFAULT_ALPHAS.to_vec(),
            lambdas: pref_probe::DEFAULT_LAMBDAS.to_vec(),
            bootstrap: 1000,
            text_baseline: true,
        }
    }
}

/// Layers at most.
const MAX_LAYERS: usize = 16;

impl ExtractionConfig {
    /// The layers for a model of `n_layers` layers, ascending and distinct.
    pub fn resolve(&self, n_layers: usize) -> Result<Vec<usize>> {
        let mut out = BTreeSet::new();
        for &d in &self.depths {
            out.insert(((d * n_layers as f64).floor() as usize).min(n_layers - 1));
        }
        for &l in &self.layers {
            if l >= n_layers {
                bail!(
                    "extraction.layers: layer {l} does not exist (the model has {n_layers} \
                     layers, 0..={})",
                    n_layers - 1
                );
            }
            out.insert(l);
        }
        Ok(out.into_iter().collect())
    }
}

impl Config {
    /// The sections the elicitation reads (the model's role is `model`).
    pub fn settings(&self) -> Settings<'_> {
        Settings {
            items: &self.items,
            elicitation: &self.elicitation,
            pairs: &self.pairs,
            fit: &self.fit,
            role: "model",
            prompt: None,
        }
    }

    /// Checks values serde cannot, naming the setting.
    pub fn check(&self) -> Result<()> {
        self.settings().check()?;
        self.model.check("model")?;
        if self.model.backend != Backend::Llama {
            bail!(
                "model.backend must be `llama`: the probe study reads activations inside the \
                 model, which an endpoint does not expose"
            );
        }
        if self.items.kind != ItemKind::Tasks {
            bail!("items.kind must be `tasks`: every item is completed as a task");
        }
        if self.elicitation.mode == pref_elicit::Mode::Rate && self.targets.choices {
            bail!(
                "elicitation.mode `rate` asks no pairwise choices: use `choose` or \
                 `complete-then-choose`, or set targets.choices = false"
            );
        }
        let c = &self.completion;
        if !(1..=MAX_TOKENS).contains(&c.max_tokens) {
            bail!(
                "completion.max_tokens must be in 1..={MAX_TOKENS}, got {}",
                c.max_tokens
            );
        }
        if !(c.temperature.is_finite() && (0.0..=2.0).contains(&c.temperature)) {
            bail!(
                "completion.temperature must be in [0, 2], got {}",
                c.temperature
            );
        }
        let s = &self.self_report;
        if self.targets.self_report {
            if s.question.trim().is_empty() {
                bail!("self_report.question is empty");
            }
            if !(2..=10).contains(&s.options.len()) {
                bail!(
                    "self_report.options: give 2 to 10 options, got {}",
                    s.options.len()
                );
            }
            let distinct: BTreeSet<String> =
                s.options.iter().map(|o| o.trim().to_lowercase()).collect();
            if distinct.len() != s.options.len() || distinct.contains("") {
                bail!(
                    "self_report.options must be distinct and non-empty, got {:?}",
                    s.options
                );
            }
            if s.scores.len() != s.options.len() {
                bail!(
                    "self_report.scores: {} scores for {} options (one score per option)",
                    s.scores.len(),
                    s.options.len()
                );
            }
            if s.scores.iter().any(|v| !v.is_finite()) {
                bail!("self_report.scores must be finite, got {:?}", s.scores);
            }
            if s.scores.iter().all(|&v| v == s.scores[0]) {
                bail!(
                    "self_report.scores are all equal ({:?}): the target would be constant",
                    s.scores
                );
            }
        }
        if !self.targets.self_report && !self.targets.choices {
            bail!("targets: both self_report and choices are off; nothing to probe");
        }
        let e = &self.extraction;
        if e.depths.is_empty() && e.layers.is_empty() {
            bail!("extraction: give at least one of depths or layers");
        }
        if let Some(d) = e.depths.iter().find(|d| !(0.0..=1.0).contains(*d)) {
            bail!("extraction.depths must be in [0, 1], got {d}");
        }
        if e.depths.len() + e.layers.len() > MAX_LAYERS {
            bail!("extraction: at most {MAX_LAYERS} depths and layers in all");
        }
        if e.positions.is_empty() {
            bail!("extraction.positions is empty: give at least one (last, turn-boundary, answer-mean)");
        }
        if e.positions
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len()
            != e.positions.len()
        {
            bail!(
                "extraction.positions: {:?} names a position twice",
                e.positions
            );
        }
        if !(1..=10_000).contains(&e.flush_every) {
            bail!(
                "extraction.flush_every must be in 1..=10000, got {}",
                e.flush_every
            );
        }
        let p = &self.probe;
        if !(p.test_fraction > 0.0 && p.test_fraction < 1.0) {
            bail!(
                "probe.test_fraction must be in (0, 1), got {}",
                p.test_fraction
            );
        }
        // As `pref_probe::Split::random` counts them.
        let n_test = (p.test_fraction * self.items.n_items as f64).ceil() as usize;
        if n_test < 3 || self.items.n_items - n_test < 5 {
            bail!(
                "probe.test_fraction {} of items.n_items {} leaves {n_test} held-out and {} \
                 training items: at least 3 and 5 are needed",
                p.test_fraction,
                self.items.n_items,
                self.items.n_items.saturating_sub(n_test)
            );
        }
        pref_probe::RidgeParams {
            alphas: p.alphas.clone(),
            ..Default::default()
        }
        .check()
        .map_err(|e| anyhow::anyhow!("probe.alphas: {e}"))?;
        if p.lambdas.is_empty() || p.lambdas.iter().any(|l| !(l.is_finite() && *l > 0.0)) {
            bail!(
                "probe.lambdas must be positive finite numbers, at least one (got {:?})",
                p.lambdas
            );
        }
        if !(100..=100_000).contains(&p.bootstrap) {
            bail!(
                "probe.bootstrap must be in 100..=100000, got {}",
                p.bootstrap
            );
        }
        Ok(())
    }
}

impl StudyConfig for Config {
    fn check(&self) -> std::result::Result<(), BoxError> {
        Config::check(self).map_err(Into::into)
    }

    fn models(&self) -> Vec<(String, ModelSpec)> {
        pref_study::ResolvedModel::roles(&self.model)
    }

    fn recorded_models(&self) -> Option<BTreeMap<String, String>> {
        pref_study::ResolvedModel::recorded(self.resolved.as_ref())
    }

    fn record_models(&mut self, ids: BTreeMap<String, String>, version: &str) {
        self.resolved = Some(pref_study::ResolvedModel::record(&ids, version));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_resolve_to_layers_and_bad_settings_are_named() {
        let e = ExtractionConfig::default();
        // SmolLM2-135M has 30 layers: ⌊0.5·30⌋ = 15, ⌊0.75·30⌋ = 22.
        assert_eq!(e.resolve(30).unwrap(), vec![15, 22]);
        let e = ExtractionConfig {
            depths: vec![1.0, 0.0],
            layers: vec![3, 29],
            ..e
        };
        assert_eq!(e.resolve(30).unwrap(), vec![0, 3, 29]);
        let bad = ExtractionConfig {
            layers: vec![30],
            ..ExtractionConfig::default()
        };
        assert!(bad
            .resolve(30)
            .unwrap_err()
            .to_string()
            .contains("layer 30"));

        Config::default().check().unwrap();
        type Change = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|c| c.model.backend = Backend::Openai),
                "model.backend",
            ),
            (
                Box::new(|c| c.items.kind = ItemKind::Outcomes),
                "items.kind",
            ),
            (
                Box::new(|c| c.self_report.scores = vec![1.0, 2.0]),
                "self_report.scores",
            ),
            (
                Box::new(|c| c.self_report.scores = vec![0.0; 3]),
                "self_report.scores",
            ),
            (
                Box::new(|c| c.self_report.options = vec!["a".into(), "A ".into(), "b".into()]),
                "self_report.options",
            ),
            (
                Box::new(|c| c.extraction.depths = vec![1.5]),
                "extraction.depths",
            ),
            (
                Box::new(|c| c.extraction.positions.clear()),
                "extraction.positions",
            ),
            (
                Box::new(|c| c.probe.test_fraction = 0.01),
                "probe.test_fraction",
            ),
            (Box::new(|c| c.probe.alphas = vec![-1.0]), "probe.alphas"),
            (Box::new(|c| c.probe.lambdas = vec![0.0]), "probe.lambdas"),
            (
                Box::new(|c| c.completion.max_tokens = 0),
                "completion.max_tokens",
            ),
            (
                Box::new(|c| {
                    c.targets.choices = false;
                    c.targets.self_report = false;
                }),
                "targets",
            ),
        ];
        for (change, name) in cases {
            let mut c = Config::default();
            change(&mut c);
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
        }
    }

    #[test]
    fn the_example_configuration_parses_and_passes_the_checks() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/configs/probe.toml");
        let cfg: Config = pref_study::read_config(&path).unwrap();
        cfg.check().unwrap();
        let e = toml::from_str::<Config>("[extraction]\ndepth = [0.5]\n").unwrap_err();
        assert!(e.to_string().contains("depth"), "{e}");
    }
}
