//! The study's configuration: every option has a default (the demo on the
//! project's fixtures), a TOML file may set any subset (unknown keys are
//! errors), flags override both, and the resolved configuration is written to
//! the run directory's `config.toml`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use pref_llm::ModelSpec;
use pref_study::{BoxError, StudyConfig};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The articles or prompts.
    pub tasks: TasksConfig,
    /// Who writes (and who judges).
    pub authors: Vec<Author>,
    /// How authors write.
    pub generation: GenerationConfig,
    /// How judges are asked.
    pub judging: JudgingConfig,
    /// Intervals.
    pub analysis: AnalysisConfig,
    /// An external rating of the authors (Chatbot Arena), optional.
    pub ground_truth: Option<GroundTruth>,
    /// Written by `run`: content-addressed model ids per author and the tool version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Resolved>,
}

/// Facts recorded when a run starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolved {
    /// Model id of every model author.
    pub model_ids: BTreeMap<String, String>,
    /// Version of the binary.
    pub version: String,
}

/// What is written about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// News articles to summarise.
    Summarise,
    /// Prompts to answer.
    Answer,
}

/// The tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksConfig {
    /// The file (relative paths against the working directory).
    pub file: PathBuf,
    /// Its format: `cnn_dailymail`, `alpaca`, `math`, `wildchat`, `arena`, `tasks`.
    pub source: String,
    /// `summarise` (articles) or `answer` (prompts).
    pub kind: TaskKind,
    /// Tasks drawn (all when the file holds fewer).
    pub n: usize,
    /// Seed of the draw.
    pub seed: u64,
    /// Articles and prompts longer than this many characters are cut at a word
    /// boundary (small models have short contexts; every prompt repeats the task).
    pub max_chars: usize,
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self {
            file: PathBuf::from("fixtures/study/cnn_dailymail.jsonl"),
            source: "cnn_dailymail".into(),
            kind: TaskKind::Summarise,
            n: 6,
            seed: 0,
            max_chars: 800,
        }
    }
}

/// One author: a model (with an optional system prompt, temperature and seed:
/// a "variant" is the same weights with its own settings) or outputs recorded
/// in the task file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Author {
    /// Unique name (used in records, tables and the ground-truth mapping).
    pub name: String,
    /// The model writing; `None` for recorded outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSpec>,
    /// System message when writing and judging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Sampling temperature when writing (default `generation.temperature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Sampling seed when writing.
    #[serde(default)]
    pub seed: u64,
    /// Whether this model author also judges (default true; recorded authors never judge).
    #[serde(default = "yes")]
    pub judge: bool,
    /// Recorded outputs: a field of the task file's rows (`highlights` is the
    /// reference summary; e.g. `summary_gpt4` in the shared CNN/DailyMail sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
}

fn yes() -> bool {
    true
}

impl Author {
    /// A model author that also judges.
    pub fn model(name: &str, spec: ModelSpec, system: Option<&str>) -> Self {
        Self {
            name: name.into(),
            model: Some(spec),
            system: system.map(String::from),
            temperature: None,
            seed: 0,
            judge: true,
            recorded: None,
        }
    }

    /// Whether this author judges.
    pub fn is_judge(&self) -> bool {
        self.judge && self.model.is_some()
    }
}

impl Default for Config {
    fn default() -> Self {
        let smol = ModelSpec::default();
        let gemma = ModelSpec {
            name: "gemma-3-270m".into(),
            chat_template: Some("gemma".into()),
            ..ModelSpec::default()
        };
        Self {
            tasks: TasksConfig::default(),
            authors: vec![
                Author::model("smollm2", smol.clone(), None),
                Author::model("gemma", gemma, None),
                Author::model(
                    "smollm2-brief",
                    smol,
                    Some("You are a news editor. You write very brief, factual summaries."),
                ),
                Author {
                    name: "reference".into(),
                    model: None,
                    system: None,
                    temperature: None,
                    seed: 0,
                    judge: false,
                    recorded: Some("highlights".into()),
                },
            ],
            generation: GenerationConfig::default(),
            judging: JudgingConfig::default(),
            analysis: AnalysisConfig::default(),
            ground_truth: None,
            resolved: None,
        }
    }
}

