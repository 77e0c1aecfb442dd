//! The `robustness` study on pref-study: one utility elicitation (pref-elicit's
//! `run_pairs`) per template configuration, all through one record log and one
//! model cache, then the analysis across configurations.

use std::collections::BTreeMap;
use std::time::Instant;

use pref_data::PairCounts;
use pref_elicit::{run_pairs, stage_plans, Answer, Orders, Settings};
use pref_llm::LanguageModel;
use pref_study::{BoxError, ModelRoles, Run, StagePlan, Study};
use pref_utility::{
    bootstrap_regression, correlation_matrix, factor_regression, transitivity,
    transitivity_intervals, CorrelationMethod, PairData, TriadSampling, UtilityRun,
};
use serde::Serialize;

use crate::config::{Config, Correlation};
use crate::design::{configurations, Configuration};
use crate::template::Template;

/// The study.
pub struct RobustnessStudy;

/// A configuration with its question.
struct Prepared {
    config: Configuration,
    template: Template,
    elicitation: pref_elicit::settings::ElicitationConfig,
}

fn prepare(cfg: &Config) -> Result<(Vec<Prepared>, usize), BoxError> {
    let (configs, repeats) = configurations(cfg);
    // Text answers from an endpoint: the tool format through its tools API.
    let tools_api =
        cfg.model.backend == pref_llm::Backend::Openai && cfg.elicitation.answer == Answer::Text;
    let mut out = Vec::with_capacity(configs.len());
    for c in configs {
        let template = Template::new(
            &c.levels,
            cfg.design.typo_rate,
            cfg.design.typo_seed,
            tools_api,
        )?;
        let mut elicitation = cfg.elicitation.clone();
        elicitation.orders = match c.levels["order"].as_str() {
            "reversed" => Orders::Reversed,
            _ => Orders::Canonical,
        };
        out.push(Prepared {
            config: c,
            template,
            elicitation,
        });
    }
    Ok((out, repeats))
}

impl Prepared {
    fn settings<'a>(&'a self, cfg: &'a Config) -> Settings<'a> {
        Settings {
            elicitation: &self.elicitation,
            ..cfg.settings()
        }
        .with_prompt(&self.template)
    }
}

/// One configuration's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigResult {
    /// `c00`, …
    pub name: String,
    /// Factor → level.
    pub levels: BTreeMap<String, String>,
    /// The template's name (in every record of this configuration).
    pub template: String,
    /// Comparisons recorded.
    pub n_comparisons: usize,
    /// Of those, unparseable answers (kept in the records, not fitted).
    pub unparseable: usize,
    /// Share of answers picking the option shown first, with its 95% interval.
    pub first_shown_share: Option<(f64, [f64; 2])>,
    /// Fitted utility per item (`None`: nothing could be fitted).
    pub utilities: Option<BTreeMap<String, f64>>,
    /// Hard-cycle share of all triads, with a 95% bootstrap interval.
    pub hard_cycle_rate: Option<(f64, [f64; 2])>,
    /// Mean soft-cycle probability, with a 95% bootstrap interval.
    pub soft_cycle_rate: Option<(f64, [f64; 2])>,
    /// Triads examined.
    pub n_triads: usize,
}

/// A coefficient of the regression.
#[derive(Debug, Clone, Serialize)]
pub struct Coefficient {
    /// Estimate (minimum-norm share for an aliased factor).
    pub estimate: f64,
    /// Classical standard error (optimistic: run pairs share runs).
    pub se: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Run-level bootstrap 95% interval.
    pub ci95_bootstrap: [f64; 2],
}

/// The regression of configuration-pair correlations on factor matches.
#[derive(Debug, Clone, Serialize)]
pub struct Regression {
    /// `pearson` or `spearman`.
    pub correlation: Correlation,
    /// Configuration pairs used.
    pub n_pairs: usize,
    /// Pairs skipped (fewer than `min_shared` items; undefined correlation).
    pub n_skipped: usize,
    /// Numerical rank of the design, and its columns.
    pub rank: usize,
    /// Columns (intercept + non-constant factors).
    pub p: usize,
    /// R² with its bootstrap interval.
    pub r2: f64,
    /// Bootstrap interval of R².
    pub r2_ci95: [f64; 2],
    /// The intercept: the expected correlation of two configurations that
    /// share no level.
    pub intercept: Coefficient,
    /// Per factor.
    pub coefficients: BTreeMap<String, Coefficient>,
    /// Factors always changed together, with their estimable sum.
    pub aliased: Vec<(Vec<String>, Coefficient)>,
    /// Factors constant over the pairs (not varied): not estimable.
    pub constant: Vec<String>,
}

