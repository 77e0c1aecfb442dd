//! The positivity check: after completing a task, is the model's self-report
//! ("did you enjoy it?") positive whatever the framing? Every item is completed
//! once, then rated under every framing × option set, read from the options'
//! log-probabilities and from a generated answer. Used by the `robustness`
//! study; see docs/robustness.md ("Positivity bias").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{setting, Error, Result};
use pref_data::record_id;
use pref_llm::{LanguageModel, Message, SamplingParams};
use pref_study::{BoxError, ContextCheck, Item, Model, PlannedJob, Run, StagePlan, StudyConfig};
use serde::{Deserialize, Serialize};

/// The committed default templates.
pub const DEFAULT_TEMPLATES: &str = include_str!("../templates/positivity.toml");

/// Tokens of a generated self-report at most.
const ANSWER_TOKENS: u32 = 16;

/// The positivity check's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PositivityConfig {
    /// Run the check.
    pub enabled: bool,
    /// The first `n_items` of the study's items are completed and rated.
    pub n_items: usize,
    /// Tokens of each completion at most.
    pub max_tokens: u32,
    /// Temperature of the completions (0 = greedy).
    pub temperature: f32,
    /// Framings and option sets: a TOML file like
    /// `crates/pref-elicit/templates/positivity.toml`, or a JSON file in the seed
    /// study's format (`framings`, `option_sets`, `response_instruction`);
    /// default: the committed templates.
    pub templates: Option<PathBuf>,
}

impl Default for PositivityConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            n_items: 5,
            max_tokens: 128,
            temperature: 0.0,
            templates: None,
        }
    }
}

/// One framing of the question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Framing {
    /// Its name.
    pub name: String,
    /// The text, with `{options}`.
    pub template: String,
}

/// One set of three options, positive, neutral, negative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionSet {
    /// Its name.
    pub name: String,
    /// Positive, neutral, negative.
    pub options: [String; 3],
}

/// Framings × option sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Templates {
    /// The framings.
    pub framings: Vec<Framing>,
    /// The option sets.
    pub option_sets: Vec<OptionSet>,
    /// The instruction after the framing, with `{0}`, `{1}`, `{2}`.
    pub response_instruction: String,
}

impl Templates {
    /// Reads `path` (TOML, or JSON when it ends in `.json`; unknown keys of a
    /// JSON file are ignored), or the committed defaults.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let t: Templates = match path {
            None => toml::from_str(DEFAULT_TEMPLATES).map_err(|e| {
                Error::Input(format!("crates/pref-elicit/templates/positivity.toml: {e}"))
            })?,
            Some(p) => {
                let bad = |e: &dyn std::fmt::Display| {
                    Error::Input(format!("positivity.templates: {}: {e}", p.display()))
                };
                let text = std::fs::read_to_string(p).map_err(|e| bad(&e))?;
                if p.extension().is_some_and(|e| e == "json") {
                    serde_json::from_str(&text).map_err(|e| bad(&e))?
                } else {
                    toml::from_str(&text).map_err(|e| bad(&e))?
                }
            }
        };
        if t.framings.is_empty() || t.option_sets.is_empty() {
            setting!("positivity.templates: give at least one framing and one option set");
        }
        for f in &t.framings {
            if !f.template.contains("{options}") {
                setting!(
                    "positivity.templates: framing `{}` has no {{options}}",
                    f.name
                );
            }
        }
        for s in &t.option_sets {
            let lower: Vec<String> = s.options.iter().map(|o| o.trim().to_lowercase()).collect();
            if lower.iter().any(String::is_empty)
                || lower[0] == lower[1]
                || lower[1] == lower[2]
                || lower[0] == lower[2]
            {
                setting!(
                    "positivity.templates: option set `{}` needs three distinct options",
                    s.name
                );
            }
        }
        Ok(t)
    }

    /// The question of a framing and option set: the framing with its
    /// options joined by ", ", a newline, the instruction with the options.
    pub fn question(&self, framing: &Framing, set: &OptionSet) -> String {
        let [a, b, c] = &set.options;
        let instruction = self
            .response_instruction
            .replace("{0}", a)
            .replace("{1}", b)
            .replace("{2}", c);
        format!(
            "{}\n{instruction}",
            framing
                .template
                .replace("{options}", &set.options.join(", "))
        )
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads a self-report: the reply lower-cased and trimmed; the first option,
/// in list order, found as a whole word (no letter, digit or `_` on either
/// side); `None` when none is. Written by hand: a three-word search needs no
/// regular-expression engine.
pub fn parse(reply: &str, options: &[String; 3]) -> Option<usize> {
    let text = reply.trim().to_lowercase();
    options.iter().position(|o| {
        let o = o.to_lowercase();
        text.match_indices(o.as_str()).any(|(at, m)| {
            let before = text[..at].chars().next_back();
            let after = text[at + m.len()..].chars().next();
            !before.is_some_and(is_word) && !after.is_some_and(is_word)
        })
    })
}

/// A task's completion (the first turn of every self-report about it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Completion {
    /// The item.
    pub item: String,
    /// What the model wrote.
    pub text: String,
}

