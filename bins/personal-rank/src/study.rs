//! The `personal-rank` study on pref-study: each persona writes prompts
//! (stage `prompts`), every contestant answers every prompt (`responses`), the
//! judge compares every pair of answers to a prompt as the prompt's persona in
//! both orders (`judge`) and, for contestants without an Arena rating, neutrally
//! (`neutral`); then the analysis (`crate::analysis`). See docs/personal-rank.md.

use std::collections::BTreeSet;
use std::sync::Arc;

use pref_data::record_id;
use pref_llm::{FinishReason, LanguageModel, Message, SamplingParams};
use pref_study::{
    with_system, BoxError, ContextCheck, Model, ModelRoles, Picked, PlannedJob, Run, StagePlan,
    Study, TwoWayQuestion, TEXT_ANSWER_TOKENS,
};
use serde::{Deserialize, Serialize};

use crate::analysis::{self, Results};
use crate::config::{Config, Contestant, JUDGE, WRITER};

/// The study.
pub struct PersonalRank;

/// A prompt a persona wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Written {
    /// The persona.
    pub persona: String,
    /// Its index among the persona's prompts.
    pub index: usize,
    /// The prompt as read from the answer; `None` when nothing usable was written.
    pub text: Option<String>,
    /// The answer as it came.
    pub raw: String,
    /// Tokens generated.
    pub tokens: u32,
}

/// A contestant's answer to a prompt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answered {
    /// The contestant.
    pub contestant: String,
    /// The prompt (`<persona>-<index>`).
    pub prompt_id: String,
    /// The answer.
    pub text: String,
    /// Tokens generated.
    pub tokens: u32,
    /// Whether `generation.max_tokens` cut it.
    pub truncated: bool,
}

/// One comparison of two answers by the judge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Compared {
    /// The persona the judge spoke as; `neutral` without one.
    pub judge: String,
    /// The prompt.
    pub prompt_id: String,
    /// The contestant whose answer was shown first.
    pub first: String,
    /// The contestant shown second.
    pub second: String,
    /// Which shown answer won; `None` when a text answer is unparseable.
    pub picked: Option<Picked>,
    /// Probability of the first label renormalised over the two (log-prob answers).
    pub first_prob: Option<f64>,
    /// The answer as it came (`A: -0.1, B: -2.3` for log-prob answers).
    pub raw: String,
}

/// The name `Compared::judge` has for the neutral judge.
pub const NEUTRAL: &str = "neutral";

/// A prompt slot: persona `persona`'s `index`-th prompt.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Persona index.
    pub persona: usize,
    /// Index among its prompts.
    pub index: usize,
}

/// Every prompt slot, persona by persona.
pub fn slots(cfg: &Config) -> Vec<Slot> {
    (0..cfg.personas.len())
        .flat_map(|persona| (0..cfg.prompts.per_persona).map(move |index| Slot { persona, index }))
        .collect()
}

/// The prompt's id in records and reports.
pub fn prompt_id(cfg: &Config, s: Slot) -> String {
    format!("{}-{}", cfg.personas[s.persona].name, s.index)
}

fn write_messages(cfg: &Config, s: Slot) -> Vec<Message> {
    let d = &cfg.personas[s.persona].description;
    vec![Message::user(
        cfg.prompts.template.replace("{description}", d),
    )]
}

fn write_params(cfg: &Config, s: Slot) -> SamplingParams {
    let p = &cfg.prompts;
    SamplingParams {
        max_tokens: p.max_tokens,
        temperature: p.temperature,
        seed: pref_data::derived_seed(
            p.seed,
            &[&cfg.personas[s.persona].name, &s.index.to_string()],
        ),
        ..SamplingParams::default()
    }
}

/// The record id of a written prompt: what the writer was asked, how, by which model.
fn written_id(cfg: &Config, writer: &str, s: Slot) -> String {
    let msgs = write_messages(cfg, s);
    let p = write_params(cfg, s);
    record_id(&[
        "personal-rank-prompt",
        writer,
        &msgs[0].content,
        &p.max_tokens.to_string(),
        &p.temperature.to_string(),
        &p.seed.to_string(),
    ])
}

