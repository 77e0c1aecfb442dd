//! The `arena-cje` study on pref-study: π0 answers every prompt (with its
//! per-token log-probabilities), every policy teacher-forces those responses,
//! every target answers afresh, the judge scores every response, the oracle
//! labels a share of the prompts, then pref-cje estimates each target's value
//! (`crate::analysis`). See docs/arena-cje.md.

use std::collections::BTreeMap;
use std::time::Instant;

use pref_data::record_id;
use pref_llm::{FinishReason, LanguageModel, Message, SamplingParams};
use pref_study::{
    with_system, BoxError, ContextCheck, ModelRoles, PlannedJob, Run, StagePlan, Study,
};
use serde::{Deserialize, Serialize};

use crate::analysis::{self, Inputs, Results};
use crate::config::{Config, TargetConfig, JUDGE, LOGGING, ORACLE};
use crate::prompts::{self, Prompt};

/// The study.
pub struct ArenaCje;

/// A response of π0 to a prompt, with the sampler's log-probabilities.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Logged {
    /// The prompt.
    pub prompt_id: String,
    /// The response.
    pub response: String,
    /// Tokens sampled (with the end-of-turn token when it ended the response).
    pub tokens: u32,
    /// Whether `logging.max_tokens` cut it.
    pub truncated: bool,
    /// Σ log p of the sampled tokens as the sampler saw them (the end-of-turn
    /// token included when it ended the response).
    pub sampler_logprob: f64,
}

/// A response teacher-forced under one policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forced {
    /// The prompt.
    pub prompt_id: String,
    /// `base` (the logging policy) or a target's name.
    pub policy: String,
    /// Σ log p of the response's tokens under the policy.
    pub logprob: f64,
    /// Tokens of the response as the policy's model reads it.
    pub tokens: usize,
}

/// A fresh response of a target policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Draw {
    /// The prompt.
    pub prompt_id: String,
    /// The target.
    pub policy: String,
    /// The draw's index (0-based).
    pub draw: usize,
    /// The response.
    pub response: String,
    /// Tokens sampled.
    pub tokens: u32,
    /// Whether `logging.max_tokens` cut it.
    pub truncated: bool,
}

/// A score of one response by the judge or the oracle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scored {
    /// `logged/<prompt>` or `fresh/<policy>/<prompt>/<draw>`.
    pub response: String,
    /// Probability of each score 0..=max_score (renormalised over them).
    pub probs: Vec<f64>,
    /// `E[score] / max_score`, in [0, 1]: the deterministic score.
    pub score: f64,
    /// `Var[score] / max_score²`: the judge's own uncertainty.
    pub variance: f64,
}

/// What a judge or the oracle is asked about.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `logged/<prompt>` or `fresh/<policy>/<prompt>/<draw>`.
    pub key: String,
    /// The prompt's index.
    pub prompt: usize,
    /// The response.
    pub text: String,
}

/// The messages a policy answers.
pub fn policy_messages(system: &str, prompt: &str) -> Vec<Message> {
    let system = (!system.trim().is_empty()).then_some(system);
    with_system(system, vec![Message::user(prompt.to_string())])
}

/// How every policy samples (`[logging]`'s settings, shared by the targets),
/// with the seed derived from `seed_parts`.
fn policy_params(cfg: &Config, seed_parts: &[&str], logprobs: bool) -> SamplingParams {
    let l = &cfg.logging;
    SamplingParams {
        max_tokens: l.max_tokens,
        temperature: l.temperature,
        top_p: l.top_p,
        top_k: l.top_k,
        seed: pref_data::derived_seed(l.seed, seed_parts),
        logprobs,
        ..SamplingParams::default()
    }
}

fn logging_params(cfg: &Config, p: &Prompt) -> SamplingParams {
    policy_params(cfg, &["logging", &p.id], true)
}

fn fresh_params(cfg: &Config, t: &TargetConfig, p: &Prompt, k: usize) -> SamplingParams {
    policy_params(cfg, &["fresh", &t.name, &p.id, &k.to_string()], false)
}

/// The judge's (or oracle's) question about one response.
pub fn judge_messages(cfg: &Config, prompt: &str, response: &str) -> Vec<Message> {
    let max = cfg.judge.max_score.to_string();
    let text = cfg
        .judge
        .template
        .replace("{max}", &max)
        .replace("{prompt}", prompt)
        .replace("{response}", response);
    vec![Message::user(text)]
}