/// How authors write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationConfig {
    /// Token limit of each output.
    pub max_tokens: u32,
    /// Temperature (0 = greedy) unless an author sets its own.
    pub temperature: f32,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_tokens: 64,
            temperature: 0.0,
        }
    }
}

/// Which author pairs each judge compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Pairs {
    /// Its own output against each other author's (what self-preference needs).
    Own,
    /// Every pair of authors (also what a judge-derived rating of all authors needs).
    All,
}

/// How answers are read: `logprobs` (the two labels' log-probabilities at the
/// answer position, one call) or `text` (a strict parser; unparseable answers are
/// kept with `winner: null`).
pub use pref_study::AnswerMode as Answer;

/// How judges are asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JudgingConfig {
    /// `own` (default) or `all` author pairs.
    pub pairs: Pairs,
    /// Also ask "which of these did you write?" on own-vs-other pairs.
    pub recognition: bool,
    /// `logprobs` (default) or `text`.
    pub answer: Answer,
    /// The two option labels, first-shown first.
    pub labels: [String; 2],
}

impl Default for JudgingConfig {
    fn default() -> Self {
        Self {
            pairs: Pairs::Own,
            recognition: true,
            answer: Answer::Logprobs,
            labels: ["A".into(), "B".into()],
        }
    }
}

/// Interval settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Bootstrap replicates (resampling tasks).
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            bootstrap: 1000,
            seed: 0,
        }
    }
}

/// An external rating of the authors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroundTruth {
    /// A leaderboard: LMArena text JSON, Arena Elo CSV, or Arena bootstrap JSONL.
    pub file: PathBuf,
    /// Category of an LMArena JSON leaderboard (default: its overall one).
    #[serde(default)]
    pub category: Option<String>,
    /// Author name → leaderboard model name (authors not listed use their own name).
    #[serde(default)]
    pub names: BTreeMap<String, String>,
}

impl Config {
    /// Checks values serde cannot.
    pub fn check(&self) -> Result<()> {
        self.tasks
            .source
            .parse::<pref_data::loaders::Source>()
            .map_err(|e| anyhow::anyhow!("tasks.source: {e}"))?;
        if self.tasks.n < 1 {
            bail!("tasks.n must be at least 1");
        }
        if self.tasks.max_chars < 50 {
            bail!("tasks.max_chars must be at least 50");
        }
        if self.authors.len() < 2 {
            bail!("give at least two [[authors]]");
        }
        let mut seen = std::collections::HashSet::new();
        for (k, a) in self.authors.iter().enumerate() {
            let at = format!("authors[{k}] (`{}`)", a.name);
            if a.name.trim().is_empty() {
                bail!("authors[{k}].name is empty");
            }
            if !seen.insert(a.name.as_str()) {
                bail!("{at}: the name is used twice");
            }
            match (&a.model, &a.recorded) {
                (Some(_), Some(_)) => bail!("{at}: give either `model` or `recorded`, not both"),
                (None, None) => bail!("{at}: give `model` (a model that writes) or `recorded` (a field of the task file)"),
                (Some(m), None) => m.check(&format!("authors[{k}].model"))?,
                (None, Some(_)) => {}
            }
            if let Some(t) = a.temperature {
                if !(0.0..=2.0).contains(&t) {
                    bail!("{at}: temperature must be in [0, 2]");
                }
            }
        }
        if !self.authors.iter().any(Author::is_judge) {
            bail!("no author judges: at least one model author needs `judge = true`");
        }
        let [a, b] = &self.judging.labels;
        if a.trim().is_empty() || b.trim().is_empty() || a.trim() == b.trim() {
            bail!("judging.labels must be two different non-empty labels (got {a:?}, {b:?})");
        }
        if !(10..=100_000).contains(&self.analysis.bootstrap) {
            bail!(
                "analysis.bootstrap must be in 10..=100000 (got {})",
                self.analysis.bootstrap
            );
        }
        let g = &self.generation;
        if !(1..=32_768).contains(&g.max_tokens) {
            bail!(
                "generation.max_tokens must be in 1..=32768 (got {})",
                g.max_tokens
            );
        }
        if !(0.0..=2.0).contains(&g.temperature) {
            bail!(
                "generation.temperature must be in [0, 2] (got {})",
                g.temperature
            );
        }
        if let Some(g) = &self.ground_truth {
            if !g.file.is_file() {
                bail!("ground_truth.file {}: no such file", g.file.display());
            }
            for name in g.names.keys() {
                if !self.authors.iter().any(|a| &a.name == name) {
                    bail!("ground_truth.names: `{name}` is not an author");
                }
            }
        }
        Ok(())
    }
}

