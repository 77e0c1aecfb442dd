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

/// Draws up to `n` items balanced across `files`: each file's non-empty tasks
/// are shuffled with a seed derived from `seed` and the file's position, then
/// taken round-robin (an id already drawn is skipped).
pub fn draw_balanced(files: &[ItemFile], n: usize, seed: u64) -> Result<Vec<Item>> {
    let mut per_file: Vec<Vec<Item>> = Vec::new();
    for (k, f) in files.iter().enumerate() {
        let tasks: Vec<Task> = load_tasks(&f.path, f.source(&format!("items.files[{k}]"))?)?;
        let mut items: Vec<Item> = tasks
            .into_iter()
            .filter(|t| !t.prompt.trim().is_empty())
            .map(|t| Item {
                id: format!("{}:{}", f.source, t.id),
                text: t.prompt,
            })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (k as u64).wrapping_mul(0x9E37_79B9));
        items.shuffle(&mut rng);
        per_file.push(items);
    }
    let mut out: Vec<Item> = Vec::new();
    let mut seen = HashSet::new();
    let mut round = 0;
    while out.len() < n && per_file.iter().any(|v| round < v.len()) {
        for it in per_file.iter().filter_map(|v| v.get(round)) {
            if out.len() == n {
                break;
            }
            if seen.insert(it.id.clone()) {
                out.push(it.clone());
            }
        }
        round += 1;
    }
    Ok(out)
}
