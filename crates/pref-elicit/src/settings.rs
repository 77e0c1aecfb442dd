//! The settings of a utility elicitation: what is compared (`[items]`), how each
//! comparison is asked and read (`[elicitation]`), which pairs are asked
//! (`[pairs]`) and the Thurstonian fit (`[fit]`). A study's configuration holds
//! these sections (every option has a default; unknown keys are errors) and
//! lends them to the elicitation as one [`Settings`]. See `docs/utility.md`.

use std::collections::HashSet;
use std::path::PathBuf;

use pref_study::ItemFile;
use pref_utility::{Readout, ThurstonianParams};
use serde::{Deserialize, Serialize};

use crate::error::{setting, Result};

/// Samples per pair and order at most (each is a model call per pair and order).
pub const MAX_SAMPLES: u32 = 10_000;

/// Tokens of one completion at most.
pub const MAX_TOKENS: u32 = 32_768;

/// The sections of a study's configuration an elicitation reads, borrowed, and
/// the role of the model that answers.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// What is compared.
    pub items: &'a ItemsConfig,
    /// How each comparison is asked and read.
    pub elicitation: &'a ElicitationConfig,
    /// Which pairs are asked, and which are held out.
    pub pairs: &'a PairsConfig,
    /// The Thurstonian fit.
    pub fit: &'a FitConfig,
    /// The model's role in the run (`model` in the utility study).
    pub role: &'a str,
    /// How a comparison is put, when not by the built-in question (studies
    /// that vary the template; mode `choose` only).
    pub prompt: Option<&'a dyn ChoicePrompt>,
}

/// A pairwise question defined by a study (the `robustness` study's template
/// factors): the conversation, the two options read from the log-probabilities,
/// and the parser of text answers.
pub trait ChoicePrompt: std::fmt::Debug + Sync {
    /// The template's name: part of every record's id and recorded in it, so it
    /// must change whenever the text does.
    fn name(&self) -> String;
    /// The conversation asking to choose between `first` and `second` (shown in
    /// that order).
    fn messages(&self, first: &str, second: &str) -> Vec<pref_llm::Message>;
    /// The assistant's two possible answers, first-shown first, whose
    /// log-probabilities are read (a shared prefix such as `<choice>Task `
    /// cancels in the normalised probability).
    fn options(&self) -> [String; 2];
    /// Reads a text answer: `Some(0)` for the first option, `Some(1)` for the
    /// second, `None` when unparseable.
    fn parse(&self, text: &str) -> Option<usize>;
    /// Tokens a text answer may take.
    fn max_answer_tokens(&self) -> u32 {
        pref_study::TEXT_ANSWER_TOKENS
    }
    /// Added to the sample index to seed sampled text answers.
    fn seed(&self) -> u64 {
        0
    }
    /// Text answers: functions offered through an endpoint's tools API (OpenAI
    /// `tools` entries); a call comes back as `{"name": …, "arguments": {…}}`
    /// for [`ChoicePrompt::parse`]. None by default.
    fn tools(&self) -> Vec<serde_json::Value> {
        Vec::new()
    }
}

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// Tasks the model could do.
    Tasks,
    /// States of the world.
    Outcomes,
}

/// How the preference is elicited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
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
    /// Which presentation orders are asked: `both` (default; position bias
    /// cancels in the pooled counts), or one: `canonical` (a pair's items in
    /// draw order) or `reversed`.
    pub orders: Orders,
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
            orders: Orders::Both,
            temperature: 0.0,
            labels: ["A".into(), "B".into()],
            scale: ["1", "2", "3", "4", "5"].map(String::from).to_vec(),
            system: None,
            max_tokens_complete: 96,
            readout: Readout::Probability,
        }
    }
}

/// Which presentation orders of a pair are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Orders {
    /// Both orders.
    Both,
    /// The pair's items in draw order (`a` first).
    Canonical,
    /// `b` first.
    Reversed,
}

impl Orders {
    /// The orders asked.
    pub fn asked(self) -> &'static [pref_data::Order] {
        use pref_data::Order;
        match self {
            Orders::Both => &[Order::Ab, Order::Ba],
            Orders::Canonical => &[Order::Ab],
            Orders::Reversed => &[Order::Ba],
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
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

/// The four sections owned (for code that builds an elicitation without a
/// study's configuration file, and for tests).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sections {
    /// What is compared.
    pub items: ItemsConfig,
    /// How each comparison is asked and read.
    pub elicitation: ElicitationConfig,
    /// Which pairs are asked.
    pub pairs: PairsConfig,
    /// The Thurstonian fit.
    pub fit: FitConfig,
}

impl Sections {
    /// The sections as [`Settings`], the model answering in `role`.
    pub fn settings<'a>(&'a self, role: &'a str) -> Settings<'a> {
        Settings {
            items: &self.items,
            elicitation: &self.elicitation,
            pairs: &self.pairs,
            fit: &self.fit,
            role,
            prompt: None,
        }
    }
}

impl<'a> Settings<'a> {
    /// These settings with comparisons put by `prompt`.
    pub fn with_prompt(self, prompt: &'a dyn ChoicePrompt) -> Self {
        Self {
            prompt: Some(prompt),
            ..self
        }
    }