/// One self-report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SelfReport {
    /// The item.
    pub item: String,
    /// The framing's name.
    pub framing: String,
    /// The option set's name.
    pub option_set: String,
    /// Positive, neutral, negative.
    pub options: [String; 3],
    /// The options' probabilities as written, renormalised over the three.
    pub probs: [f64; 3],
    /// The generated answer (greedy, up to 16 tokens).
    pub raw: String,
    /// The option the text names (see [`parse`]); `None`: unparseable.
    pub parsed: Option<usize>,
}

fn completion_id(cfg: &PositivityConfig, item: &Item, model: &str) -> String {
    record_id(&[
        "positivity-completion",
        &item.id,
        model,
        &cfg.max_tokens.to_string(),
        &cfg.temperature.to_string(),
    ])
}

fn report_id(item: &Item, question: &str, model: &str) -> String {
    record_id(&["positivity-report", &item.id, question, model])
}

fn completion_params(cfg: &PositivityConfig) -> SamplingParams {
    SamplingParams {
        max_tokens: cfg.max_tokens,
        temperature: cfg.temperature,
        ..SamplingParams::default()
    }
}

/// The questions: (item index, framing, option set, question text).
fn jobs(t: &Templates, n_items: usize) -> Vec<(usize, &Framing, &OptionSet, String)> {
    // Item-major, so the questions about one item (same task and completion)
    // follow each other and share the prompt's cells.
    let mut out = Vec::new();
    for i in 0..n_items {
        for f in &t.framings {
            for s in &t.option_sets {
                out.push((i, f, s, t.question(f, s)));
            }
        }
    }
    out
}

/// The planned stages (`complete` and `self-report`), after checking that
/// every prompt fits the model's context (a self-report's prompt holds the
/// completion, counted as `max_tokens` of room; docs/runs.md).
pub fn stage_plans(
    cfg: &PositivityConfig,
    items: &[Item],
    lm: &std::sync::Arc<Model>,
) -> Result<Vec<StagePlan>, BoxError> {
    if !cfg.enabled {
        return Ok(Vec::new());
    }
    let model = &lm.id().to_string();
    let t = Templates::load(cfg.templates.as_deref())?;
    let items = &items[..cfg.n_items.min(items.len())];
    let mut context = ContextCheck::new();
    let completions = items
        .iter()
        .map(|it| {
            let m = [Message::user(it.text.clone())];
            context.offer("model", lm, &m, cfg.max_tokens as usize, || {
                format!("the positivity completion of item `{}`", it.id)
            });
            PlannedJob {
                id: completion_id(cfg, it, model),
                cached: None,
            }
        })
        .collect();
    let reports = jobs(&t, items.len())
        .into_iter()
        .map(|(i, f, s, q)| {
            let m = [
                Message::user(items[i].text.clone()),
                Message::assistant(String::new()),
                Message::user(q.clone()),
            ];
            let room = cfg.max_tokens as usize + ANSWER_TOKENS as usize;
            context.offer("model", lm, &m, room, || {
                format!(
                    "the positivity self-report `{}` × `{}` on item `{}`",
                    f.name, s.name, items[i].id
                )
            });
            PlannedJob {
                id: report_id(&items[i], &q, model),
                cached: None,
            }
        })
        .collect();
    context.check()?;
    Ok(vec![
        StagePlan::known("positivity-complete", "positivity_completions", completions),
        StagePlan::known("self-report", "self_reports", reports).unparseable_when_null("parsed"),
    ])
}

/// Shares of an answer distribution and its mean score (+1 positive, 0
/// neutral, −1 negative).
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Shares {
    /// Positive share.
    pub positive: f64,
    /// Neutral share.
    pub neutral: f64,
    /// Negative share.
    pub negative: f64,
    /// `positive − negative`.
    pub mean_score: f64,
}

