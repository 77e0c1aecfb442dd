//! From the records to the results: global ratings (an Arena leaderboard or
//! the neutral judge's Bradley–Terry fit), the judges' position bias, the style
//! counts and embeddings of every answer, and pref-rank's evaluation of the
//! three systems (`pref_rank::personal`). See docs/personal-rank.md.

use std::collections::BTreeMap;

use pref_data::{JudgeDecision, Matrix, Winner};
use pref_rank::judges::{Estimate, JudgeAnalysisParams};
use pref_rank::personal::{self, Judged, PersonalData, PersonalEvaluation};
use pref_rank::{Ratings, StyleBtFit};
use pref_study::{BoxError, Calls, Picked, Run};
use serde::Serialize;

use crate::config::Config;
use crate::study::{CompareJob, Compared, Records};

/// The style counts of an answer, in the order of [`STYLE`].
pub const STYLE: [&str; 4] = ["tokens", "headers", "list_items", "bold"];

/// Tokens, markdown headers, list items and bold spans of an answer (the counts
/// arena-rank's style control uses; `docs/personal-rank.md`, "System C").
pub fn style_counts(text: &str, tokens: u32) -> [f64; 4] {
    let mut headers = 0;
    let mut lists = 0;
    for line in text.lines() {
        let l = line.trim_start();
        let hashes = l.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && l[hashes..].starts_with(' ') {
            headers += 1;
        }
        let unordered = ["- ", "* ", "+ "].iter().any(|p| l.starts_with(p));
        let digits = l.chars().take_while(char::is_ascii_digit).count();
        let ordered = digits > 0 && l[digits..].starts_with(". ");
        if unordered || ordered {
            lists += 1;
        }
    }
    // `**x**` and `__x__` spans on one line, x non-empty.
    let bold: usize = text
        .lines()
        .map(|l| {
            ["**", "__"]
                .iter()
                .map(|d| {
                    let parts: Vec<&str> = l.split(d).collect();
                    // Text between the 1st and 2nd, 3rd and 4th, … delimiters.
                    (1..parts.len().saturating_sub(1))
                        .step_by(2)
                        .filter(|&k| !parts[k].trim().is_empty())
                        .count()
                })
                .sum::<usize>()
        })
        .sum();
    [tokens as f64, headers as f64, lists as f64, bold as f64]
}

/// Where each contestant's global rating came from, and its value.
#[derive(Debug, Clone, Serialize)]
pub struct Global {
    /// Elo-scale rating by contestant.
    pub ratings: BTreeMap<String, f64>,
    /// `arena` (the leaderboard) or `neutral judge` (Bradley–Terry of its decisions).
    pub source: BTreeMap<String, String>,
    /// The neutral judge's comparisons used.
    pub neutral_comparisons: usize,
}