/// The prompt read from the writer's answer: the first non-empty line without a
/// `Question:` label or surrounding quotes; `None` when nothing is left.
pub fn read_prompt(raw: &str) -> Option<String> {
    let line = raw.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut t = line;
    for label in ["Question:", "Request:", "Q:", "**Question:**"] {
        if let Some(rest) = t.strip_prefix(label) {
            t = rest.trim();
        }
    }
    let t = t
        .trim_matches(|c| c == '"' || c == '“' || c == '”' || c == '*')
        .trim();
    (t.chars().filter(|c| c.is_alphanumeric()).count() >= 3).then(|| t.to_string())
}

fn answer_messages(c: &Contestant, prompt: &str) -> Vec<Message> {
    with_system(c.system.as_deref(), vec![Message::user(prompt.to_string())])
}

fn answer_params(cfg: &Config, c: &Contestant, pid: &str) -> SamplingParams {
    let g = &cfg.generation;
    SamplingParams {
        max_tokens: g.max_tokens,
        temperature: cfg.temperature(c),
        seed: pref_data::derived_seed(g.seed, &[&c.name, pid]),
        ..SamplingParams::default()
    }
}

fn answered_id(cfg: &Config, model: &str, c: &Contestant, written: &str) -> String {
    let g = &cfg.generation;
    record_id(&[
        "personal-rank-answer",
        model,
        c.system.as_deref().unwrap_or(""),
        &cfg.temperature(c).to_string(),
        &g.max_tokens.to_string(),
        &g.seed.to_string(),
        &c.name,
        written,
    ])
}

/// The judge's messages: the persona's system message (none for the neutral
/// judge) and the question with both answers cut to `judge.max_chars`.
pub fn judge_messages(
    cfg: &Config,
    persona: Option<usize>,
    prompt: &str,
    first: &str,
    second: &str,
) -> Vec<Message> {
    let j = &cfg.judge;
    let cut = |t: &str| pref_elicit::judging::truncate(t, j.max_chars);
    let text = j
        .template
        .replace("{prompt}", prompt)
        .replace("{first}", &cut(first))
        .replace("{second}", &cut(second));
    let system = persona.map(|u| {
        j.persona_system
            .replace("{description}", &cfg.personas[u].description)
    });
    with_system(system.as_deref(), vec![Message::user(text)])
}

/// One comparison to ask: who judges, on which prompt, which pair, which order.
#[derive(Debug, Clone)]
pub struct CompareJob {
    /// The persona (`None`: the neutral judge).
    pub persona: Option<usize>,
    /// The prompt's position in the kept prompts.
    pub prompt: usize,
    /// The pair (contestant indices, `x < y`).
    pub x: usize,
    /// The pair's second contestant.
    pub y: usize,
    /// `x` shown first.
    pub forward: bool,
}

impl CompareJob {
    /// (first shown, second shown).
    pub fn shown(&self) -> (usize, usize) {
        if self.forward {
            (self.x, self.y)
        } else {
            (self.y, self.x)
        }
    }
}

fn compared_id(
    cfg: &Config,
    judge: &str,
    persona: Option<usize>,
    first: &str,
    second: &str,
) -> String {
    let j = &cfg.judge;
    let system = persona.map_or(String::new(), |u| {
        j.persona_system
            .replace("{description}", &cfg.personas[u].description)
    });
    record_id(&[
        "personal-rank-compare",
        judge,
        &system,
        &j.template,
        &j.labels.join("\u{1f}"),
        &format!("{:?}", j.answer),
        &j.max_chars.to_string(),
        first,
        second,
    ])
}

/// Every comparison of the prompts in `persona_of` (the persona of each kept
/// prompt): each pair in both orders, as the persona or neutrally.
fn compare_jobs(n_contestants: usize, persona_of: &[usize], neutral: bool) -> Vec<CompareJob> {
    let mut jobs = Vec::new();
    for (prompt, &u) in persona_of.iter().enumerate() {
        for x in 0..n_contestants {
            for y in x + 1..n_contestants {
                for forward in [true, false] {
                    jobs.push(CompareJob {
                        persona: (!neutral).then_some(u),
                        prompt,
                        x,
                        y,
                        forward,
                    });
                }
            }
        }
    }
    jobs
}

