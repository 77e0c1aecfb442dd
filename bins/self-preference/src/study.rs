//! The study on pref-study: pref-elicit's judging design (draw tasks, every
//! author writes in stage `write`, every judge compares outputs in both orders
//! and optionally says which one it wrote in stage `judge`), then the analysis
//! (`crate::analysis`) and the report.

use std::collections::BTreeMap;
use std::time::Instant;

use pref_elicit::judging::{
    draw_tasks, judge_outputs, output_stats, stage_plans, write_outputs, OutputStats,
};
use pref_study::{BoxError, Calls, ModelRoles, Run, StagePlan, Study};
use serde::{Deserialize, Serialize};

use crate::analysis::Measures;
use crate::config::Config;

/// Wall-clock seconds by phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seconds {
    /// Writing the outputs.
    pub writing: f64,
    /// Judging.
    pub judging: f64,
    /// The analysis.
    pub analysis: f64,
    /// This process in all.
    pub total: f64,
}

/// What `results.json` of a run holds: the measures and the run's facts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Every measure (also what `analyze` and `merge` write).
    #[serde(flatten)]
    pub measures: Measures,
    /// Output lengths by author.
    pub outputs: BTreeMap<String, OutputStats>,
    /// Model calls this process made and had answered by the cache.
    pub model_calls: Calls,
    /// Tasks.
    pub n_tasks: usize,
    /// Judgments recorded.
    pub n_judgments: usize,
    /// Model ids by author.
    pub models: BTreeMap<String, String>,
    /// Seconds by phase.
    pub seconds: Seconds,
}

/// The self-preference study.
pub struct SelfPreference;

impl Study for SelfPreference {
    const NAME: &'static str = "self-preference";
    type Config = Config;
    type Results = Results;

    fn plan(
        cfg: &Config,
        models: &ModelRoles,
    ) -> Result<(Vec<StagePlan>, serde_json::Value), BoxError> {
        stage_plans(cfg.judging(), models)
    }

    fn run(run: &Run<Config>) -> Result<Results, BoxError> {
        let cfg = run.config();
        let items = draw_tasks(cfg.judging())?;
        let t_write = Instant::now();
        let outputs = write_outputs(run, cfg.judging(), &items)?;
        let t_judge = Instant::now();
        let judgments = judge_outputs(run, cfg.judging(), &items, &outputs)?;
        let t_analyse = Instant::now();
        let results = Results {
            measures: crate::analysis::analyse(cfg, &judgments)?,
            outputs: output_stats(cfg.judging(), &items, &outputs),
            model_calls: run.calls(),
            n_tasks: items.len(),
            n_judgments: judgments.len(),
            models: run.model_ids(),
            seconds: Seconds {
                writing: (t_judge - t_write).as_secs_f64(),
                judging: (t_analyse - t_judge).as_secs_f64(),
                analysis: t_analyse.elapsed().as_secs_f64(),
                total: run.seconds(),
            },
        };
        run.write_results(&results)?;
        crate::report::write(run, &results)?;
        Ok(results)
    }
}