/// The judge's options: `0`, `1`, …, `max_score`.
pub fn score_options(cfg: &Config) -> Vec<String> {
    (0..=cfg.judge.max_score).map(|s| s.to_string()).collect()
}

fn logged_id(cfg: &Config, model: &str, p: &Prompt) -> String {
    let l = &cfg.logging;
    record_id(&[
        "arena-cje-logged",
        model,
        &l.system,
        &p.id,
        &l.max_tokens.to_string(),
        &l.seed.to_string(),
    ])
}

fn forced_id(model: &str, system: &str, logged: &str, policy: &str) -> String {
    record_id(&["arena-cje-forced", model, system, logged, policy])
}

fn draw_id(cfg: &Config, model: &str, t: &TargetConfig, p: &Prompt, k: usize) -> String {
    let l = &cfg.logging;
    record_id(&[
        "arena-cje-fresh",
        model,
        cfg.target_system(t),
        &t.name,
        &p.id,
        &k.to_string(),
        &l.max_tokens.to_string(),
        &l.seed.to_string(),
    ])
}

fn scored_id(cfg: &Config, model: &str, key: &str, logged: &str) -> String {
    // `logged` pins what the key's response came from (the logging settings).
    record_id(&[
        "arena-cje-score",
        model,
        &cfg.judge.template,
        &cfg.judge.max_score.to_string(),
        key,
        logged,
    ])
}

/// The keys of every response the judge scores, in a fixed order.
pub fn answer_keys(cfg: &Config, prompts: &[Prompt]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (i, p) in prompts.iter().enumerate() {
        out.push((format!("logged/{}", p.id), i));
        for t in &cfg.targets {
            for k in 0..cfg.fresh.draws {
                out.push((format!("fresh/{}/{}/{k}", t.name, p.id), i));
            }
        }
    }
    out
}

/// The response's text, from the logged and fresh records.
fn answer_text(
    key: &str,
    logged: &BTreeMap<String, Logged>,
    draws: &BTreeMap<String, Draw>,
) -> Option<String> {
    if let Some(pid) = key.strip_prefix("logged/") {
        logged.get(pid).map(|l| l.response.clone())
    } else {
        draws.get(key).map(|d| d.response.clone())
    }
}

fn scored(probs: Vec<f64>, max: u32, key: &str) -> Scored {
    let m = max as f64;
    let mean: f64 = probs
        .iter()
        .enumerate()
        .map(|(s, p)| p * s as f64)
        .sum::<f64>()
        / m;
    let variance = probs
        .iter()
        .enumerate()
        .map(|(s, p)| p * (s as f64 / m - mean).powi(2))
        .sum();
    Scored {
        response: key.to_string(),
        probs,
        score: mean.clamp(0.0, 1.0),
        variance,
    }
}

/// Refuses teacher forcing across tokenizers: each target whose model is not
/// the logging policy's must read text with the same vocabulary.
fn check_tokenizers(cfg: &Config, models: &ModelRoles) -> Result<(), BoxError> {
    let base = models.get(LOGGING)?;
    for t in &cfg.targets {
        let m = models.get(&Config::target_role(t))?;
        if m.id() == base.id() {
            continue;
        }
        match (base.tokenizer_id(), m.tokenizer_id()) {
            (Some(a), Some(b)) if a == b => {}
            (Some(_), Some(_)) => {
                return Err(format!(
                    "target `{}`: its model {} has a different tokenizer from the logging \
                     policy's {}; teacher forcing π0's responses under it would compare \
                     log-probabilities of different token sequences. Use a model with the same \
                     vocabulary (e.g. a fine-tune of the same base) or the same model with \
                     another system prompt",
                    t.name,
                    m.id(),
                    base.id()
                )
                .into())
            }
            _ => {
                return Err(format!(
                    "target `{}`: its model {} differs from the logging policy's {} and the \
                     backend cannot show that their tokenizers agree; use the same model with \
                     another system prompt",
                    t.name,
                    m.id(),
                    base.id()
                )
                .into())
            }
        }
    }
    Ok(())
}

