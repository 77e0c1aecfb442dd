//! The study's configuration: every option has a default, a TOML file may set
//! any subset (unknown keys are errors), and command-line flags override both.
//! The resolved configuration is written to the run directory's `config.toml`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use pref_llm::ModelSpec;
use pref_study::{BoxError, StudyConfig};
use pref_utility::{Readout, ThurstonianParams};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// What is compared.
    pub items: ItemsConfig,
    /// How each comparison is asked and read.
    pub elicitation: ElicitationConfig,
    /// Which pairs are asked, and which are held out.
    pub pairs: PairsConfig,
    /// The model answering.
    pub model: ModelConfig,
    /// The Thurstonian fit.
    pub fit: FitConfig,
    /// Written by `utility run`: the model's content-addressed id and the tool version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Resolved>,
}

/// Facts recorded when a run starts (never read from a user's file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolved {
    /// Content-addressed model id (backend, name, file sha256 or base URL, settings).
    pub model_id: String,
    /// Version of the `utility` binary.
    pub version: String,
}

pub use pref_study::ItemFile;

/// What is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemsConfig {
    /// Input files; items are drawn from them in turn (balanced across files).
    pub files: Vec<ItemFile>,
    /// How many items to draw (all when the files hold fewer).
    pub n_items: usize,
    /// Seed of the draw.
    pub seed: u64,
    /// `tasks` ("which task would you rather do?") or `outcomes` ("which state of
    /// the world would you prefer?").
    pub kind: ItemKind,
}

impl Default for ItemsConfig {
    fn default() -> Self {
        let fixture = |f: &str, s: &str| ItemFile {
            path: PathBuf::from("fixtures/study").join(f),
            source: s.into(),
        };
        Self {
            files: vec![
                fixture("alpaca.json", "alpaca"),
                fixture("math.jsonl", "math"),
                fixture("wildchat.jsonl", "wildchat"),
            ],
            n_items: 30,
            seed: 0,
            kind: ItemKind::Tasks,
        }
    }
}

/// The kind of item, which chooses the question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// Tasks the model could do.
    Tasks,
    /// States of the world.
    Outcomes,
}

/// How the preference is elicited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// "Which of these two would you rather do?"
    Choose,
    /// The model does both tasks (in one conversation), then says which it preferred.
    CompleteThenChoose,
    /// Each item alone, rated on `elicitation.scale` (e.g. 1–5); pairwise
    /// utilities are fitted to the probabilities the ratings imply.
    Rate,
}

/// How the answer is read: `logprobs` (the two labels' log-probabilities at the
/// answer position, one call) or `text` (a strict parser; unparseable answers are
/// kept as `choice: null`).
pub use pref_study::AnswerMode as Answer;

/// Elicitation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElicitationConfig {
    /// `choose`, `complete-then-choose` or `rate`.
    pub mode: Mode,
    /// `logprobs` (default) or `text`.
    pub answer: Answer,
    /// Samples per pair and order (each its own seed; with `logprobs` one is enough).
    pub samples: u32,
    /// Temperature of text answers (0 = greedy; the seed is the sample index).
    pub temperature: f32,
    /// The two option labels, first-shown first.
    pub labels: [String; 2],
    /// Mode `rate`: the rating labels, worst first (default "1".."5").
    pub scale: Vec<String>,
    /// A system message put before every question (none by default). Note that
    /// some servers' chat templates insert a default system prompt when none is
    /// given (SmolLM2's Jinja template does; llama.cpp's built-in ChatML does not).
    pub system: Option<String>,
    /// Token limit of each completion in `complete-then-choose`.
    pub max_tokens_complete: u32,
    /// How answers count in the fit: `probability` (the two labels' renormalised
    /// probabilities, with `logprobs`) or `choice` (1 for the chosen side, ½ a tie).
    pub readout: Readout,
}

impl Default for ElicitationConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Choose,
            answer: Answer::Logprobs,
            samples: 1,
            temperature: 0.0,
            labels: ["A".into(), "B".into()],
            scale: ["1", "2", "3", "4", "5"].map(String::from).to_vec(),
            system: None,
            max_tokens_complete: 96,
            readout: Readout::Probability,
        }
    }
}

/// Pair selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairsConfig {
    /// `all` pairs, a `random` subset of `budget` training pairs, or `active` learning.
    pub strategy: Strategy,
    /// Training pairs for `random`.
    pub budget: Option<usize>,
    /// Share of all pairs held out for evaluation (never used for fitting).
    pub heldout_fraction: f64,
    /// At most this many held-out pairs.
    pub heldout_cap: usize,
    /// Seed of the split, of `random` and of active learning.
    pub seed: u64,
    /// Settings of `strategy = "active"`.
    pub active: ActiveConfig,
}

impl Default for PairsConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::All,
            budget: None,
            heldout_fraction: 0.05,
            heldout_cap: 500,
            seed: 0,
            active: ActiveConfig::default(),
        }
    }
}

/// Active learning (pref-utility's procedure; see its README for the mathematics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActiveConfig {
    /// Degree of the initial random comparison graph.
    pub degree: usize,
    /// New pairs per round.
    pub pairs_per_round: usize,
    /// Stop at `edge_multiplier · N · log2 N` training pairs (at most all of them).
    pub edge_multiplier: f64,
    /// Percentile of |Δμ| that counts as uncertain.
    pub p_percent: f64,
    /// Percentile of degree sums that counts as under-sampled.
    pub q_percent: f64,
    /// Also ask a random set of as many pairs, so the report can draw active
    /// learning against random selection (pairs asked by both are asked once).
    pub compare_random: bool,
}

