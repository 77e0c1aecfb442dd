//! The utility study on pref-study: the elicitation of pref-elicit (stage
//! `elicit`, after `complete` in mode `complete-then-choose`; stage `rate` in
//! mode `rate`) on the run's configuration, then typed results and the report.

use pref_elicit::{run_pairs, run_rate, stage_plans, Mode, Results};
use pref_study::{BoxError, ModelRoles, Run, StagePlan, Study};

use crate::config::Config;

/// The utility study.
pub struct UtilityStudy;

impl Study for UtilityStudy {
    const NAME: &'static str = "utility";
    type Config = Config;
    type Results = Results;

    fn plan(
        cfg: &Config,
        models: &ModelRoles,
    ) -> Result<(Vec<StagePlan>, serde_json::Value), BoxError> {
        stage_plans(cfg.settings(), models.get("model")?)
    }

    fn run(run: &Run<Config>) -> Result<Results, BoxError> {
        let s = run.config().settings();
        let results = if s.elicitation.mode == Mode::Rate {
            let rated = run_rate(run, s)?;
            run.write_results(&rated.results)?;
            crate::report::write_rate(run, &rated.items, &rated.results, rated.fit.as_ref())?;
            rated.results
        } else {
            let e = run_pairs(run, s)?;
            run.write_results(&e.results)?;
            crate::report::write(run, &e.plan, &e.results, e.fit.as_ref())?;
            e.results
        };
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Strategy;

    #[test]
    fn bad_configuration_is_named() {
        let mut cfg = Config::default();
        cfg.elicitation.labels = ["A".into(), "A".into()];
        assert!(cfg
            .check()
            .unwrap_err()
            .to_string()
            .contains("elicitation.labels"));
        let mut cfg = Config::default();
        cfg.pairs.strategy = Strategy::Random;
        assert!(cfg
            .check()
            .unwrap_err()
            .to_string()
            .contains("pairs.budget"));
        let mut cfg = Config::default();
        cfg.items.files[0].source = "nope".into();
        assert!(cfg.check().unwrap_err().to_string().contains("items.files"));
        let mut cfg = Config::default();
        cfg.fit.mu_prior_sd = f64::NAN;
        assert!(cfg
            .check()
            .unwrap_err()
            .to_string()
            .contains("fit.mu_prior_sd"));
        let mut cfg = Config::default();
        cfg.elicitation.samples = 1_000_000_000;
        assert!(cfg
            .check()
            .unwrap_err()
            .to_string()
            .contains("elicitation.samples"));
        let e = toml::from_str::<Config>("[items]\nn_itmes = 3\n").unwrap_err();
        assert!(e.to_string().contains("n_itmes"), "{e}");
        // The example configuration parses and passes the checks.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/configs/utility.toml");
        let cfg: Config = pref_study::read_config(&path).unwrap();
        cfg.check().unwrap();
        assert_eq!(cfg.items.n_items, 8);
    }
}
