//! The template factors and the pairwise question they build, from the texts
//! in `templates/pairwise.toml`. See docs/robustness.md ("Template factors").

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use pref_elicit::ChoicePrompt;
use pref_llm::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

/// A template factor and its levels (the first is the default).
#[derive(Debug)]
pub struct Factor {
    /// The factor's name (as in the seed study's run files).
    pub name: &'static str,
    /// Its levels; `seed` takes its levels from `design.seeds`.
    pub levels: &'static [&'static str],
}

/// Every factor, in the order of the report.
pub const FACTORS: &[Factor] = &[
    Factor {
        name: "phrasing",
        levels: &["1", "2", "3"],
    },
    Factor {
        name: "language",
        levels: &["en", "fr", "es"],
    },
    Factor {
        name: "situating_context",
        levels: &["none", "experiment"],
    },
    Factor {
        name: "instruction_position",
        levels: &["before", "after"],
    },
    Factor {
        name: "task_label_names",
        levels: &["letter", "number"],
    },
    Factor {
        name: "instruction_xml_tags",
        levels: &["off", "on"],
    },
    Factor {
        name: "typos",
        levels: &["off", "on"],
    },
    Factor {
        name: "punctuation",
        levels: &["standard", "minimal"],
    },
    Factor {
        name: "response_format",
        levels: &["plain", "xml", "tool"],
    },
    Factor {
        name: "order",
        levels: &["canonical", "reversed"],
    },
    Factor {
        name: "seed",
        levels: &[],
    },
];

/// The committed template texts.
pub const TEXTS: &str = include_str!("../templates/pairwise.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Texts {
    version: u32,
    languages: BTreeMap<String, Language>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Language {
    task: String,
    phrasings: [String; 3],
    context: String,
    plain: String,
    xml: String,
    tool: String,
    tool_description: String,
}

/// One configuration's question: texts chosen by its factor levels.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    /// The text before the two tasks.
    head: String,
    /// The text after them.
    tail: String,
    /// The two full labels ("Task A"), first-shown first.
    labels: [String; 2],
    /// What the label lines end with (`:`, or nothing with minimal punctuation).
    colon: &'static str,
    format: Format,
    /// The `submit_choice` function, offered through the endpoint's tools API
    /// (tool format, text answers from an endpoint); empty otherwise.
    tools: Vec<serde_json::Value>,
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Plain,
    Xml,
    Tool,
}

/// The opening of a `submit_choice` call up to its argument's value: the
/// answer's log-probability is read at the label that follows it.
const TOOL_PREFIX: &str = "{\"name\": \"submit_choice\", \"arguments\": {\"choice\": \"";

fn level<'a>(levels: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str> {
    levels
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| anyhow!("configuration without a level of `{name}`"))
}