/// The oracle's prompts: `round(fraction · n)` of them, the first by a seeded
/// hash of their ids (independent of file order and of the other settings).
pub fn oracle_prompts(cfg: &Config, prompts: &[Prompt]) -> Vec<bool> {
    let mut chosen = vec![false; prompts.len()];
    if !cfg.oracle.enabled {
        return chosen;
    }
    let k = ((cfg.oracle.fraction * prompts.len() as f64).round() as usize).min(prompts.len());
    let seed = cfg.estimation.seed.to_string();
    let mut order: Vec<(String, usize)> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| (record_id(&["arena-cje-oracle", &seed, &p.id]), i))
        .collect();
    order.sort();
    for (_, i) in order.into_iter().take(k) {
        chosen[i] = true;
    }
    chosen
}

/// Scores the answers of the prompts marked in `only` with the model of
/// `role`, in the stage `(name, log, role)`; returns the scores by answer key.
fn score_stage(
    run: &Run<Config>,
    prompts: &[Prompt],
    answers: &[Answer],
    (stage_name, log_name, role): (&str, &str, &str),
    only: &[bool],
) -> Result<BTreeMap<String, Scored>, BoxError> {
    let cfg = run.config();
    let base_name = name(run.model(LOGGING)?);
    let m = run.model(role)?;
    let model = name(m);
    let options = score_options(cfg);
    let jobs: Vec<&Answer> = answers.iter().filter(|a| only[a.prompt]).collect();
    let sid = |a: &&Answer| {
        let lid = logged_id(cfg, &base_name, &prompts[a.prompt]);
        scored_id(cfg, &model, &a.key, &lid)
    };
    let mut stage = run
        .stage::<Scored>(stage_name, log_name)?
        .planned(jobs.len());
    let options = &options;
    stage.run(&jobs, sid, |a| async move {
        let msgs = judge_messages(cfg, &prompts[a.prompt].text, &a.text);
        let c = m.choice_logprobs(&msgs, options).await?;
        Ok::<_, BoxError>(scored(c.normalised, cfg.judge.max_score, &a.key))
    })?;
    let log = stage.finish();
    Ok(jobs
        .iter()
        .filter_map(|a| log.get(&sid(a)).map(|s| (a.key.clone(), s.clone())))
        .collect())
}

fn name(m: &pref_study::Model) -> String {
    m.id().to_string()
}

impl Study for ArenaCje {
    const NAME: &'static str = "arena-cje";
    type Config = Config;
    type Results = Results;

    fn plan(
        cfg: &Config,
        models: &ModelRoles,
    ) -> Result<(Vec<StagePlan>, serde_json::Value), BoxError> {
        check_tokenizers(cfg, models)?;
        let (prompts, summary) = prompts::load(&cfg.prompts)?;
        let base = models.get(LOGGING)?;
        let judge = models.get(JUDGE)?;
        let base_name = name(base);
        let room = cfg.logging.max_tokens as usize;
        let mut context = ContextCheck::new();
        let mut logged = Vec::new();
        let mut forced = Vec::new();
        let mut fresh = Vec::new();
        let mut judged = Vec::new();
        let mut oracle = Vec::new();
        let labelled = oracle_prompts(cfg, &prompts);
        for (i, p) in prompts.iter().enumerate() {
            let msgs = policy_messages(&cfg.logging.system, &p.text);
            context.offer(LOGGING, base, &msgs, room, || {
                format!("π0's answer to `{}`", p.id)
            });
            logged.push(PlannedJob {
                id: logged_id(cfg, &base_name, p),
                cached: Some(base.is_cached_generate(&msgs, &logging_params(cfg, p))?),
            });
            let lid = logged_id(cfg, &base_name, p);
            forced.push(PlannedJob {
                id: forced_id(&base_name, &cfg.logging.system, &lid, "base"),
                cached: None,
            });
            for t in &cfg.targets {
                let m = models.get(&Config::target_role(t))?;
                let msgs = policy_messages(cfg.target_system(t), &p.text);
                context.offer(&Config::target_role(t), m, &msgs, room, || {
                    format!("target `{}` on `{}`", t.name, p.id)
                });
                forced.push(PlannedJob {
                    id: forced_id(&name(m), cfg.target_system(t), &lid, &t.name),
                    cached: None,
                });
                for k in 0..cfg.fresh.draws {
                    fresh.push(PlannedJob {
                        id: draw_id(cfg, &name(m), t, p, k),
                        cached: Some(m.is_cached_generate(&msgs, &fresh_params(cfg, t, p, k))?),
                    });
                }
            }
            let q = judge_messages(cfg, &p.text, "");
            context.offer(JUDGE, judge, &q, room + 2, || {
                format!("the judge's question on `{}`", p.id)
            });
            if labelled[i] {
                let o = models.get(ORACLE)?;
                context.offer(ORACLE, o, &q, room + 2, || {
                    format!("the oracle's question on `{}`", p.id)
                });
            }
        }
        for (key, i) in answer_keys(cfg, &prompts) {
            let lid = logged_id(cfg, &base_name, &prompts[i]);
            judged.push(PlannedJob {
                id: scored_id(cfg, &name(judge), &key, &lid),
                cached: None,
            });
            if labelled[i] {
                let o = models.get(ORACLE)?;
                oracle.push(PlannedJob {
                    id: scored_id(cfg, &name(o), &key, &lid),
                    cached: None,
                });
            }
        }
        context.check()?;
        let mut plans = vec![
            StagePlan::known("logging", "logged", logged),
            StagePlan::known("teacher-forcing", "forced", forced),
            StagePlan::known("fresh", "fresh_draws", fresh),
            StagePlan::known("judge", "judge_scores", judged),
        ];
        if cfg.oracle.enabled {
            plans.push(StagePlan::known("oracle", "oracle_labels", oracle));
        }
        let details = serde_json::json!({
            "prompts": summary,
            "targets": cfg.targets.iter().map(|t| &t.name).collect::<Vec<_>>(),
            "oracle_prompts": labelled.iter().filter(|&&b| b).count(),
        });
        Ok((plans, details))
    }