/// Global ratings. Without `neutral` (while planning) only the leaderboard is read
/// and every `arena` name checked.
pub fn global_ratings(
    cfg: &Config,
    neutral: Option<&[(CompareJob, Compared)]>,
) -> Result<Option<Global>, BoxError> {
    let board = match &cfg.global.leaderboard {
        Some(path) => Some(Ratings::read(path).map_err(|e| format!("global.leaderboard: {e}"))?),
        None => None,
    };
    let mut arena = BTreeMap::new();
    for (i, c) in cfg.contestants.iter().enumerate() {
        if let (Some(name), Some(board)) = (&c.arena, &board) {
            let r = board.get(name).ok_or_else(|| {
                format!(
                    "contestants[{i}].arena: `{name}` is not on the leaderboard {}",
                    cfg.global.leaderboard.as_ref().expect("board").display()
                )
            })?;
            arena.insert(c.name.clone(), r);
        }
    }
    let Some(neutral) = neutral else {
        return Ok(None);
    };
    let mut ratings = BTreeMap::new();
    let mut source = BTreeMap::new();
    let n = cfg.contestants.len();
    if arena.len() < n {
        let decisions: Vec<(usize, usize, f64)> = combine_orders(neutral)
            .0
            .iter()
            .map(|c| (c.x, c.y, c.outcome))
            .collect();
        let names: Vec<String> = cfg.contestants.iter().map(|c| c.name.clone()).collect();
        let fit = personal::fit_outcomes(&names, decisions, 0.01)?;
        // With some contestants on the Arena, shift the judge's scale so that their
        // mean agrees with their Arena mean.
        let shift = if arena.is_empty() {
            0.0
        } else {
            let judge_mean: f64 = arena
                .keys()
                .map(|m| fit.ratings.get(m).expect("fitted"))
                .sum::<f64>();
            let arena_mean: f64 = arena.values().sum::<f64>();
            (arena_mean - judge_mean) / arena.len() as f64
        };
        for m in &names {
            if !arena.contains_key(m) {
                ratings.insert(m.clone(), fit.ratings.get(m).expect("fitted") + shift);
                source.insert(m.clone(), "neutral judge".to_string());
            }
        }
    }
    for (m, r) in arena {
        ratings.insert(m.clone(), r);
        source.insert(m, "arena".to_string());
    }
    Ok(Some(Global {
        ratings,
        source,
        neutral_comparisons: neutral.len(),
    }))
}

/// The outcome for the pair's first contestant `x` of one shown order: 1 won,
/// 0 lost, ½ tie; `None` when the answer was unparseable.
pub fn outcome(j: &CompareJob, c: &Compared) -> Option<f64> {
    let first_won = match c.picked? {
        Picked::First => 1.0,
        Picked::Second => 0.0,
        Picked::Tie => 0.5,
    };
    Some(if j.forward {
        first_won
    } else {
        1.0 - first_won
    })
}

/// One (prompt, pair) judged in both orders, the orders combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Combined {
    /// The persona (`None`: the neutral judge).
    pub persona: Option<usize>,
    /// The prompt.
    pub prompt: usize,
    /// The pair (`x < y`).
    pub x: usize,
    /// The pair's second contestant.
    pub y: usize,
    /// The probability that `x`'s answer is preferred, averaged over the two
    /// orders (log-prob answers); with text answers, the mean of the two outcomes.
    pub p_x: f64,
    /// 1 when `p_x > ½`, 0 when `p_x < ½`, ½ when equal.
    pub outcome: f64,
}

/// Combines the two shown orders of every (prompt, pair): `x` is preferred when
/// the probability the judge gives `x`'s answer, averaged over both orders, is
/// above ½. A position-driven judge (one that always picks the first answer)
/// gives each answer the same share of first-shown wins, so what remains is the
/// difference it makes between the answers (docs/personal-rank.md, "Both
/// orders"). Returns the combined comparisons and the (prompt, pair)s left out
/// because an order is missing or unparseable.
pub fn combine_orders(records: &[(CompareJob, Compared)]) -> (Vec<Combined>, usize) {
    type Key = (Option<usize>, usize, usize, usize);
    let mut by: BTreeMap<Key, [Option<&Compared>; 2]> = BTreeMap::new();
    for (j, c) in records {
        by.entry((j.persona, j.prompt, j.x, j.y)).or_default()[usize::from(!j.forward)] = Some(c);
    }
    let mut out = Vec::new();
    let mut incomplete = 0;
    for ((persona, prompt, x, y), [fwd, bwd]) in by {
        let p_x = match (fwd, bwd) {
            (Some(f), Some(b)) => match (f.first_prob, b.first_prob, f.picked, b.picked) {
                (Some(pf), Some(pb), _, _) => Some(0.5 * (pf + 1.0 - pb)),
                (_, _, Some(_), Some(_)) => {
                    let j = |forward| CompareJob {
                        persona,
                        prompt,
                        x,
                        y,
                        forward,
                    };
                    Some(
                        0.5 * (outcome(&j(true), f).expect("parsed")
                            + outcome(&j(false), b).expect("parsed")),
                    )
                }
                _ => None,
            },
            _ => None,
        };
        match p_x {
            Some(p_x) => out.push(Combined {
                persona,
                prompt,
                x,
                y,
                p_x,
                outcome: if p_x > 0.5 {
                    1.0
                } else if p_x < 0.5 {
                    0.0
                } else {
                    0.5
                },
            }),
            None => incomplete += 1,
        }
    }
    (out, incomplete)
}