    /// The Thurstonian parameters (a prior sd of 0 is flat).
    pub fn fit_params(&self) -> ThurstonianParams {
        let prior = |sd: f64| (sd > 0.0).then_some(sd);
        ThurstonianParams::default()
            .seed(self.fit.seed)
            .mu_prior_sd(prior(self.fit.mu_prior_sd))
            .s_prior_sd(prior(self.fit.s_prior_sd))
    }

    /// Checks what serde cannot, naming the setting.
    pub fn check(&self) -> Result<()> {
        if self.prompt.is_some() && self.elicitation.mode != Mode::Choose {
            setting!(
                "elicitation.mode must be `choose` when the study sets the question's template"
            );
        }
        if self.elicitation.orders != Orders::Both && self.elicitation.mode == Mode::Rate {
            setting!("elicitation.orders applies to pairwise modes, not `rate`");
        }
        if self.items.files.is_empty() {
            setting!("items.files is empty: give at least one input file");
        }
        for f in &self.items.files {
            if let Err(e) = f.source.parse::<pref_data::loaders::Source>() {
                setting!("items.files: source of {}: {e}", f.path.display());
            }
        }
        if self.items.n_items < 3 {
            setting!(
                "items.n_items must be at least 3 (got {})",
                self.items.n_items
            );
        }
        let e = self.elicitation;
        if !(1..=MAX_SAMPLES).contains(&e.samples) {
            setting!(
                "elicitation.samples must be in 1..={MAX_SAMPLES} (got {})",
                e.samples
            );
        }
        if !(1..=MAX_TOKENS).contains(&e.max_tokens_complete) {
            setting!(
                "elicitation.max_tokens_complete must be in 1..={MAX_TOKENS} (got {})",
                e.max_tokens_complete
            );
        }
        let [a, b] = &e.labels;
        if a.trim().is_empty() || b.trim().is_empty() || a.trim() == b.trim() {
            setting!(
                "elicitation.labels must be two different non-empty labels (got {a:?}, {b:?})"
            );
        }
        let distinct: HashSet<&str> = e.scale.iter().map(|s| s.trim()).collect();
        if e.scale.len() < 2 || distinct.len() != e.scale.len() || distinct.contains("") {
            setting!(
                "elicitation.scale must hold at least two different non-empty labels (got {:?})",
                e.scale
            );
        }
        if !(0.0..=2.0).contains(&e.temperature) {
            setting!("elicitation.temperature must be in [0, 2]");
        }
        let p = self.pairs;
        if !(0.0..0.5).contains(&p.heldout_fraction) {
            setting!("pairs.heldout_fraction must be in [0, 0.5)");
        }
        if p.strategy == Strategy::Random && p.budget.unwrap_or(0) == 0 {
            setting!("pairs.strategy = \"random\" needs pairs.budget ≥ 1");
        }
        if p.strategy == Strategy::Active {
            let a = &p.active;
            if a.degree == 0 || a.degree >= self.items.n_items {
                setting!(
                    "pairs.active.degree must be in 1..n_items ({}), got {}",
                    self.items.n_items,
                    a.degree
                );
            }
            if a.pairs_per_round == 0 {
                setting!("pairs.active.pairs_per_round must be at least 1");
            }
            if !(a.edge_multiplier.is_finite() && a.edge_multiplier > 0.0) {
                setting!("pairs.active.edge_multiplier must be > 0");
            }
            for (name, v) in [("p_percent", a.p_percent), ("q_percent", a.q_percent)] {
                if !(v > 0.0 && v <= 100.0) {
                    setting!("pairs.active.{name} must be in (0, 100], got {v}");
                }
            }
        }
        for (name, v) in [
            ("fit.mu_prior_sd", self.fit.mu_prior_sd),
            ("fit.s_prior_sd", self.fit.s_prior_sd),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                setting!("{name} must be finite and ≥ 0 (0 = a flat prior), got {v}");
            }
        }
        Ok(())
    }
}