    fn run(run: &Run<Config>) -> Result<Results, BoxError> {
        let cfg = run.config();
        let base = run.model(LOGGING)?;
        let base_name = name(base);
        let (drawn, summary) = prompts::load(&cfg.prompts)?;
        let prompts: &[Prompt] = &drawn;
        let labelled = oracle_prompts(cfg, prompts);
        let mut seconds = BTreeMap::new();

        // 1. π0's responses, with the sampler's log-probabilities.
        let t = Instant::now();
        let mut stage = run
            .stage::<Logged>("logging", "logged")?
            .planned(prompts.len());
        stage.run(
            prompts,
            |p| logged_id(cfg, &base_name, p),
            |p| async move {
                let msgs = policy_messages(&cfg.logging.system, &p.text);
                let c = base.generate(&msgs, &logging_params(cfg, p)).await?;
                let sampler_logprob = c
                    .logprobs
                    .as_ref()
                    .map_or(f64::NAN, |v| v.iter().map(|t| t.logprob).sum());
                Ok::<_, BoxError>(Logged {
                    prompt_id: p.id.clone(),
                    response: c.text,
                    tokens: c.completion_tokens,
                    truncated: c.finish_reason == FinishReason::Length,
                    sampler_logprob,
                })
            },
        )?;
        let log = stage.finish();
        let logged: BTreeMap<String, Logged> = prompts
            .iter()
            .filter_map(|p| {
                log.get(&logged_id(cfg, &base_name, p))
                    .map(|l| (p.id.clone(), l.clone()))
            })
            .collect();
        seconds.insert("logging".to_string(), t.elapsed().as_secs_f64());

        // 2. Teacher forcing of every logged response under π0 and every target.
        let t = Instant::now();
        let mut jobs: Vec<(String, String, usize)> = Vec::new(); // (policy, role, prompt)
        for i in 0..prompts.len() {
            jobs.push(("base".into(), LOGGING.into(), i));
            for tc in &cfg.targets {
                jobs.push((tc.name.clone(), Config::target_role(tc), i));
            }
        }
        let system_of = |policy: &str| -> &str {
            cfg.targets
                .iter()
                .find(|t| t.name == policy)
                .map_or(cfg.logging.system.as_str(), |t| cfg.target_system(t))
        };
        let fid = |(policy, role, i): &(String, String, usize)| -> String {
            let m = run.model(role).expect("roles checked");
            let lid = logged_id(cfg, &base_name, &prompts[*i]);
            forced_id(&name(m), system_of(policy), &lid, policy)
        };
        let mut stage = run
            .stage::<Forced>("teacher-forcing", "forced")?
            .planned(jobs.len());
        stage.run(&jobs, fid, |(policy, role, i)| {
            let p = &prompts[*i];
            let system = system_of(policy);
            let response = logged[&p.id].response.clone();
            async move {
                let m = run.model(role)?;
                let msgs = policy_messages(system, &p.text);
                let s = m.score(&msgs, &response).await?;
                Ok::<_, BoxError>(Forced {
                    prompt_id: p.id.clone(),
                    policy: policy.clone(),
                    logprob: s.sum_logprob,
                    tokens: s.token_logprobs.len(),
                })
            }
        })?;
        let log = stage.finish();
        let forced: BTreeMap<(String, String), Forced> = jobs
            .iter()
            .filter_map(|j| {
                log.get(&fid(j))
                    .map(|f| ((j.0.clone(), prompts[j.2].id.clone()), f.clone()))
            })
            .collect();
        seconds.insert("teacher-forcing".to_string(), t.elapsed().as_secs_f64());

        // 3. Fresh draws of every target.
        let t = Instant::now();
        let mut jobs: Vec<(usize, usize, usize)> = Vec::new(); // (target, prompt, draw)
        for i in 0..prompts.len() {
            for ti in 0..cfg.targets.len() {
                for k in 0..cfg.fresh.draws {
                    jobs.push((ti, i, k));
                }
            }
        }
        let did = |&(ti, i, k): &(usize, usize, usize)| -> String {
            let tc = &cfg.targets[ti];
            let m = run.model(&Config::target_role(tc)).expect("roles checked");
            draw_id(cfg, &name(m), tc, &prompts[i], k)
        };
        let mut stage = run
            .stage::<Draw>("fresh", "fresh_draws")?
            .planned(jobs.len());
        stage.run(&jobs, did, |&(ti, i, k)| async move {
            let tc = &cfg.targets[ti];
            let p = &prompts[i];
            let m = run.model(&Config::target_role(tc))?;
            let msgs = policy_messages(cfg.target_system(tc), &p.text);
            let c = m.generate(&msgs, &fresh_params(cfg, tc, p, k)).await?;
            Ok::<_, BoxError>(Draw {
                prompt_id: p.id.clone(),
                policy: tc.name.clone(),
                draw: k,
                response: c.text,
                tokens: c.completion_tokens,
                truncated: c.finish_reason == FinishReason::Length,
            })
        })?;
        let log = stage.finish();
        let draws: BTreeMap<String, Draw> = jobs
            .iter()
            .filter_map(|j| {
                log.get(&did(j)).map(|d| {
                    (
                        format!("fresh/{}/{}/{}", d.policy, d.prompt_id, d.draw),
                        d.clone(),
                    )
                })
            })
            .collect();
        seconds.insert("fresh".to_string(), t.elapsed().as_secs_f64());

        // 4. The judge scores every response; 5. the oracle labels its share.
        let answers: Vec<Answer> = answer_keys(cfg, prompts)
            .into_iter()
            .map(|(key, i)| {
                let text = answer_text(&key, &logged, &draws)
                    .ok_or_else(|| format!("response `{key}` was not recorded"))?;
                Ok::<_, BoxError>(Answer {
                    key,
                    prompt: i,
                    text,
                })
            })
            .collect::<Result<_, _>>()?;
        let everything = vec![true; prompts.len()];
        let t = Instant::now();
        let judged = score_stage(
            run,
            prompts,
            &answers,
            ("judge", "judge_scores", JUDGE),
            &everything,
        )?;
        seconds.insert("judge".to_string(), t.elapsed().as_secs_f64());
        let oracle = if cfg.oracle.enabled {
            let t = Instant::now();
            let o = score_stage(
                run,
                prompts,
                &answers,
                ("oracle", "oracle_labels", ORACLE),
                &labelled,
            )?;
            seconds.insert("oracle".to_string(), t.elapsed().as_secs_f64());
            o
        } else {
            BTreeMap::new()
        };

        let t = Instant::now();
        let results = analysis::analyse(
            run,
            Inputs {
                prompts,
                summary,
                logged: &logged,
                forced: &forced,
                draws: &draws,
                judged: &judged,
                oracle: &oracle,
                labelled: &labelled,
            },
            seconds,
            t,
        )?;
        Ok(results)
    }
}
