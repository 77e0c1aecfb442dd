//! The study's configuration: every option has a default (the demo on the
//! project's fixtures), a TOML file may set any subset (unknown keys are
//! errors), flags override both, and the resolved configuration is written to
//! the run directory's `config.toml`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use pref_elicit::judging::Judging;
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
    pub resolved: Option<pref_study::ResolvedModels>,
}

pub use pref_elicit::judging::{
    Answer, Author, GenerationConfig, JudgingConfig, Pairs, TaskKind, TasksConfig,
};

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
    /// The sections the judging design reads.
    pub fn judging(&self) -> Judging<'_> {
        Judging {
            tasks: &self.tasks,
            authors: &self.authors,
            generation: &self.generation,
            judging: &self.judging,
        }
    }

    /// Checks values serde cannot.
    pub fn check(&self) -> Result<()> {
        self.judging().check()?;
        if !(10..=100_000).contains(&self.analysis.bootstrap) {
            bail!(
                "analysis.bootstrap must be in 10..=100000 (got {})",
                self.analysis.bootstrap
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
        pref_study::ResolvedModels::recorded(self.resolved.as_ref())
    }

    fn record_models(&mut self, ids: BTreeMap<String, String>, version: &str) {
        self.resolved = Some(pref_study::ResolvedModels::record(ids, version));
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