/// What `results.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The model's id.
    pub model: String,
    /// Items (the same in every configuration).
    pub items: Vec<String>,
    /// Per configuration.
    pub configs: Vec<ConfigResult>,
    /// Correlation matrix of the configurations' utilities (`NaN` as null).
    pub correlations: Vec<Vec<Option<f64>>>,
    /// The factor regression (`None` with the reason in `warnings`).
    pub regression: Option<Regression>,
    /// The positivity check (`None` when disabled).
    pub positivity: Option<pref_elicit::positivity::Positivity>,
    /// Mean hard-cycle rate over configurations (0.25 at random).
    pub mean_hard_cycle_rate: Option<f64>,
    /// Model calls of this process.
    pub model_calls: pref_study::Calls,
    /// What went wrong or was left out, in words.
    pub warnings: Vec<String>,
    /// Seconds: elicitation, analysis, total.
    pub seconds: BTreeMap<String, f64>,
}

fn method(c: Correlation) -> CorrelationMethod {
    match c {
        Correlation::Pearson => CorrelationMethod::Pearson,
        Correlation::Spearman => CorrelationMethod::Spearman,
    }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl Study for RobustnessStudy {
    const NAME: &'static str = "robustness";
    type Config = Config;
    type Results = Results;

    fn plan(
        cfg: &Config,
        models: &ModelRoles,
    ) -> Result<(Vec<StagePlan>, serde_json::Value), BoxError> {
        let (prepared, repeats) = prepare(cfg)?;
        let lm = models.get("model")?;
        let mut plans = Vec::new();
        let mut configs = Vec::new();
        for p in &prepared {
            // One line per configuration in `status` (`elicit c03`): its jobs
            // are its own record ids in the shared log.
            let (stages, _) = stage_plans(p.settings(cfg), lm)?;
            plans.extend(stages.into_iter().map(|mut s| {
                s.stage = format!("{} {}", s.stage, p.config.name);
                s
            }));
            configs.push(serde_json::json!({
                "name": p.config.name, "levels": p.config.levels,
                "template": pref_elicit::ChoicePrompt::name(&p.template),
            }));
        }
        let items = pref_elicit::Plan::of(cfg.settings())?.items;
        plans.extend(pref_elicit::positivity::stage_plans(
            &cfg.positivity,
            &items,
            lm,
        )?);
        let details = serde_json::json!({
            "configs": configs,
            "repeated_draws_dropped": repeats,
            "model": lm.id().to_string(),
        });
        Ok((plans, details))
    }

    fn run(run: &Run<Config>) -> Result<Results, BoxError> {
        let cfg = run.config();
        let (prepared, repeats) = prepare(cfg)?;
        let mut warnings = Vec::new();
        if repeats > 0 {
            warnings.push(format!(
                "{repeats} drawn configurations repeated earlier ones and were dropped \
                 ({} distinct remain)",
                prepared.len()
            ));
        }
        let t0 = Instant::now();
        let mut configs = Vec::new();
        let mut runs = Vec::new();
        let mut items = Vec::new();
        // Every configuration draws the same items; the positivity check
        // rates them too.
        let mut drawn = Vec::new();
        for p in &prepared {
            let e = run_pairs(run, p.settings(cfg))?;
            items = e.plan.ids();
            drawn = e.plan.items;
            warnings.extend(
                e.results
                    .warnings
                    .iter()
                    .map(|w| format!("{}: {w}", p.config.name)),
            );
            let utilities = e.fit.as_ref().map(|f| {
                UtilityRun::from_model(p.config.name.clone(), &f.model, p.config.levels.clone())
            });
            let counts: Vec<PairCounts> = e
                .train_counts
                .iter()
                .filter(|c| c.2 + c.3 > 0.0)
                .map(|&(x, y, cx, cy)| PairCounts {
                    a: items[x].clone(),
                    b: items[y].clone(),
                    count_a: cx,
                    count_b: cy,
                })
                .collect();
            let (mut hard, mut soft, mut n_triads) = (None, None, 0);
            if !counts.is_empty() {
                let data = PairData::from_pair_counts(&counts)?;
                let t = transitivity(&data, TriadSampling::All);
                let a = &cfg.analysis;
                let ci = transitivity_intervals(&data, TriadSampling::All, a.bootstrap, a.seed);
                n_triads = t.n_triads;
                hard = finite(t.hard_cycle_share).map(|h| (h, ci.hard_cycle_share));
                soft = finite(t.soft_cycle_rate).map(|s| (s, ci.soft_cycle_rate));
            }
            if utilities.is_none() {
                warnings.push(format!(
                    "{}: every answer was unparseable; no utilities, left out of the correlations",
                    p.config.name
                ));
            }
            configs.push(ConfigResult {
                name: p.config.name.clone(),
                levels: p.config.levels.clone(),
                template: pref_elicit::ChoicePrompt::name(&p.template),
                n_comparisons: e.results.unparseable.of,
                unparseable: e.results.unparseable.count,
                first_shown_share: e
                    .results
                    .position_bias
                    .as_ref()
                    .map(|b| (b.share_first, b.ci95)),
                utilities: utilities.as_ref().map(|u| u.utilities.clone()),
                hard_cycle_rate: hard,
                soft_cycle_rate: soft,
                n_triads,
            });
            runs.extend(utilities);
        }
        let t_positivity = Instant::now();
        let positivity = pref_elicit::positivity::run_check(run, &cfg.positivity, &drawn)?;
        let t1 = Instant::now();
        let a = &cfg.analysis;
        let m = method(a.correlation);
        let matrix = correlation_matrix(&runs, m);
        let regression = match factor_regression(&runs, m, a.min_shared) {
            Ok(fr) => {
                let boot = bootstrap_regression(&runs, &fr, a.bootstrap, a.seed);
                let f = &fr.fit;
                let coef = |j: usize| Coefficient {
                    estimate: f.coef[j],
                    se: f.se[j],
                    p: f.p[j],
                    ci95_bootstrap: boot.coefficients[&f.names[j]],
                };
                if boot.failed > 0 {
                    warnings.push(format!(
                        "{} of {} bootstrap replicates could not be fitted (too few distinct \
                         configurations drawn) and were left out",
                        boot.failed, a.bootstrap
                    ));
                }
                Some(Regression {
                    correlation: a.correlation,
                    n_pairs: f.n,
                    n_skipped: fr.n_skipped + fr.n_undefined,
                    rank: f.rank,
                    p: f.names.len(),
                    r2: f.r2,
                    r2_ci95: boot.r2,
                    intercept: coef(0),
                    coefficients: (1..f.names.len())
                        .map(|j| (f.names[j].clone(), coef(j)))
                        .collect(),
                    aliased: fr
                        .aliased
                        .iter()
                        .zip(&boot.aliased_sums)
                        .map(|(g, ci)| {
                            (
                                g.factors.clone(),
                                Coefficient {
                                    estimate: g.sum.estimate,
                                    se: g.sum.se,
                                    p: g.sum.p,
                                    ci95_bootstrap: *ci,
                                },
                            )
                        })
                        .collect(),
                    constant: fr.constant.iter().map(|(n, _)| n.clone()).collect(),
                })
            }
            Err(e) => {
                warnings.push(format!("the factor regression could not be fitted: {e}"));
                None
            }
        };
        let rates: Vec<f64> = configs
            .iter()
            .filter_map(|c| c.hard_cycle_rate.map(|h| h.0))
            .collect();
        let results = Results {
            model: run.model("model")?.id().to_string(),
            items,
            correlations: matrix
                .values
                .iter()
                .map(|r| r.iter().map(|&v| finite(v)).collect())
                .collect(),
            configs,
            regression,
            positivity,
            mean_hard_cycle_rate: (!rates.is_empty())
                .then(|| rates.iter().sum::<f64>() / rates.len() as f64),
            model_calls: run.calls(),
            warnings,
            seconds: BTreeMap::from([
                ("elicitation".to_string(), (t_positivity - t0).as_secs_f64()),
                ("positivity".to_string(), (t1 - t_positivity).as_secs_f64()),
                ("analysis".to_string(), t1.elapsed().as_secs_f64()),
                ("total".to_string(), run.seconds()),
            ]),
        };
        run.write_results(&results)?;
        crate::report::write(run, &results)?;
        Ok(results)
    }
}