impl Shares {
    fn of(sums: [f64; 3]) -> Option<Self> {
        let n: f64 = sums.iter().sum();
        (n > 0.0).then(|| Self {
            positive: sums[0] / n,
            neutral: sums[1] / n,
            negative: sums[2] / n,
            mean_score: (sums[0] - sums[2]) / n,
        })
    }
}

/// One framing × option set.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The framing.
    pub framing: String,
    /// The option set.
    pub option_set: String,
    /// From the options' probabilities, averaged over items.
    pub logprobs: Option<Shares>,
    /// From the parsed answers (shares of the parsed ones).
    pub text: Option<Shares>,
    /// Unparseable answers.
    pub unparseable: usize,
    /// Answers.
    pub n: usize,
}

/// The check's results.
#[derive(Debug, Clone, Serialize)]
pub struct Positivity {
    /// Items completed and rated.
    pub n_items: usize,
    /// Per framing × option set.
    pub cells: Vec<Cell>,
    /// Over every cell: from the probabilities, and from the parsed answers.
    pub overall_logprobs: Option<Shares>,
    /// Over every cell, from the parsed answers.
    pub overall_text: Option<Shares>,
    /// Unparseable answers over every cell.
    pub unparseable: usize,
}

/// Runs (or resumes) the check: completions, then every self-report.
pub fn run_check<C: StudyConfig>(
    run: &Run<C>,
    cfg: &PositivityConfig,
    items: &[Item],
) -> Result<Option<Positivity>, BoxError> {
    if !cfg.enabled {
        return Ok(None);
    }
    let t = Templates::load(cfg.templates.as_deref())?;
    let items = &items[..cfg.n_items.min(items.len())];
    let lm = run.model("model")?;
    let model = lm.id().to_string();
    let params = completion_params(cfg);
    let mut complete = run
        .stage::<Completion>("positivity-complete", "positivity_completions")?
        .planned(items.len());
    let (lm_ref, params_ref) = (lm.as_ref(), &params);
    complete.run(
        items,
        |it| completion_id(cfg, it, &model),
        |it| async move {
            let c = lm_ref
                .generate(&[Message::user(it.text.clone())], params_ref)
                .await?;
            Ok::<_, pref_llm::Error>(Completion {
                item: it.id.clone(),
                text: c.text,
            })
        },
    )?;
    let completions = complete.finish();
    let texts: Vec<String> = items
        .iter()
        .map(|it| {
            completions
                .get(&completion_id(cfg, it, &model))
                .map(|c| c.text.clone())
                .unwrap_or_default()
        })
        .collect();
    let all = jobs(&t, items.len());
    let mut reports = run
        .stage::<SelfReport>("self-report", "self_reports")?
        .parsed_when(|r: &SelfReport| r.parsed.is_some())
        .planned(all.len());
    let texts = &texts;
    reports.run(
        &all,
        |(i, _, _, q)| report_id(&items[*i], q, &model),
        |(i, f, s, q)| async move {
            let messages = vec![
                Message::user(items[*i].text.clone()),
                Message::assistant(texts[*i].clone()),
                Message::user(q.clone()),
            ];
            let c = lm_ref.choice_logprobs(&messages, &s.options).await?;
            let probs = [c.normalised[0], c.normalised[1], c.normalised[2]];
            let g = lm_ref
                .generate(
                    &messages,
                    &SamplingParams {
                        max_tokens: ANSWER_TOKENS,
                        ..SamplingParams::default()
                    },
                )
                .await?;
            Ok::<_, pref_llm::Error>(SelfReport {
                item: items[*i].id.clone(),
                framing: f.name.clone(),
                option_set: s.name.clone(),
                options: s.options.clone(),
                probs,
                parsed: parse(&g.text, &s.options),
                raw: g.text,
            })
        },
    )?;
    let log = reports.finish();
    let mut cells = Vec::new();
    let (mut all_lp, mut all_text, mut all_unparseable) = ([0.0; 3], [0.0; 3], 0);
    for f in &t.framings {
        for s in &t.option_sets {
            let q = t.question(f, s);
            let recs: Vec<&SelfReport> = items
                .iter()
                .filter_map(|it| log.get(&report_id(it, &q, &model)))
                .collect();
            let (mut lp, mut text, mut unparseable) = ([0.0; 3], [0.0; 3], 0);
            for r in &recs {
                for (sum, p) in lp.iter_mut().zip(r.probs) {
                    *sum += p;
                }
                match r.parsed {
                    Some(k) => text[k] += 1.0,
                    None => unparseable += 1,
                }
            }
            for (all, x) in all_lp.iter_mut().zip(lp) {
                *all += x;
            }
            for (all, x) in all_text.iter_mut().zip(text) {
                *all += x;
            }
            all_unparseable += unparseable;
            cells.push(Cell {
                framing: f.name.clone(),
                option_set: s.name.clone(),
                logprobs: Shares::of(lp),
                text: Shares::of(text),
                unparseable,
                n: recs.len(),
            });
        }
    }
    Ok(Some(Positivity {
        n_items: items.len(),
        cells,
        overall_logprobs: Shares::of(all_lp),
        overall_text: Shares::of(all_text),
        unparseable: all_unparseable,
    }))
}

