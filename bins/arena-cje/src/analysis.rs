//! From the records to the estimates: the logged samples in the CJE library's
//! format (JSON Lines and Parquet), the fresh draws, pref-cje's estimators, the
//! clone check, the oracle means and a verdict per policy. See docs/arena-cje.md.

use std::collections::BTreeMap;
use std::time::Instant;

use pref_cje::{CjeData, CjeResult, FreshDraw, GateStatus};
use pref_data::LoggedSample;
use pref_llm::LanguageModel;
use pref_study::{BoxError, Calls, Run};
use serde::Serialize;

use crate::config::Config;
use crate::prompts::{Prompt, PromptSummary};
use crate::study::{Draw, Forced, Logged, Scored};

/// The records the analysis reads.
pub struct Inputs<'a> {
    /// The drawn prompts.
    pub prompts: &'a [Prompt],
    /// What became of the prompt file.
    pub summary: PromptSummary,
    /// π0's responses by prompt id.
    pub logged: &'a BTreeMap<String, Logged>,
    /// Teacher-forced log-probs by (policy, prompt id).
    pub forced: &'a BTreeMap<(String, String), Forced>,
    /// Fresh draws by key `fresh/<policy>/<prompt>/<draw>`.
    pub draws: &'a BTreeMap<String, Draw>,
    /// Judge scores by response key.
    pub judged: &'a BTreeMap<String, Scored>,
    /// Oracle labels by response key.
    pub oracle: &'a BTreeMap<String, Scored>,
    /// Whether the oracle labels each prompt.
    pub labelled: &'a [bool],
}

/// A mean with its t interval (n − 1 degrees of freedom).
pub use pref_stats::MeanInterval as Mean;

fn mean_ci(v: &[f64], level: f64) -> Option<Mean> {
    pref_stats::t_interval(v, level)
}

/// The logging policy's responses.
#[derive(Debug, Clone, Serialize)]
pub struct LoggingSummary {
    /// Responses.
    pub responses: usize,
    /// Empty responses (their log-probability is 0 under every policy).
    pub empty: usize,
    /// Responses cut by `logging.max_tokens`.
    pub truncated: usize,
    /// Mean sampled tokens.
    pub mean_tokens: f64,
    /// Largest |sampler log p − teacher-forced log p under π0| over the
    /// truncated responses (no end-of-turn token) whose text re-tokenises to
    /// as many tokens as were sampled (the same tokens differ only by how
    /// llama.cpp splits the sequence into batches; other tokens of the same
    /// count, by much more).
    pub max_sampler_gap: Option<f64>,
    /// Mean of the same gap.
    pub mean_sampler_gap: Option<f64>,
    /// Truncated responses whose text re-tokenises to another number of
    /// tokens (their sampler and teacher-forced log-probs are of different
    /// token sequences, and are not compared).
    pub retokenised: usize,
}

/// One target policy beside its estimates.
#[derive(Debug, Clone, Serialize)]
pub struct PolicySummary {
    /// The system prompt.
    pub system: String,
    /// The model's id.
    pub model: String,
    /// Same model and system prompt as the logging policy.
    pub clone_of_logging: bool,
    /// For a clone: the largest |log weight| (must be exactly 0).
    pub clone_max_abs_log_weight: Option<f64>,
    /// Mean judge score of the fresh draws (the judge's own scale).
    pub judge_mean_fresh: Option<Mean>,
    /// Mean of the judge's own variance over the fresh draws (its uncertainty).
    pub judge_variance_fresh: f64,
    /// Mean oracle label of the labelled fresh draws: the truth the estimates
    /// are compared with (a sample of it).
    pub oracle_mean: Option<Mean>,
    /// Fresh draws, empty ones, truncated ones.
    pub fresh: [usize; 3],
    /// Which estimate to trust, and why.
    pub verdict: Verdict,
}

/// Which estimate to trust for one policy.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The estimator to read (`direct`, `dr`, `calibrated-ips`, …).
    pub trust: String,
    /// Why, in words.
    pub why: String,
}

/// What `results.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The prompts: read, dropped by reason, drawn.
    pub prompts: PromptSummary,
    /// Model ids by role.
    pub models: BTreeMap<String, String>,
    /// π0's responses.
    pub logging: LoggingSummary,
    /// Oracle labels: prompts labelled, logged rows labelled, fresh draws labelled.
    pub oracle_labels: [usize; 3],
    /// Mean oracle label of the labelled logged responses (π0's value).
    pub oracle_mean_logging: Option<Mean>,
    /// Per target.
    pub policies: BTreeMap<String, PolicySummary>,
    /// pref-cje's estimates, diagnostics and gates.
    pub cje: CjeResult,
    /// What the reader must know.
    pub warnings: Vec<String>,
    /// Model calls this process made and took from the cache.
    pub model_calls: Calls,
    /// Seconds per stage in this process.
    pub seconds: BTreeMap<String, f64>,
}

fn forced_lp(inp: &Inputs, policy: &str, pid: &str) -> Result<f64, BoxError> {
    inp.forced
        .get(&(policy.to_string(), pid.to_string()))
        .map(|f| f.logprob)
        .ok_or_else(|| format!("no teacher-forced log-prob of `{pid}` under `{policy}`").into())
}