/// A seeded typo pass: each word of four letters or more gets, with
/// probability `rate`, two neighbouring inner letters swapped. The generator is
/// keyed by the seed and the text, so the same text always gets the same typos.
pub fn add_typos(text: &str, rate: f64, seed: u64) -> String {
    let key = pref_data::record_id(&[text]);
    let stream = u64::from_str_radix(&key[..16], 16).unwrap_or(0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut out = String::with_capacity(text.len());
    let mut word: Vec<char> = Vec::new();
    let flush = |word: &mut Vec<char>, out: &mut String, rng: &mut ChaCha8Rng| {
        if word.len() >= 4 && rng.random_bool(rate) {
            // Inner letters only: positions 1..len-1, swapping i and i+1.
            let i = rng.random_range(1..word.len() - 2);
            word.swap(i, i + 1);
        }
        out.extend(word.drain(..));
    };
    for c in text.chars() {
        if c.is_alphabetic() {
            word.push(c);
        } else {
            flush(&mut word, &mut out, &mut rng);
            out.push(c);
        }
    }
    flush(&mut word, &mut out, &mut rng);
    out
}

/// Minimal punctuation: sentence marks dropped from template text (never
/// from the tasks): `. ? ! ¿ ¡ ,`, and the space left before them.
fn minimal(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| !matches!(c, '.' | '?' | '!' | '¿' | '¡' | ','))
        .collect();
    kept.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Template {
    /// The question of the configuration with these factor levels. With
    /// `tools_api` the tool format's function goes to the endpoint's tools API
    /// and the prompt only asks for the call; without it the function's schema
    /// is written in the prompt (docs/robustness.md, "How each format is read").
    pub fn new(
        levels: &BTreeMap<String, String>,
        typo_rate: f64,
        typo_seed: u64,
        tools_api: bool,
    ) -> Result<Self> {
        // Parsed once per process (every configuration's template reads them).
        static PARSED: std::sync::OnceLock<std::result::Result<Texts, String>> =
            std::sync::OnceLock::new();
        let texts = PARSED
            .get_or_init(|| toml::from_str(TEXTS).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| anyhow!("templates/pairwise.toml: {e}"))?;
        let lang_name = level(levels, "language")?;
        let lang = texts
            .languages
            .get(lang_name)
            .ok_or_else(|| anyhow!("no texts for language `{lang_name}`"))?
            .clone();
        let phrasing = match level(levels, "phrasing")? {
            "1" => &lang.phrasings[0],
            "2" => &lang.phrasings[1],
            "3" => &lang.phrasings[2],
            other => bail!("phrasing: unknown level `{other}`"),
        };
        let (l1, l2) = match level(levels, "task_label_names")? {
            "letter" => ("A", "B"),
            "number" => ("1", "2"),
            other => bail!("task_label_names: unknown level `{other}`"),
        };
        let labels = [format!("{} {l1}", lang.task), format!("{} {l2}", lang.task)];
        let format = match level(levels, "response_format")? {
            "plain" => Format::Plain,
            "xml" => Format::Xml,
            "tool" => Format::Tool,
            other => bail!("response_format: unknown level `{other}`"),
        };
        let fill = |t: &str| {
            t.replace("{first}", &labels[0])
                .replace("{second}", &labels[1])
        };
        let schema = serde_json::json!({
            "name": "submit_choice",
            "description": lang.tool_description,
            "parameters": {"type": "object",
                "properties": {"choice": {"type": "string", "enum": labels}},
                "required": ["choice"]},
        });
        let tools = if format == Format::Tool && tools_api {
            vec![serde_json::json!({"type": "function", "function": schema})]
        } else {
            Vec::new()
        };
        let respond = match format {
            Format::Plain => fill(&lang.plain),
            Format::Xml => fill(&lang.xml),
            Format::Tool if tools_api => fill(&lang.tool),
            Format::Tool => {
                format!(
                    "{}\n{schema}\nAnswer with the call as JSON: {TOOL_PREFIX}…\"}}}}",
                    fill(&lang.tool)
                )
            }
        };
        let typos = level(levels, "typos")? == "on";
        let minimal_punct = level(levels, "punctuation")? == "minimal";
        // Template text goes through the typo and punctuation passes; labels,
        // the tool schema's JSON and the tasks never do.
        let style = |t: &str| {
            let t = if typos {
                add_typos(t, typo_rate, typo_seed)
            } else {
                t.to_string()
            };
            if minimal_punct {
                minimal(&t)
            } else {
                t
            }
        };
        let respond_styled = match format {
            Format::Tool => {
                let (sentence, rest) = respond.split_once('\n').unwrap_or((&respond, ""));
                format!("{}\n{rest}", style(sentence))
            }
            _ => {
                // Keep the labels intact: style the text around them.
                let mut s = respond.clone();
                for (k, l) in labels.iter().enumerate() {
                    s = s.replace(l.as_str(), &format!("\u{0}{k}\u{0}"));
                }
                let mut s = style(&s);
                for (k, l) in labels.iter().enumerate() {
                    s = s.replace(&format!("\u{0}{k}\u{0}"), l);
                }
                s
            }
        };
        let mut instruction = format!("{}\n{respond_styled}", style(phrasing));
        if level(levels, "instruction_xml_tags")? == "on" {
            instruction = format!("<instructions>\n{instruction}\n</instructions>");
        }
        let context = match level(levels, "situating_context")? {
            "none" => None,
            "experiment" => Some(style(&lang.context)),
            other => bail!("situating_context: unknown level `{other}`"),
        };
        let (mut head, mut tail) = (Vec::new(), Vec::new());
        head.extend(context);
        match level(levels, "instruction_position")? {
            "before" => head.push(instruction),
            "after" => tail.push(instruction),
            other => bail!("instruction_position: unknown level `{other}`"),
        }
        let seed: u64 = level(levels, "seed")?
            .parse()
            .map_err(|_| anyhow!("seed: not an integer"))?;
        let colon = if minimal_punct { "" } else { ":" };
        let mut t = Template {
            name: String::new(),
            head: head.join("\n\n"),
            tail: tail.join("\n\n"),
            labels,
            colon,
            format,
            tools,
            seed,
        };
        // The name hashes everything the model sees or is read by, so a change
        // of texts is a new template (and new record ids).
        let skeleton = t.render("\u{1}FIRST\u{1}", "\u{1}SECOND\u{1}");
        let options = t.options();
        let mut parts = vec![
            texts.version.to_string(),
            skeleton,
            options[0].clone(),
            options[1].clone(),
        ];
        if !t.tools.is_empty() {
            parts.push(serde_json::to_string(&t.tools)?);
        }
        let hash = pref_data::record_id(&parts.iter().map(String::as_str).collect::<Vec<_>>());
        t.name = format!("robustness-v{}-{}-s{seed}", texts.version, &hash[..12]);
        Ok(t)
    }

    /// The user message for `first` and `second`.
    fn render(&self, first: &str, second: &str) -> String {
        let [l1, l2] = &self.labels;
        let tasks = format!("{l1}{c}\n{first}\n\n{l2}{c}\n{second}", c = self.colon);
        [self.head.as_str(), tasks.as_str(), self.tail.as_str()]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// The label found in `text` as `pattern(label)`, when exactly one of the two is.
fn one_of(text: &str, labels: &[String; 2], found: impl Fn(&str, &str) -> bool) -> Option<usize> {
    match (found(text, &labels[0]), found(text, &labels[1])) {
        (true, false) => Some(0),
        (false, true) => Some(1),
        _ => None,
    }
}

impl ChoicePrompt for Template {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn messages(&self, first: &str, second: &str) -> Vec<Message> {
        vec![Message::user(self.render(first, second))]
    }

    fn options(&self) -> [String; 2] {
        self.labels.clone().map(|l| match self.format {
            Format::Plain => l,
            Format::Xml => format!("<choice>{l}"),
            Format::Tool => format!("{TOOL_PREFIX}{l}"),
        })
    }

    /// Plain: the label alone (quotes, a final period and spaces allowed).
    /// Xml: `<choice>label</choice>` anywhere. Tool: `"choice": "label"`
    /// anywhere. An answer naming both labels, or neither, is unparseable.
    fn parse(&self, text: &str) -> Option<usize> {
        let t = text.trim();
        match self.format {
            Format::Plain => {
                let bare = t
                    .trim_end_matches('.')
                    .trim_matches(|c| c == '\'' || c == '"' || c == '*' || c == '`')
                    .trim();
                self.labels.iter().position(|l| l == bare)
            }
            Format::Xml => one_of(t, &self.labels, |t, l| {
                t.contains(&format!("<choice>{l}</choice>"))
                    || t.contains(&format!("<choice> {l} </choice>"))
            }),
            Format::Tool => one_of(t, &self.labels, |t, l| {
                let compact: String = t.split_whitespace().collect::<Vec<_>>().join("");
                let l = l.split_whitespace().collect::<Vec<_>>().join("");
                compact.contains(&format!("\"choice\":\"{l}\""))
            }),
        }
    }

    fn max_answer_tokens(&self) -> u32 {
        match self.format {
            Format::Plain => 8,
            Format::Xml => 16,
            Format::Tool => 40,
        }
    }

    fn seed(&self) -> u64 {
        self.seed * 1_000_003
    }

    fn tools(&self) -> Vec<serde_json::Value> {
        self.tools.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(over: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = FACTORS
            .iter()
            .map(|f| {
                (
                    f.name.to_string(),
                    f.levels.first().unwrap_or(&"0").to_string(),
                )
            })
            .collect();
        for (k, v) in over {
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    #[test]
    fn the_default_question_reads_as_written() {
        let t = Template::new(&levels(&[]), 0.15, 0, false).unwrap();
        assert_eq!(
            t.render("Write a poem.", "Sum 2 and 3."),
            "Which of these two tasks would you prefer to do?\nRespond with only 'Task A' or 'Task B'.\n\n\
             Task A:\nWrite a poem.\n\nTask B:\nSum 2 and 3."
        );
        assert_eq!(t.options(), ["Task A".to_string(), "Task B".to_string()]);
        for (text, want) in [
            ("Task A", Some(0)),
            (" 'Task B'.", Some(1)),
            ("**Task A**", Some(0)),
            ("Task C", None),
            ("Task A or Task B", None),
        ] {
            assert_eq!(t.parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn every_factor_changes_the_text_where_it_should() {
        let t = Template::new(
            &levels(&[
                ("language", "fr"),
                ("phrasing", "2"),
                ("situating_context", "experiment"),
                ("instruction_position", "after"),
                ("task_label_names", "number"),
                ("instruction_xml_tags", "on"),
                ("punctuation", "minimal"),
                ("response_format", "xml"),
            ]),
            0.15,
            0,
            false,
        )
        .unwrap();
        assert_eq!(
            t.render("Écrire.", "Compter."),
            "Ceci est une expérience qui mesure vos préférences sur de nombreuses tâches\n\n\
             Tâche 1\nÉcrire.\n\nTâche 2\nCompter.\n\n<instructions>\n\
             Quelle tâche aimeriez-vous plutôt accomplir\n\
             Répondez uniquement par <choice>Tâche 1</choice> ou <choice>Tâche 2</choice>\n</instructions>"
        );
        assert_eq!(t.options()[1], "<choice>Tâche 2");
        assert_eq!(t.parse("<choice>Tâche 2</choice>"), Some(1));
        assert_eq!(t.parse("Tâche 2"), None);
        let tool = Template::new(&levels(&[("response_format", "tool")]), 0.15, 0, false).unwrap();
        assert_eq!(
            tool.parse("{\"name\": \"submit_choice\", \"arguments\": {\"choice\": \"Task B\"}}"),
            Some(1)
        );
        assert!(tool
            .render("x", "y")
            .contains("\"enum\":[\"Task A\",\"Task B\"]"));
        assert!(tool.options()[0].ends_with("{\"choice\": \"Task A"));
        // Names differ whenever the text does, and only then.
        let a = Template::new(&levels(&[]), 0.15, 0, false).unwrap();
        let b = Template::new(&levels(&[("order", "reversed")]), 0.15, 0, false).unwrap();
        let c = Template::new(&levels(&[("seed", "1")]), 0.15, 0, false).unwrap();
        assert_eq!(a.name(), b.name(), "order is not in the text");
        assert_ne!(a.name(), c.name(), "the sampling seed is part of the name");
        assert_ne!(a.name(), t.name());
    }

    /// On an endpoint with text answers the tool format's function goes to the
    /// tools API: the prompt asks for the call without the schema, and the
    /// call the endpoint returns (`{"name": …, "arguments": {…}}`) is parsed.
    #[test]
    fn the_tools_api_carries_the_function_on_endpoints() {
        let lv = levels(&[("response_format", "tool"), ("language", "es")]);
        let in_prompt = Template::new(&lv, 0.15, 0, false).unwrap();
        let api = Template::new(&lv, 0.15, 0, true).unwrap();
        assert!(in_prompt.tools().is_empty());
        assert_eq!(
            api.tools(),
            vec![serde_json::json!({"type": "function", "function": {
                "name": "submit_choice",
                "description": "Enviar la tarea elegida.",
                "parameters": {"type": "object",
                    "properties": {"choice": {"type": "string", "enum": ["Tarea A", "Tarea B"]}},
                    "required": ["choice"]}}})]
        );
        let text = api.render("x", "y");
        assert!(text.contains("Llama a la función submit_choice con la tarea que elijas.\n"));
        assert!(!text.contains("enum"), "{text}");
        assert_ne!(api.name(), in_prompt.name());
        assert_eq!(
            api.parse(r#"{"name":"submit_choice","arguments":{"choice":"Tarea B"}}"#),
            Some(1)
        );
        assert_eq!(api.parse("Tarea B"), None);
        // Formats other than `tool` never use the tools API.
        let plain = Template::new(&levels(&[]), 0.15, 0, true).unwrap();
        assert!(plain.tools().is_empty());
        assert_eq!(
            plain.name(),
            Template::new(&levels(&[]), 0.15, 0, false).unwrap().name()
        );
    }

    #[test]
    fn typos_are_seeded_and_keep_the_letters() {
        let text = "Which of these two tasks would you prefer to do? Respond with only";
        let a = add_typos(text, 0.5, 0);
        assert_eq!(a, add_typos(text, 0.5, 0));
        assert_ne!(a, text);
        assert_ne!(add_typos(text, 0.5, 1), a);
        let sorted = |s: &str| {
            let mut c: Vec<char> = s.chars().collect();
            c.sort_unstable();
            c
        };
        assert_eq!(sorted(&a), sorted(text));
        assert_eq!(add_typos(text, 0.0, 0), text);
        // Short words and the first and last letters never move.
        let b = add_typos("abcd efg", 1.0, 3);
        assert!(
            b.starts_with('a') && b[..4].ends_with('d') && b.ends_with("efg"),
            "{b}"
        );
    }
}