/// Everything the stages produced, for the analysis.
pub struct Records {
    /// Kept prompts: (slot, id, text).
    pub prompts: Vec<(Slot, String, String)>,
    /// Written prompts that were unusable, and repeats of a persona's prompt.
    pub unusable: usize,
    /// Repeats of a prompt the persona had already written (dropped).
    pub duplicates: usize,
    /// `answers[prompt][contestant]`.
    pub answers: Vec<Vec<Answered>>,
    /// The persona comparisons.
    pub judged: Vec<(CompareJob, Compared)>,
    /// The neutral comparisons (empty when not needed).
    pub neutral: Vec<(CompareJob, Compared)>,
}

/// Runs the comparison stage `(name, log)` over `jobs`.
fn compare_stage(
    run: &Run<Config>,
    (name, log): (&str, &str),
    jobs: &[CompareJob],
    prompts: &[(Slot, String, String)],
    answers: &[Vec<Answered>],
    answer_ids: &[Vec<String>],
) -> Result<Vec<(CompareJob, Compared)>, BoxError> {
    let cfg = run.config();
    let judge = run.model(JUDGE)?;
    let judge_id = judge.id().to_string();
    let q = TwoWayQuestion {
        labels: &cfg.judge.labels,
        mode: cfg.judge.answer,
        prefixes: &["Response "],
        temperature: 0.0,
        seed: 0,
        parse: None,
        max_tokens: TEXT_ANSWER_TOKENS,
        tools: &[],
    };
    let id = |j: &CompareJob| {
        let (f, s) = j.shown();
        compared_id(
            cfg,
            &judge_id,
            j.persona,
            &answer_ids[j.prompt][f],
            &answer_ids[j.prompt][s],
        )
    };
    let mut stage = run.stage::<Compared>(name, log)?.planned(jobs.len());
    stage = stage.parsed_when(|c: &Compared| c.picked.is_some());
    let (q, judge) = (&q, judge.clone());
    stage.run(jobs, id, |j| {
        let judge = judge.clone();
        async move {
            let (f, s) = j.shown();
            let text = &prompts[j.prompt].2;
            let msgs = judge_messages(
                cfg,
                j.persona,
                text,
                &answers[j.prompt][f].text,
                &answers[j.prompt][s].text,
            );
            let a = q.ask(judge.as_ref(), &msgs).await?;
            Ok::<_, BoxError>(Compared {
                judge: j
                    .persona
                    .map_or(NEUTRAL.to_string(), |u| cfg.personas[u].name.clone()),
                prompt_id: prompts[j.prompt].1.clone(),
                first: cfg.contestants[f].name.clone(),
                second: cfg.contestants[s].name.clone(),
                picked: a.picked,
                first_prob: a.first_prob,
                raw: a.raw,
            })
        }
    })?;
    let log = stage.finish();
    Ok(jobs
        .iter()
        .filter_map(|j| log.get(&id(j)).map(|c| (j.clone(), c.clone())))
        .collect())
}