impl StudyConfig for Config {
    fn check(&self) -> std::result::Result<(), BoxError> {
        Config::check(self).map_err(Into::into)
    }

    fn models(&self) -> Vec<(String, ModelSpec)> {
        self.authors
            .iter()
            .filter_map(|a| Some((a.name.clone(), a.model.clone()?)))
            .collect()
    }

    fn recorded_models(&self) -> Option<BTreeMap<String, String>> {
        self.resolved.as_ref().map(|r| r.model_ids.clone())
    }

    fn record_models(&mut self, ids: BTreeMap<String, String>, version: &str) {
        self.resolved = Some(Resolved {
            model_ids: ids,
            version: version.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_mistakes_are_named() {
        Config::default().check().unwrap();
        let mut c = Config::default();
        c.authors[1].name = "smollm2".into();
        assert!(c.check().unwrap_err().to_string().contains("used twice"));
        let mut c = Config::default();
        c.authors[3].recorded = None;
        assert!(c.check().unwrap_err().to_string().contains("authors[3]"));
        let mut c = Config::default();
        c.authors.iter_mut().for_each(|a| a.judge = false);
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("no author judges"));
        for (edit, name) in [
            (
                (|c: &mut Config| c.analysis.bootstrap = 100_000_000_000) as fn(&mut Config),
                "analysis.bootstrap",
            ),
            (
                |c| c.generation.temperature = -1.0,
                "generation.temperature",
            ),
            (|c| c.generation.max_tokens = 0, "generation.max_tokens"),
            (
                |c| c.generation.max_tokens = 4_000_000_000,
                "generation.max_tokens",
            ),
        ] {
            let mut c = Config::default();
            edit(&mut c);
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
        let e = toml::from_str::<Config>("[judging]\nrecognise = true\n").unwrap_err();
        assert!(e.to_string().contains("recognise"), "{e}");
        let t = "[[authors]]\nname = \"x\"\nmodel = { name = \"default\", thread = 2 }\n";
        let e = toml::from_str::<Config>(t).unwrap_err();
        assert!(e.to_string().contains("thread"), "{e}");
    }

    /// The example configurations parse and pass the checks.
    #[test]
    fn example_configs_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs");
        for (f, n) in [
            ("self-preference.toml", 3),
            ("self-preference-cnn.toml", 20),
        ] {
            let mut cfg = pref_study::read_config::<Config>(&dir.join(f)).unwrap();
            // Paths in the examples are relative to the workspace root; the
            // leaderboard is shared data (a fresh clone has none).
            let shared = pref_data::paths::shared_data_dir().is_some();
            if let Some(g) = &mut cfg.ground_truth {
                g.file = dir.join("../..").join(&g.file);
            }
            if !shared {
                cfg.ground_truth = None;
            }
            cfg.check().unwrap();
            assert_eq!(cfg.tasks.n, n, "{f}");
        }
    }
}