/// Framings (rows) × option sets (columns) of one value, for a heatmap.
pub fn grid(
    p: &Positivity,
    value: impl Fn(&Cell) -> Option<f64>,
) -> (Vec<String>, Vec<String>, Vec<Vec<f64>>) {
    let mut rows: Vec<String> = Vec::new();
    let mut cols: Vec<String> = Vec::new();
    for c in &p.cells {
        if !rows.contains(&c.framing) {
            rows.push(c.framing.clone());
        }
        if !cols.contains(&c.option_set) {
            cols.push(c.option_set.clone());
        }
    }
    let mut by: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for c in &p.cells {
        by.insert((&c.framing, &c.option_set), value(c).unwrap_or(f64::NAN));
    }
    let values = rows
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| {
                    by.get(&(r.as_str(), c.as_str()))
                        .copied()
                        .unwrap_or(f64::NAN)
                })
                .collect()
        })
        .collect();
    (rows, cols, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(a: &str, b: &str, c: &str) -> [String; 3] {
        [a.into(), b.into(), c.into()]
    }

    #[test]
    fn the_parser_takes_the_first_option_in_list_order_as_a_whole_word() {
        let o = opts("good", "neutral", "bad");
        assert_eq!(parse("Neutral.", &o), Some(1));
        assert_eq!(parse("  GOOD ", &o), Some(0));
        // List order, not position in the reply.
        assert_eq!(parse("bad, or maybe good", &o), Some(0));
        // Whole words only.
        assert_eq!(parse("goodness", &o), None);
        assert_eq!(parse("not_bad", &o), None);
        assert_eq!(parse("'bad'", &o), Some(2));
        assert_eq!(parse("", &o), None);
        let yes = opts("yes", "somewhat", "no");
        assert_eq!(parse("No, not really", &yes), Some(2));
        assert_eq!(parse("nothing", &yes), None);
    }

    #[test]
    fn the_committed_templates_build_six_by_four_questions() {
        let t = Templates::load(None).unwrap();
        assert_eq!((t.framings.len(), t.option_sets.len()), (6, 4));
        assert_eq!(
            t.question(&t.framings[0], &t.option_sets[0]),
            "How did you find doing that task? Rate it as good, neutral, bad.\n\
             Respond with only 'good', 'neutral', or 'bad'."
        );
        assert_eq!(jobs(&t, 2).len(), 48);
    }

    /// The seed study's own templates and its 1,200 parsed answers
    /// (`../shared/data/preferences/positivity_*.json`): every question is
    /// rebuilt byte for byte and every answer parsed as the seed parsed it.
    #[test]
    fn the_seed_studys_questions_and_parses_are_reproduced() {
        let Some(dir) = pref_data::paths::shared_data_dir() else {
            return;
        };
        let dir = dir.join("preferences");
        let t = Templates::load(Some(&dir.join("positivity_templates.json"))).unwrap();
        let data: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("positivity_post_task.json")).unwrap(),
        )
        .unwrap();
        let configs = data["test_configs"].as_array().unwrap();
        assert_eq!(configs.len(), 24);
        let mut checked = 0;
        for c in configs {
            let f = t.framings.iter().find(|f| f.name == c["framing"]).unwrap();
            let s = t
                .option_sets
                .iter()
                .find(|s| s.name == c["options"])
                .unwrap();
            assert_eq!(t.question(f, s), c["question"].as_str().unwrap());
            let key = format!("{}__{}", f.name, s.name);
            for r in data["results"][&key].as_array().unwrap() {
                let got =
                    parse(r["raw"].as_str().unwrap(), &s.options).map(|k| s.options[k].as_str());
                assert_eq!(got, r["parsed"].as_str(), "{key}: {}", r["raw"]);
                checked += 1;
            }
        }
        assert_eq!(checked, 1200);
    }
}
