//! The study's configuration: the utility elicitation's sections (`[items]`,
//! `[elicitation]`, `[pairs]`, `[fit]`, `[model]`), the template design
//! (`[design]`) and the analysis (`[analysis]`). Every option has a default;
//! unknown keys are errors. See docs/robustness.md.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use pref_elicit::settings::{ElicitationConfig, FitConfig, ItemsConfig, PairsConfig};
use pref_elicit::{Settings, Strategy};
use pref_llm::ModelSpec;
use pref_study::{BoxError, StudyConfig};
use serde::{Deserialize, Serialize};

use crate::template::{Factor, FACTORS};
use pref_elicit::positivity::{PositivityConfig, Templates};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// What is compared (the same items in every configuration).
    pub items: ItemsConfig,
    /// How each comparison is read (`answer`, `samples`, `temperature`,
    /// `readout`); the question itself comes from the template factors.
    pub elicitation: ElicitationConfig,
    /// Which pairs are asked (default: all, none held out).
    pub pairs: PairsConfig,
    /// The model answering.
    pub model: ModelSpec,
    /// The Thurstonian fit of each configuration.
    pub fit: FitConfig,
    /// Which template configurations are run.
    pub design: DesignConfig,
    /// The analysis across configurations.
    pub analysis: AnalysisConfig,
    /// The positivity check of post-task self-reports.
    pub positivity: PositivityConfig,
    /// Written by `robustness run`: the model's id and the tool version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<pref_study::ResolvedModel>,
}

impl Default for Config {
    fn default() -> Self {
        let items = ItemsConfig {
            n_items: 20,
            ..ItemsConfig::default()
        };
        let pairs = PairsConfig {
            strategy: Strategy::All,
            heldout_fraction: 0.0,
            ..PairsConfig::default()
        };
        Self {
            items,
            elicitation: ElicitationConfig::default(),
            pairs,
            model: ModelSpec::default(),
            fit: FitConfig::default(),
            design: DesignConfig::default(),
            analysis: AnalysisConfig::default(),
            positivity: PositivityConfig::default(),
            resolved: None,
        }
    }
}

/// How configurations are drawn from the factor grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sampling {
    /// Each varied factor's level drawn uniformly, independently.
    Random,
    /// Each varied factor's levels used equally often (±1), in a random
    /// order per factor, independently across factors.
    LatinHypercube,
    /// Every combination of the varied factors' levels.
    Factorial,
}

/// The template design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DesignConfig {
    /// `random`, `latin-hypercube` (default) or `factorial`.
    pub sampling: Sampling,
    /// Configurations to draw (`random`, `latin-hypercube`); at most 1000.
    pub n_configs: usize,
    /// The factors varied (default: all eleven).
    pub vary: Vec<String>,
    /// Levels of the factors not varied (default: each factor's first level).
    pub fixed: BTreeMap<String, String>,
    /// The levels of the `seed` factor (sampling seeds of text answers).
    pub seeds: Vec<u64>,
    /// Seed of the draw of configurations.
    pub seed: u64,
    /// Share of template words of four letters or more that get a typo
    /// (two neighbouring inner letters swapped) when `typos = on`.
    pub typo_rate: f64,
    /// Seed of the typos (the same text gets the same typos in every run).
    pub typo_seed: u64,
}

impl Default for DesignConfig {
    fn default() -> Self {
        Self {
            sampling: Sampling::LatinHypercube,
            n_configs: 12,
            vary: FACTORS.iter().map(|f| f.name.to_string()).collect(),
            fixed: BTreeMap::new(),
            seeds: vec![0, 1, 2],
            seed: 0,
            typo_rate: 0.15,
            typo_seed: 0,
        }
    }
}

/// Which correlation compares two configurations' utilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Correlation {
    /// Pearson on μ.
    Pearson,
    /// Spearman on μ's ranks.
    Spearman,
}

/// The analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Correlation between two configurations' utilities (`pearson`, as the
    /// seed study, or `spearman`).
    pub correlation: Correlation,
    /// Configuration pairs sharing fewer items are skipped (and counted).
    pub min_shared: usize,
    /// Bootstrap replicates (run-level for the regression, per pair for the
    /// cycle rates); at least 100.
    pub bootstrap: usize,
    /// Seed of the bootstraps.
    pub seed: u64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            correlation: Correlation::Pearson,
            min_shared: 10,
            bootstrap: 1000,
            seed: 0,
        }
    }
}

/// Configurations at most (each is a full elicitation).
pub const MAX_CONFIGS: usize = 1000;