/// A judge's position bias.
#[derive(Debug, Clone, Serialize)]
pub struct PositionBias {
    /// Decisions.
    pub decisions: usize,
    /// Share won by the first-shown answer (0.5 = none), with its cluster-bootstrap
    /// interval over prompts.
    pub first_option_rate: Estimate,
    /// Share of pairs whose winner changes with the order, with its interval.
    pub order_flip: Option<Estimate>,
}

/// Prompts, answers and comparisons, counted.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    /// Prompt slots (personas × prompts.per_persona).
    pub planned_prompts: usize,
    /// Prompts kept, by persona.
    pub prompts: BTreeMap<String, usize>,
    /// Written prompts with nothing usable (kept in the records, counted here).
    pub unusable_prompts: usize,
    /// Prompts a persona wrote twice (the repeat dropped).
    pub duplicate_prompts: usize,
    /// Persona comparisons recorded.
    pub comparisons: usize,
    /// Of those, unparseable.
    pub unparseable: usize,
    /// (prompt, pair)s with both orders answered: the comparisons the systems see.
    pub pairs: usize,
    /// (prompt, pair)s left out (an order missing or unparseable).
    pub incomplete_pairs: usize,
    /// Of the pairs, ties (equal probabilities over the two orders).
    pub tied_pairs: usize,
    /// Neutral comparisons recorded.
    pub neutral_comparisons: usize,
    /// Mean style counts of each contestant's answers (`STYLE` order), and the
    /// share cut by `generation.max_tokens`.
    pub answers: BTreeMap<String, AnswerStats>,
}

/// A contestant's answers in numbers.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerStats {
    /// Mean of each style count.
    pub mean_style: BTreeMap<String, f64>,
    /// Answers cut by `generation.max_tokens`.
    pub truncated: usize,
    /// Answers.
    pub n: usize,
}

/// System C on every comparison: style coefficients per persona.
#[derive(Debug, Clone, Serialize)]
pub struct StyleSummary {
    /// The fit (coefficients per standardised style difference, offsets, intervals).
    pub fit: StyleBtFit,
    /// Means and sds the style differences were standardised with.
    pub standardizer: pref_rank::style::Standardizer,
    /// Style counts whose difference never varies over the comparisons (e.g. no
    /// answer has a heading): their coefficients are the prior's, not estimates.
    pub constant: Vec<String>,
}

/// What `results.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// Personas.
    pub personas: Vec<String>,
    /// Contestants.
    pub contestants: Vec<String>,
    /// Counts.
    pub counts: Counts,
    /// Global ratings.
    pub global: Global,
    /// Position bias of the judge as each persona (and neutrally).
    pub position_bias: BTreeMap<String, PositionBias>,
    /// Ground truth from all of a persona's comparisons (Bradley–Terry, Elo scale).
    pub persona_ratings: BTreeMap<String, BTreeMap<String, f64>>,
    /// The evaluation of the systems.
    pub evaluation: PersonalEvaluation,
    /// Verdicts on Kendall τ and pairwise accuracy that respect the intervals.
    pub verdicts: Vec<String>,
    /// System C fitted on every comparison.
    pub style: StyleSummary,
    /// What the report warns about.
    pub warnings: Vec<String>,
    /// Model calls this process made and had answered by the cache.
    pub model_calls: Calls,
    /// Model ids by role.
    pub models: BTreeMap<String, String>,
    /// Seconds: model stages, embeddings, evaluation, total.
    pub seconds: BTreeMap<String, f64>,
}