/// The logged samples, in the CJE library's format.
pub fn samples(cfg: &Config, inp: &Inputs) -> Result<Vec<LoggedSample>, BoxError> {
    let mut out = Vec::with_capacity(inp.prompts.len());
    for p in inp.prompts {
        let l = &inp.logged[&p.id];
        let key = format!("logged/{}", p.id);
        let judge = inp
            .judged
            .get(&key)
            .ok_or_else(|| format!("no judge score of `{key}`"))?;
        let mut targets = BTreeMap::new();
        for t in &cfg.targets {
            targets.insert(t.name.clone(), forced_lp(inp, &t.name, &p.id)?);
        }
        out.push(LoggedSample {
            prompt_id: p.id.clone(),
            prompt: p.text.clone(),
            response: l.response.clone(),
            base_policy_logprob: forced_lp(inp, "base", &p.id)?,
            target_policy_logprobs: targets,
            judge_score: judge.score,
            oracle_label: inp.oracle.get(&key).map(|o| o.score),
            metadata: Some(serde_json::json!({
                "judge_variance": judge.variance,
                "sampler_logprob": l.sampler_logprob,
                "tokens": l.tokens,
                "truncated": l.truncated,
            })),
        });
    }
    Ok(out)
}

/// One fresh draw as written to `fresh/<policy>_responses.jsonl` (the CJE
/// library's fresh-draw fields first).
#[derive(Debug, Clone, Serialize)]
struct FreshRow<'a> {
    prompt_id: &'a str,
    judge_score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    oracle_label: Option<f64>,
    judge_variance: f64,
    draw: usize,
    response: &'a str,
}

fn verdict(oracle: bool, r: &pref_cje::PolicyResult) -> Verdict {
    let gate = &r.gate;
    let calibrated = if oracle {
        "the judge is calibrated to the oracle"
    } else {
        "without oracle labels the estimate is on the judge's own scale, uncalibrated"
    };
    if r.diagnostics.clone {
        return Verdict {
            trust: "snips".into(),
            why: format!(
                "the policy is π0 itself (every weight exactly 1): every weighting estimator \
                 reduces to the mean reward of the logged responses; {calibrated}"
            ),
        };
    }
    match gate.status {
        GateStatus::Refuse => Verdict {
            trust: "direct".into(),
            why: format!(
                "the importance weights are refused ({}); the direct estimate needs no weights \
                 and rests on the target's own responses; {calibrated}",
                gate.reasons.join("; ")
            ),
        },
        GateStatus::Warn => Verdict {
            trust: "direct".into(),
            why: format!(
                "the importance weights are doubtful ({}); the direct estimate needs none, and \
                 DR's agreement with it is the check; {calibrated}",
                gate.reasons.join("; ")
            ),
        },
        GateStatus::Ok => Verdict {
            trust: "dr".into(),
            why: format!(
                "the weights pass the gate, so DR (fresh draws plus weighted residuals) is \
                 efficient and robust to a wrong outcome model; {calibrated}"
            ),
        },
    }
}