fn factor(name: &str, what: &str) -> Result<&'static Factor> {
    FACTORS.iter().find(|f| f.name == name).ok_or_else(|| {
        let names: Vec<&str> = FACTORS.iter().map(|f| f.name).collect();
        anyhow::anyhow!(
            "{what}: unknown factor `{}` (factors: {})",
            pref_data::quote(name),
            names.join(", ")
        )
    })
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
        if self.elicitation.mode != pref_elicit::Mode::Choose {
            bail!("elicitation.mode must be `choose` (the templates put the question)");
        }
        if self.elicitation.orders != pref_elicit::Orders::Both {
            bail!("elicitation.orders is set by the `order` factor: leave it out");
        }
        let d = &self.design;
        let mut seen = BTreeSet::new();
        for name in &d.vary {
            factor(name, "design.vary")?;
            if !seen.insert(name) {
                bail!("design.vary: `{name}` is given twice");
            }
        }
        if d.vary.is_empty() {
            bail!("design.vary is empty: vary at least one factor");
        }
        for (name, level) in &d.fixed {
            let f = factor(name, "design.fixed")?;
            if d.vary.contains(name) {
                bail!("design.fixed.{name}: `{name}` is also in design.vary");
            }
            if name == "seed" {
                if !level.parse::<u64>().is_ok_and(|s| d.seeds.contains(&s)) {
                    bail!(
                        "design.fixed.seed must be one of design.seeds {:?}, got `{}`",
                        d.seeds,
                        pref_data::quote(level)
                    );
                }
            } else if !f.levels.contains(&level.as_str()) {
                bail!(
                    "design.fixed.{name}: unknown level `{}` (levels: {})",
                    pref_data::quote(level),
                    f.levels.join(", ")
                );
            }
        }
        if d.seeds.is_empty() || d.seeds.iter().collect::<BTreeSet<_>>().len() != d.seeds.len() {
            bail!(
                "design.seeds must hold distinct seeds, at least one (got {:?})",
                d.seeds
            );
        }
        if !(0.0..=1.0).contains(&d.typo_rate) {
            bail!("design.typo_rate must be in [0, 1], got {}", d.typo_rate);
        }
        let n = match d.sampling {
            Sampling::Factorial => crate::design::factorial_size(self),
            _ => d.n_configs,
        };
        if !(2..=MAX_CONFIGS).contains(&n) {
            bail!(
                "design: {n} configurations; between 2 and {MAX_CONFIGS} are allowed \
                 (design.n_configs, or the product of the varied factors' levels for factorial)"
            );
        }
        // The regression needs more configuration pairs than coefficients.
        let (pairs, coefs) = (n * (n - 1) / 2, d.vary.len() + 1);
        if pairs <= coefs {
            bail!(
                "design: {n} configurations give {pairs} pairs, too few for {coefs} coefficients \
                 (the intercept and {} varied factors): raise design.n_configs or vary fewer factors",
                d.vary.len()
            );
        }
        let p = &self.positivity;
        if p.enabled {
            if p.n_items == 0 {
                bail!("positivity.n_items must be at least 1 (or set positivity.enabled = false)");
            }
            if !(1..=pref_elicit::settings::MAX_TOKENS).contains(&p.max_tokens) {
                bail!(
                    "positivity.max_tokens must be in 1..={}, got {}",
                    pref_elicit::settings::MAX_TOKENS,
                    p.max_tokens
                );
            }
            if !(p.temperature.is_finite() && (0.0..=2.0).contains(&p.temperature)) {
                bail!(
                    "positivity.temperature must be in [0, 2], got {}",
                    p.temperature
                );
            }
            Templates::load(p.templates.as_deref())?;
        }
        let a = &self.analysis;
        if a.min_shared < 2 {
            bail!(
                "analysis.min_shared must be at least 2, got {}",
                a.min_shared
            );
        }
        if !(100..=100_000).contains(&a.bootstrap) {
            bail!(
                "analysis.bootstrap must be in 100..=100000, got {}",
                a.bootstrap
            );
        }
        if self.items.n_items < a.min_shared {
            bail!(
                "items.n_items ({}) is below analysis.min_shared ({}): no two configurations \
                 could be compared",
                self.items.n_items,
                a.min_shared
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
    fn the_example_configuration_parses_and_passes_the_checks() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/configs/robustness.toml");
        let cfg: Config = pref_study::read_config(&path).unwrap();
        cfg.check().unwrap();
        assert_eq!((cfg.items.n_items, cfg.design.n_configs), (20, 12));
        // A section keeps the study's defaults for the keys it leaves out: the
        // example's `[pairs]` sets the strategy, not the held-out share, which
        // stays this study's 0 (pref-elicit's own default is 0.05).
        assert_eq!(
            (
                cfg.pairs.strategy,
                cfg.pairs.budget,
                cfg.pairs.heldout_fraction
            ),
            (Strategy::Random, Some(120), 0.0)
        );
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("c.toml");
        std::fs::write(
            &p,
            "[items]\nseed = 4\n\n[pairs]\nbudget = 7\nstrategy = \"random\"\n",
        )
        .unwrap();
        let c: Config = pref_study::read_config(&p).unwrap();
        assert_eq!(
            (c.items.n_items, c.items.seed, c.pairs.heldout_fraction),
            (20, 4, 0.0)
        );
        std::fs::write(&p, "[pairs]\nbudget = 7\nstrateg = \"random\"\n").unwrap();
        let e = match pref_study::read_config::<Config>(&p) {
            Err(pref_study::Error::Config(e)) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert!(e.contains("c.toml:3") && e.contains("strateg"), "{e}");
        Config::default().check().unwrap();
        let e = toml::from_str::<Config>("[design]\nn_confgs = 3\n").unwrap_err();
        assert!(e.to_string().contains("n_confgs"), "{e}");
    }
}