impl Default for ActiveConfig {
    fn default() -> Self {
        Self {
            degree: 2,
            pairs_per_round: 10,
            edge_multiplier: 1.0,
            p_percent: 10.0,
            q_percent: 20.0,
            compare_random: true,
        }
    }
}

/// Which training pairs are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Every pair not held out.
    All,
    /// A seeded random subset of `budget` pairs.
    Random,
    /// Active learning: start from a random graph, then ask the most uncertain,
    /// least compared pairs, refitting every round.
    Active,
}

/// The model: pref-llm's [`ModelSpec`] (backend, name, base URL, template, limits).
pub type ModelConfig = ModelSpec;

/// Thurstonian fit settings (see pref-utility's README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitConfig {
    /// Prior sd of μ (0 = flat).
    pub mu_prior_sd: f64,
    /// Prior sd of log σ² (0 = flat).
    pub s_prior_sd: f64,
    /// Seed of the starting point.
    pub seed: u64,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            mu_prior_sd: 5.0,
            s_prior_sd: 1.0,
            seed: 0,
        }
    }
}

impl Config {
    /// The Thurstonian parameters of the configuration (a prior sd of 0 is flat).
    pub fn fit_params(&self) -> ThurstonianParams {
        let prior = |sd: f64| (sd > 0.0).then_some(sd);
        ThurstonianParams::default()
            .seed(self.fit.seed)
            .mu_prior_sd(prior(self.fit.mu_prior_sd))
            .s_prior_sd(prior(self.fit.s_prior_sd))
    }

    /// Checks values serde cannot.
    pub fn check(&self) -> Result<()> {
        if self.items.files.is_empty() {
            bail!("items.files is empty: give at least one input file");
        }
        for f in &self.items.files {
            f.source
                .parse::<pref_data::loaders::Source>()
                .map_err(|e| anyhow::anyhow!("items.files: source of {}: {e}", f.path.display()))?;
        }
        if self.items.n_items < 3 {
            bail!(
                "items.n_items must be at least 3 (got {})",
                self.items.n_items
            );
        }
        if !(1..=MAX_SAMPLES).contains(&self.elicitation.samples) {
            bail!(
                "elicitation.samples must be in 1..={MAX_SAMPLES} (got {})",
                self.elicitation.samples
            );
        }
        if !(1..=MAX_TOKENS).contains(&self.elicitation.max_tokens_complete) {
            bail!(
                "elicitation.max_tokens_complete must be in 1..={MAX_TOKENS} (got {})",
                self.elicitation.max_tokens_complete
            );
        }
        let [a, b] = &self.elicitation.labels;
        if a.trim().is_empty() || b.trim().is_empty() || a.trim() == b.trim() {
            bail!("elicitation.labels must be two different non-empty labels (got {a:?}, {b:?})");
        }
        let scale = &self.elicitation.scale;
        let distinct: std::collections::HashSet<&str> = scale.iter().map(|s| s.trim()).collect();
        if scale.len() < 2 || distinct.len() != scale.len() || distinct.contains("") {
            bail!("elicitation.scale must hold at least two different non-empty labels (got {scale:?})");
        }
        if !(0.0..=2.0).contains(&self.elicitation.temperature) {
            bail!("elicitation.temperature must be in [0, 2]");
        }
        if !(0.0..0.5).contains(&self.pairs.heldout_fraction) {
            bail!("pairs.heldout_fraction must be in [0, 0.5)");
        }
        if self.pairs.strategy == Strategy::Random && self.pairs.budget.unwrap_or(0) == 0 {
            bail!("pairs.strategy = \"random\" needs pairs.budget ≥ 1");
        }
        if self.pairs.strategy == Strategy::Active {
            let a = &self.pairs.active;
            if a.degree == 0 || a.degree >= self.items.n_items {
                bail!(
                    "pairs.active.degree must be in 1..n_items ({}), got {}",
                    self.items.n_items,
                    a.degree
                );
            }
            if a.pairs_per_round == 0 {
                bail!("pairs.active.pairs_per_round must be at least 1");
            }
            if !(a.edge_multiplier.is_finite() && a.edge_multiplier > 0.0) {
                bail!("pairs.active.edge_multiplier must be > 0");
            }
            for (name, v) in [("p_percent", a.p_percent), ("q_percent", a.q_percent)] {
                if !(v > 0.0 && v <= 100.0) {
                    bail!("pairs.active.{name} must be in (0, 100], got {v}");
                }
            }
        }
        self.model.check("model")?;
        for (name, v) in [
            ("fit.mu_prior_sd", self.fit.mu_prior_sd),
            ("fit.s_prior_sd", self.fit.s_prior_sd),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("{name} must be finite and ≥ 0 (0 = a flat prior), got {v}");
            }
        }
        Ok(())
    }
}

/// Samples per pair and order at most (each is a model call per pair and order).
const MAX_SAMPLES: u32 = 10_000;

/// Tokens of one completion at most.
const MAX_TOKENS: u32 = 32_768;

impl StudyConfig for Config {
    fn check(&self) -> std::result::Result<(), BoxError> {
        Config::check(self).map_err(Into::into)
    }

    fn models(&self) -> Vec<(String, ModelSpec)> {
        vec![("model".into(), self.model.clone())]
    }

    fn recorded_models(&self) -> Option<BTreeMap<String, String>> {
        let r = self.resolved.as_ref()?;
        Some(BTreeMap::from([("model".to_string(), r.model_id.clone())]))
    }

    fn record_models(&mut self, ids: BTreeMap<String, String>, version: &str) {
        self.resolved = Some(Resolved {
            model_id: ids.get("model").cloned().unwrap_or_default(),
            version: version.into(),
        });
    }
}
