//! The prompts: an arena-hard question file, filtered (duplicates, length,
//! language) and drawn. Every prompt left out is counted with its reason.

use std::collections::{BTreeMap, HashSet};

use pref_study::BoxError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::config::PromptsConfig;

/// A prompt the policies answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Its id in the file (`uid` or `question_id`).
    pub id: String,
    /// Its text.
    pub text: String,
    /// Its category in the file, when it has one.
    pub category: Option<String>,
}

/// What became of the file's prompts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptSummary {
    /// The file.
    pub path: String,
    /// Prompts read.
    pub read: usize,
    /// Dropped: an id seen before (the first is kept).
    pub duplicate_ids: usize,
    /// Dropped: longer than `prompts.max_chars`.
    pub too_long: usize,
    /// Dropped: identified as another language, by language (ISO 639-3).
    pub not_english: BTreeMap<String, usize>,
    /// Kept although the identification was unsure: Latin script, and
    /// another language found with less than `prompts.min_confidence` (short
    /// English prompts often are).
    pub kept_unsure: usize,
    /// Kept after the filters.
    pub kept: usize,
    /// Drawn (at most `prompts.n`).
    pub drawn: usize,
}

impl PromptSummary {
    /// One sentence per kind of drop, for the report.
    pub fn dropped_in_words(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.duplicate_ids > 0 {
            out.push(format!("{} repeated an id", self.duplicate_ids));
        }
        if self.too_long > 0 {
            out.push(format!(
                "{} were longer than prompts.max_chars",
                self.too_long
            ));
        }
        let other: usize = self.not_english.values().sum();
        if other > 0 {
            let langs: Vec<String> = self
                .not_english
                .iter()
                .map(|(l, n)| format!("{l} {n}"))
                .collect();
            out.push(format!(
                "{other} were identified as another language ({})",
                langs.join(", ")
            ));
        }
        out
    }
}

/// What the language filter makes of a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Language {
    /// Identified as English.
    English,
    /// Latin script, another language found but with little confidence: kept.
    Unsure,
    /// Another language (ISO 639-3), or a script English is not written in.
    Other(String),
}

/// whatlang's confidence is low on short text (“Why is the sky blue?” scores
/// 0.75, “How do I read a JSON file in Rust?” 0.0), so only a confident
/// identification of another language, or a non-Latin script, drops a prompt.
fn language(text: &str, min_confidence: f64) -> Language {
    let Some(info) = whatlang::detect(text) else {
        return Language::Unsure;
    };
    if info.script() != whatlang::Script::Latin {
        return Language::Other(info.lang().code().to_string());
    }
    if info.lang() == whatlang::Lang::Eng {
        Language::English
    } else if info.confidence() >= min_confidence {
        Language::Other(info.lang().code().to_string())
    } else {
        Language::Unsure
    }
}

/// Reads, filters and draws the prompts (in file order).
pub fn load(cfg: &PromptsConfig) -> Result<(Vec<Prompt>, PromptSummary), BoxError> {
    let tasks = pref_data::loaders::load_arena_questions(&cfg.path)
        .map_err(|e| format!("prompts.path: {e}"))?;
    let mut s = PromptSummary {
        path: cfg.path.display().to_string(),
        read: tasks.len(),
        ..PromptSummary::default()
    };
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    for t in tasks {
        if !seen.insert(t.id.clone()) {
            s.duplicate_ids += 1;
            continue;
        }
        if t.prompt.chars().count() > cfg.max_chars {
            s.too_long += 1;
            continue;
        }
        if cfg.english_only {
            match language(&t.prompt, cfg.min_confidence) {
                Language::English => {}
                Language::Unsure => s.kept_unsure += 1,
                Language::Other(lang) => {
                    *s.not_english.entry(lang).or_default() += 1;
                    continue;
                }
            }
        }
        let category = t
            .meta
            .as_ref()
            .and_then(|m| m.get("category"))
            .and_then(|c| c.as_str())
            .map(str::to_string);
        kept.push(Prompt {
            id: t.id,
            text: t.prompt,
            category,
        });
    }
    s.kept = kept.len();
    if kept.is_empty() {
        return Err(format!(
            "prompts.path {}: no prompt is left after the filters ({})",
            cfg.path.display(),
            s.dropped_in_words().join("; ")
        )
        .into());
    }
    // A seeded draw, returned in file order.
    let mut idx: Vec<usize> = (0..kept.len()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    idx.shuffle(&mut rng);
    idx.truncate(cfg.n);
    idx.sort_unstable();
    let drawn: Vec<Prompt> = idx.into_iter().map(|i| kept[i].clone()).collect();
    s.drawn = drawn.len();
    Ok((drawn, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_told_apart() {
        let l = |t| language(t, 0.5);
        assert_eq!(
            l("Explain how a hash table handles collisions, with an example in Python."),
            Language::English
        );
        assert_eq!(
            l("Écrivez un poème sur la mer et les bateaux qui partent au loin le soir."),
            Language::Other("fra".into())
        );
        assert_eq!(
            l("Wie kann ich am besten Deutsch lernen, wenn ich wenig Zeit habe?"),
            Language::Other("deu".into())
        );
        // Cyrillic: never English, whichever Slavic language whatlang names.
        assert!(matches!(l("Почему небо голубое?"), Language::Other(_)));
        // whatlang calls this Danish with confidence 0.01: kept, counted as unsure.
        assert_eq!(
            l("How do I reverse a string in JavaScript?"),
            Language::Unsure
        );
    }
}