fn decisions(records: &[(CompareJob, Compared)]) -> Vec<JudgeDecision> {
    records
        .iter()
        .filter_map(|(j, c)| {
            let winner = match c.picked? {
                Picked::First => Winner::A,
                Picked::Second => Winner::B,
                Picked::Tie => Winner::Tie,
            };
            Some(JudgeDecision {
                question_id: c.prompt_id.clone(),
                model_a: c.first.clone(),
                model_b: c.second.clone(),
                winner,
                judge: c.judge.clone(),
                order: Some(if j.forward { "forward" } else { "backward" }.into()),
                choice_prob: None,
            })
        })
        .collect()
}

/// Builds the evaluation's inputs and runs it.
pub fn analyse(run: &Run<Config>, rec: &Records, collected: f64) -> Result<Results, BoxError> {
    let cfg = run.config();
    let t = std::time::Instant::now();
    let names: Vec<String> = cfg.contestants.iter().map(|c| c.name.clone()).collect();
    let personas: Vec<String> = cfg.personas.iter().map(|p| p.name.clone()).collect();
    let m = names.len();
    let global = global_ratings(cfg, Some(&rec.neutral))?.expect("computed with records");

    // Embeddings and style counts of every answer, row prompt · m + contestant.
    let texts: Vec<String> = rec
        .prompts
        .iter()
        .zip(&rec.answers)
        .flat_map(|((_, _, p), answers)| answers.iter().map(move |a| format!("{p}\n\n{}", a.text)))
        .collect();
    let embedder = pref_llm::embed::SentenceEmbedder::load_default()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let embeddings: Matrix<f32> = embedder.embed(&refs)?;
    let embedded = t.elapsed().as_secs_f64();
    let style: Vec<Vec<f64>> = rec
        .answers
        .iter()
        .flat_map(|answers| {
            answers
                .iter()
                .map(|a| style_counts(&a.text, a.tokens).to_vec())
        })
        .collect();

    let (combined, incomplete) = combine_orders(&rec.judged);
    let judged: Vec<Judged> = combined
        .iter()
        .map(|c| Judged {
            persona: c.persona.expect("persona comparisons"),
            prompt: c.prompt,
            a: c.x,
            b: c.y,
            outcome: c.outcome,
        })
        .collect();
    let data = PersonalData {
        personas: personas.clone(),
        models: names.clone(),
        prompt_persona: rec.prompts.iter().map(|(s, _, _)| s.persona).collect(),
        judged: judged.clone(),
        global: names.iter().map(|n| global.ratings[n]).collect(),
        embeddings,
        style,
        style_names: STYLE.iter().map(|s| s.to_string()).collect(),
    };
    let params = cfg.personal_params();
    let evaluation = personal::evaluate(&data, &params)?;
    let (fit, standardizer) = personal::style_fit_all(&data, &params.style)?;
    let constant = STYLE
        .iter()
        .enumerate()
        .filter(|(k, _)| {
            let mut d = judged.iter().map(|j| {
                let (x, y) = (
                    &data.style[j.prompt * m + j.a],
                    &data.style[j.prompt * m + j.b],
                );
                pref_rank::relative_difference(x[*k], y[*k])
            });
            let first = d.next();
            d.all(|v| Some(v) == first)
        })
        .map(|(_, s)| s.to_string())
        .collect();

    // Ground truth from all of each persona's comparisons, for the report.
    let mut persona_ratings = BTreeMap::new();
    for (u, name) in personas.iter().enumerate() {
        let d = judged
            .iter()
            .filter(|j| j.persona == u)
            .map(|j| (j.a, j.b, j.outcome));
        let fit = personal::fit_outcomes(&names, d, 0.01)?;
        persona_ratings.insert(name.clone(), fit.ratings.to_map());
    }

    // Position bias of each judge (persona) and of the neutral judge.
    let mut all = decisions(&rec.judged);
    all.extend(decisions(&rec.neutral));
    let bias = pref_rank::analyze(
        &all,
        &JudgeAnalysisParams::default()
            .bootstrap(1000)
            .seed(cfg.analysis.seed)
            .level(cfg.analysis.level),
    )?;
    let position_bias: BTreeMap<String, PositionBias> = bias
        .judges
        .into_iter()
        .map(|(k, s)| {
            (
                k,
                PositionBias {
                    decisions: s.n_decisions,
                    first_option_rate: s.first_option_rate,
                    order_flip: s.order_flip,
                },
            )
        })
        .collect();

    let mut warnings = Vec::new();
    for (judge, b) in &position_bias {
        let r = &b.first_option_rate;
        if r.ci_lower > 0.5 || r.ci_upper < 0.5 {
            warnings.push(format!(
                "The judge as `{judge}` picks the {} answer in {:.0}% of comparisons \
                 ({:.0}–{:.0}%): its preferences are position-driven, and only the difference its probabilities make \
                 between the answers over both orders carries signal.",
                if r.estimate > 0.5 { "first-shown" } else { "second-shown" },
                100.0 * r.estimate,
                100.0 * r.ci_lower,
                100.0 * r.ci_upper
            ));
        }
    }
    let unparseable = rec
        .judged
        .iter()
        .filter(|(_, c)| c.picked.is_none())
        .count();
    if incomplete > 0 {
        warnings.push(format!(
            "{incomplete} of {} (prompt, pair)s lack a parseable answer in one of the two \
             orders ({unparseable} unparseable answers) and are left out of every fit.",
            incomplete + combined.len()
        ));
    }
    let verdicts = ["kendall_tau", "pairwise_accuracy"]
        .iter()
        .map(|metric| personal::verdict(&evaluation, metric))
        .collect();

    let mut per_persona = BTreeMap::new();
    for (s, _, _) in &rec.prompts {
        *per_persona.entry(personas[s.persona].clone()).or_insert(0) += 1;
    }
    let mut answers = BTreeMap::new();
    for (c, name) in names.iter().enumerate() {
        let mut sums = [0.0; 4];
        let mut truncated = 0;
        for (p, row) in rec.answers.iter().enumerate() {
            let a = &row[c];
            for (s, v) in sums.iter_mut().zip(&data.style[p * m + c]) {
                *s += v;
            }
            truncated += usize::from(a.truncated);
        }
        let n = rec.answers.len();
        answers.insert(
            name.clone(),
            AnswerStats {
                mean_style: STYLE
                    .iter()
                    .zip(sums)
                    .map(|(k, s)| (k.to_string(), s / n.max(1) as f64))
                    .collect(),
                truncated,
                n,
            },
        );
    }
    let evaluated = t.elapsed().as_secs_f64() - embedded;
    Ok(Results {
        personas,
        contestants: names,
        counts: Counts {
            planned_prompts: cfg.personas.len() * cfg.prompts.per_persona,
            prompts: per_persona,
            unusable_prompts: rec.unusable,
            duplicate_prompts: rec.duplicates,
            comparisons: rec.judged.len(),
            unparseable,
            pairs: combined.len(),
            incomplete_pairs: incomplete,
            tied_pairs: combined.iter().filter(|c| c.outcome == 0.5).count(),
            neutral_comparisons: rec.neutral.len(),
            answers,
        },
        global,
        position_bias,
        persona_ratings,
        evaluation,
        verdicts,
        style: StyleSummary {
            fit,
            standardizer,
            constant,
        },
        warnings,
        model_calls: run.calls(),
        models: run.model_ids(),
        seconds: BTreeMap::from([
            ("model_stages".to_string(), collected),
            ("embeddings".to_string(), embedded),
            ("evaluation".to_string(), evaluated),
            ("total".to_string(), run.seconds()),
        ]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_counts_follow_markdown() {
        let text = "# Title\n\nSome **bold** and __also__ text.\n- one\n* two\n12. three\n#no\n**";
        assert_eq!(style_counts(text, 30), [30.0, 1.0, 3.0, 2.0]);
        assert_eq!(style_counts("plain", 2), [2.0, 0.0, 0.0, 0.0]);
    }
}