/// Runs every stage (skipping what is recorded) and returns the records.
pub fn collect(run: &Run<Config>) -> Result<Records, BoxError> {
    let cfg = run.config();
    // 1. Prompts.
    let writer = run.model(WRITER)?;
    let writer_id = writer.id().to_string();
    let all = slots(cfg);
    let wid = |s: &Slot| written_id(cfg, &writer_id, *s);
    let mut stage = run
        .stage::<Written>("prompts", "prompts")?
        .planned(all.len())
        .parsed_when(|w: &Written| w.text.is_some());
    stage.run(&all, wid, |s| {
        let writer = writer.clone();
        async move {
            let c = writer
                .generate(&write_messages(cfg, *s), &write_params(cfg, *s))
                .await?;
            Ok::<_, BoxError>(Written {
                persona: cfg.personas[s.persona].name.clone(),
                index: s.index,
                text: read_prompt(&c.text),
                raw: c.text,
                tokens: c.completion_tokens,
            })
        }
    })?;
    let log = stage.finish();
    let mut prompts = Vec::new();
    let mut prompt_written_ids = Vec::new();
    let (mut unusable, mut duplicates) = (0, 0);
    let mut seen = BTreeSet::new();
    for s in &all {
        let Some(w) = log.get(&wid(s)) else { continue };
        match &w.text {
            None => unusable += 1,
            Some(t) if !seen.insert((s.persona, t.to_lowercase())) => duplicates += 1,
            Some(t) => {
                prompts.push((*s, prompt_id(cfg, *s), t.clone()));
                prompt_written_ids.push(wid(s));
            }
        }
    }
    // 2. Answers.
    let jobs: Vec<(usize, usize)> = (0..prompts.len())
        .flat_map(|p| (0..cfg.contestants.len()).map(move |c| (p, c)))
        .collect();
    let models: Vec<Arc<Model>> = cfg
        .contestants
        .iter()
        .map(|c| run.model(&Config::contestant_role(c)).cloned())
        .collect::<Result<_, _>>()?;
    let model_ids: Vec<String> = models.iter().map(|m| m.id().to_string()).collect();
    let aid = |&(p, c): &(usize, usize)| {
        answered_id(
            cfg,
            &model_ids[c],
            &cfg.contestants[c],
            &prompt_written_ids[p],
        )
    };
    let mut stage = run
        .stage::<Answered>("responses", "responses")?
        .planned(jobs.len());
    let (prompts_ref, models_ref) = (&prompts, &models);
    stage.run(&jobs, aid, |&(p, c)| async move {
        let con = &cfg.contestants[c];
        let (_, pid, text) = &prompts_ref[p];
        let out = models_ref[c]
            .generate(&answer_messages(con, text), &answer_params(cfg, con, pid))
            .await?;
        Ok::<_, BoxError>(Answered {
            contestant: con.name.clone(),
            prompt_id: pid.clone(),
            text: out.text,
            tokens: out.completion_tokens,
            truncated: out.finish_reason == FinishReason::Length,
        })
    })?;
    let log = stage.finish();
    // A prompt whose answers are not all recorded (a deferred batch) is not compared.
    let mut kept = Vec::new();
    let mut answers = Vec::new();
    let mut answer_ids = Vec::new();
    for (p, prompt) in prompts.into_iter().enumerate() {
        let ids: Vec<String> = (0..cfg.contestants.len()).map(|c| aid(&(p, c))).collect();
        let got: Option<Vec<Answered>> = ids.iter().map(|i| log.get(i).cloned()).collect();
        if let Some(got) = got {
            kept.push(prompt);
            answers.push(got);
            answer_ids.push(ids);
        }
    }
    let persona_of: Vec<usize> = kept.iter().map(|(s, _, _)| s.persona).collect();
    // 3. Persona comparisons; 4. neutral ones.
    let n = cfg.contestants.len();
    let judged = compare_stage(
        run,
        ("judge", "judgments"),
        &compare_jobs(n, &persona_of, false),
        &kept,
        &answers,
        &answer_ids,
    )?;
    let neutral = if cfg.needs_neutral() {
        compare_stage(
            run,
            ("neutral", "neutral"),
            &compare_jobs(n, &persona_of, true),
            &kept,
            &answers,
            &answer_ids,
        )?
    } else {
        Vec::new()
    };
    Ok(Records {
        prompts: kept,
        unusable,
        duplicates,
        answers,
        judged,
        neutral,
    })
}

impl Study for PersonalRank {
    const NAME: &'static str = "personal-rank";
    type Config = Config;
    type Results = Results;

