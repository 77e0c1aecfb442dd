//! The study's configuration: every option has a default, a TOML file may set
//! any subset (unknown keys are errors), and command-line flags override both.
//! The resolved configuration is written to the run directory's `config.toml`.

use std::collections::BTreeMap;

use anyhow::Result;
use pref_elicit::Settings;
use pref_llm::ModelSpec;
use pref_study::{BoxError, StudyConfig};
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
    pub resolved: Option<pref_study::ResolvedModel>,
}

pub use pref_elicit::settings::{
    Answer, ElicitationConfig, FitConfig, ItemKind, ItemsConfig, Mode, PairsConfig, Strategy,
};

/// The model: pref-llm's [`ModelSpec`] (backend, name, base URL, template, limits).
pub type ModelConfig = ModelSpec;

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
