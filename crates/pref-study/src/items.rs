//! Items a study asks about (tasks, outcomes, articles), drawn from task files.

use std::collections::HashSet;
use std::path::PathBuf;

use pref_data::loaders::{load_tasks, Source};
use pref_data::Task;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A drawn item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// `<source>:<id>`, unique across files.
    pub id: String,
    /// The text shown to the model.
    pub text: String,
}

/// One input file of a configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemFile {
    /// The file (relative paths are resolved against the working directory).
    pub path: PathBuf,
    /// Its format: `tasks`, `alpaca`, `math`, `wildchat`, `cnn_dailymail`, `arena`, `outcomes`.
    pub source: String,
}

impl ItemFile {
    /// The parsed source; `what` names the setting in the message.
    pub fn source(&self, what: &str) -> Result<Source> {
        self.source.parse().map_err(|e| {
            Error::Config(format!("{what}: source of {}: {e}", self.path.display()).into())
        })
    }
}

/// What [`draw_balanced`] drew, and what it had to leave out.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    /// The items, in draw order.
    pub items: Vec<Item>,
    /// Items asked for.
    pub requested: usize,
    /// Distinct usable items in the files.
    pub available: usize,
    /// Rows whose id repeats one already seen (skipped: an item is asked about once).
    pub repeated_ids: usize,
}

impl Draw {
    /// What a user should be told: repeated ids skipped, fewer items than asked for.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.repeated_ids > 0 {
            w.push(format!(
                "{} input rows repeat an id already seen and were skipped (each item is asked about once)",
                self.repeated_ids
            ));
        }
        if self.items.len() < self.requested {
            w.push(format!(
                "items.n_items is {} but the input files hold {} distinct usable items: {} were drawn",
                self.requested,
                self.available,
                self.items.len()
            ));
        }
        w
    }
}

/// Draws up to `n` items balanced across `files`: each file's non-empty tasks
/// are shuffled with a seed derived from `seed` and the file's position, then
/// taken round-robin. An id seen before (in any file) is skipped and counted;
/// [`Draw::warnings`] says what was left out.
pub fn draw_balanced(files: &[ItemFile], n: usize, seed: u64) -> Result<Draw> {
    let mut per_file: Vec<Vec<Item>> = Vec::new();
    let mut ids = HashSet::new();
    let mut repeated_ids = 0;
    for (k, f) in files.iter().enumerate() {
        let tasks: Vec<Task> = load_tasks(&f.path, f.source(&format!("items.files[{k}]"))?)?;
        let mut items: Vec<Item> = Vec::new();
        for t in tasks.into_iter().filter(|t| !t.prompt.trim().is_empty()) {
            let id = format!("{}:{}", f.source, t.id);
            if ids.insert(id.clone()) {
                items.push(Item { id, text: t.prompt });
            } else {
                repeated_ids += 1;
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (k as u64).wrapping_mul(0x9E37_79B9));
        items.shuffle(&mut rng);
        per_file.push(items);
    }
    let mut out: Vec<Item> = Vec::new();
    let mut round = 0;
    while out.len() < n && per_file.iter().any(|v| round < v.len()) {
        for it in per_file.iter().filter_map(|v| v.get(round)) {
            if out.len() == n {
                break;
            }
            out.push(it.clone());
        }
        round += 1;
    }
    let draw = Draw {
        items: out,
        requested: n,
        available: ids.len(),
        repeated_ids,
    };
    for w in draw.warnings() {
        tracing::warn!("{w}");
    }
    Ok(draw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_ids_and_a_short_pool_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.jsonl");
        let row =
            |id: &str, p: &str| format!(r#"{{"id": "{id}", "source": "x", "prompt": "{p}"}}"#);
        let rows = [
            row("a", "one"),
            row("a", "one again"),
            row("b", "two"),
            row("c", " "),
        ];
        std::fs::write(&path, rows.join("\n") + "\n").unwrap();
        let files = [ItemFile {
            path,
            source: "tasks".into(),
        }];
        let d = draw_balanced(&files, 5, 0).unwrap();
        // 4 rows: one repeats `a`, one has an empty prompt: 2 distinct usable items.
        assert_eq!((d.items.len(), d.available, d.repeated_ids), (2, 2, 1));
        let w = d.warnings();
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("1 input rows repeat an id"), "{w:?}");
        assert!(
            w[1].contains("items.n_items is 5") && w[1].contains("2 were drawn"),
            "{w:?}"
        );
        let d = draw_balanced(&files, 2, 0).unwrap();
        assert_eq!(d.warnings().len(), 1, "only the repeated id");
    }
}