    fn plan(
        cfg: &Config,
        models: &ModelRoles,
    ) -> Result<(Vec<StagePlan>, serde_json::Value), BoxError> {
        let writer = models.get(WRITER)?;
        let judge = models.get(JUDGE)?;
        let (writer_id, judge_id) = (writer.id().to_string(), judge.id().to_string());
        let mut context = ContextCheck::new();
        let mut written = Vec::new();
        let mut answered = Vec::new();
        let mut compared = Vec::new();
        let mut neutral = Vec::new();
        let all = slots(cfg);
        let mut persona_of = Vec::new();
        let mut answer_ids: Vec<Vec<String>> = Vec::new();
        let prompt_room = cfg.prompts.max_tokens as usize;
        for s in &all {
            let msgs = write_messages(cfg, *s);
            context.offer("prompts.model", writer, &msgs, prompt_room, || {
                format!(
                    "the prompt request of persona `{}`",
                    cfg.personas[s.persona].name
                )
            });
            let wid = written_id(cfg, &writer_id, *s);
            written.push(PlannedJob {
                id: wid.clone(),
                cached: Some(writer.is_cached_generate(&msgs, &write_params(cfg, *s))?),
            });
            let mut ids = Vec::new();
            for (i, c) in cfg.contestants.iter().enumerate() {
                let m = models.get(&Config::contestant_role(c))?;
                // The prompt is not written yet: reserve its room as well.
                let msgs = answer_messages(c, "");
                context.offer(
                    &format!("contestants[{i}].model"),
                    m,
                    &msgs,
                    prompt_room + cfg.generation.max_tokens as usize,
                    || format!("contestant `{}`'s answer", c.name),
                );
                let id = answered_id(cfg, &m.id().to_string(), c, &wid);
                answered.push(PlannedJob {
                    id: id.clone(),
                    cached: None,
                });
                ids.push(id);
            }
            persona_of.push(s.persona);
            answer_ids.push(ids);
        }
        // Answers are cut to judge.max_chars characters (≤ max_chars tokens).
        let answer_room = 2
            * (cfg
                .judge
                .max_chars
                .min(4 * cfg.generation.max_tokens as usize));
        let judge_room = prompt_room + answer_room + TEXT_ANSWER_TOKENS as usize;
        for u in 0..cfg.personas.len() {
            let msgs = judge_messages(cfg, Some(u), "", "", "");
            context.offer("judge.model", judge, &msgs, judge_room, || {
                format!("the judge's question as persona `{}`", cfg.personas[u].name)
            });
        }
        let n = cfg.contestants.len();
        for (jobs, out) in [
            (compare_jobs(n, &persona_of, false), &mut compared),
            (compare_jobs(n, &persona_of, true), &mut neutral),
        ] {
            for j in jobs {
                let (f, s) = j.shown();
                out.push(PlannedJob {
                    id: compared_id(
                        cfg,
                        &judge_id,
                        j.persona,
                        &answer_ids[j.prompt][f],
                        &answer_ids[j.prompt][s],
                    ),
                    cached: None,
                });
            }
        }
        context.check()?;
        let mut plans = vec![
            StagePlan::known("prompts", "prompts", written).unparseable_when_null("text"),
            StagePlan::known("responses", "responses", answered),
            StagePlan::known("judge", "judgments", compared).unparseable_when_null("picked"),
        ];
        if cfg.needs_neutral() {
            plans.push(
                StagePlan::known("neutral", "neutral", neutral).unparseable_when_null("picked"),
            );
        }
        analysis::global_ratings(cfg, None)?;
        let details = serde_json::json!({
            "personas": cfg.personas.iter().map(|p| &p.name).collect::<Vec<_>>(),
            "contestants": cfg.contestants.iter().map(|c| &c.name).collect::<Vec<_>>(),
            "prompts": all.len(),
            "neutral_judge": cfg.needs_neutral(),
        });
        Ok((plans, details))
    }

    fn run(run: &Run<Config>) -> Result<Results, BoxError> {
        let t = std::time::Instant::now();
        let records = collect(run)?;
        let collected = t.elapsed().as_secs_f64();
        let results = analysis::analyse(run, &records, collected)?;
        run.write_results(&results)?;
        crate::report::write(run, &results)?;
        Ok(results)
    }
}