/// Estimates every target's value, writes the samples, `results.json` and the
/// report.
pub fn analyse(
    run: &Run<Config>,
    inp: Inputs,
    mut seconds: BTreeMap<String, f64>,
    started: Instant,
) -> Result<Results, BoxError> {
    let cfg = run.config();
    let level = cfg.estimation.level;
    let mut warnings = Vec::new();
    let samples = samples(cfg, &inp)?;
    let root = run.root();
    pref_data::write_records(root.join("samples.jsonl"), &samples)?;
    pref_data::write_records(root.join("samples.parquet"), &samples)?;

    let mut data = CjeData::from_samples(&samples)?;
    let fresh_dir = root.join("fresh");
    std::fs::create_dir_all(&fresh_dir)?;
    let mut policies = BTreeMap::new();
    for t in &cfg.targets {
        let mut rows = Vec::new();
        let mut draws = Vec::new();
        let (mut judge_fresh, mut judge_var, mut oracle_fresh) = (Vec::new(), 0.0, Vec::new());
        let (mut empty, mut truncated) = (0, 0);
        for p in inp.prompts {
            for k in 0..cfg.fresh.draws {
                let key = format!("fresh/{}/{}/{k}", t.name, p.id);
                let d = inp
                    .draws
                    .get(&key)
                    .ok_or_else(|| format!("fresh draw `{key}` was not recorded"))?;
                let j = inp
                    .judged
                    .get(&key)
                    .ok_or_else(|| format!("no judge score of `{key}`"))?;
                let o = inp.oracle.get(&key).map(|o| o.score);
                empty += usize::from(d.response.trim().is_empty());
                truncated += usize::from(d.truncated);
                judge_fresh.push(j.score);
                judge_var += j.variance;
                oracle_fresh.extend(o);
                draws.push(FreshDraw {
                    prompt_id: p.id.clone(),
                    judge_score: j.score,
                });
                rows.push(FreshRow {
                    prompt_id: &p.id,
                    judge_score: j.score,
                    oracle_label: o,
                    judge_variance: j.variance,
                    draw: k,
                    response: &d.response,
                });
            }
        }
        pref_data::write_jsonl(fresh_dir.join(format!("{}_responses.jsonl", t.name)), &rows)?;
        data.set_fresh_draws(&t.name, &draws)?;
        let model = run.model(&crate::config::Config::target_role(t))?;
        let base = run.model(crate::config::LOGGING)?;
        let clone = model.id() == base.id() && cfg.target_system(t) == cfg.logging.system;
        let clone_max = clone.then(|| {
            inp.prompts
                .iter()
                .map(|p| {
                    let a = inp.forced[&(t.name.clone(), p.id.clone())].logprob;
                    let b = inp.forced[&("base".to_string(), p.id.clone())].logprob;
                    (a - b).abs()
                })
                .fold(0.0, f64::max)
        });
        if let Some(m) = clone_max {
            if m != 0.0 {
                warnings.push(format!(
                    "`{}` is a clone of π0 but its log weights reach {m:e}, not exactly 0: the \
                     teacher forcing is not deterministic on this backend, so no weight can be \
                     trusted to that precision",
                    t.name
                ));
            }
        }
        let n_fresh = judge_fresh.len();
        policies.insert(
            t.name.clone(),
            PolicySummary {
                system: cfg.target_system(t).to_string(),
                model: model.id().to_string(),
                clone_of_logging: clone,
                clone_max_abs_log_weight: clone_max,
                judge_mean_fresh: mean_ci(&judge_fresh, level),
                judge_variance_fresh: judge_var / n_fresh.max(1) as f64,
                oracle_mean: mean_ci(&oracle_fresh, level),
                fresh: [n_fresh, empty, truncated],
                verdict: Verdict {
                    trust: String::new(),
                    why: String::new(),
                },
            },
        );
    }
    let cje = cfg.cje_params()?.check()?.fit(&data)?;
    let oracle = !inp.oracle.is_empty();
    if !oracle {
        warnings.push(
            "no oracle labels: every estimate is of the judge's score, on the judge's scale, \
             uncalibrated; it says how the judge would rate the policy, not how good it is"
                .into(),
        );
    }
    for (name, s) in policies.iter_mut() {
        let r = &cje.policies[name];
        s.verdict = verdict(oracle, r);
        if r.gate.status == GateStatus::Refuse {
            warnings.push(format!(
                "`{name}`: the importance-weighted estimates are NOT RELIABLE ({}); read the \
                 direct estimate",
                r.gate.reasons.join("; ")
            ));
        }
    }

    // π0's own diagnostics: teacher forcing against the sampler.
    let mut gaps = Vec::new();
    let mut retokenised = 0;
    let (mut empty, mut truncated, mut tokens) = (0, 0, 0u64);
    for p in inp.prompts {
        let l = &inp.logged[&p.id];
        let f = &inp.forced[&("base".to_string(), p.id.clone())];
        empty += usize::from(l.response.is_empty());
        truncated += usize::from(l.truncated);
        tokens += l.tokens as u64;
        if l.truncated {
            if f.tokens == l.tokens as usize {
                gaps.push((l.sampler_logprob - f.logprob).abs());
            } else {
                retokenised += 1;
            }
        }
    }
    let zero = samples
        .iter()
        .filter(|s| s.base_policy_logprob == 0.0)
        .count();
    if zero * 20 > samples.len() {
        warnings.push(format!(
            "{zero} of {} logged responses have log-probability 0 (empty responses): more \
             than 5%",
            samples.len()
        ));
    }
    let logged_oracle: Vec<f64> = samples.iter().filter_map(|s| s.oracle_label).collect();
    let n_labelled = inp.labelled.iter().filter(|&&b| b).count();
    let oracle_fresh: usize = inp
        .oracle
        .keys()
        .filter(|k| k.starts_with("fresh/"))
        .count();
    seconds.insert("analysis".into(), started.elapsed().as_secs_f64());
    let results = Results {
        prompts: inp.summary,
        models: run.model_ids(),
        logging: LoggingSummary {
            responses: samples.len(),
            empty,
            truncated,
            mean_tokens: tokens as f64 / samples.len().max(1) as f64,
            max_sampler_gap: gaps.iter().copied().reduce(f64::max),
            mean_sampler_gap: (!gaps.is_empty())
                .then(|| gaps.iter().sum::<f64>() / gaps.len() as f64),
            retokenised,
        },
        oracle_labels: [n_labelled, logged_oracle.len(), oracle_fresh],
        oracle_mean_logging: mean_ci(&logged_oracle, level),
        policies,
        cje,
        warnings,
        model_calls: run.calls(),
        seconds,
    };
    run.write_results(&results)?;
    let log_weights: BTreeMap<String, Vec<f64>> = data
        .policies()
        .iter()
        .filter_map(|name| Some((name.clone(), data.log_ratios(name)?.to_vec())))
        .collect();
    crate::report::write(run, &results, &log_weights)?;
    Ok(results)
}
