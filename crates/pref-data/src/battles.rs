//! Columnar, interned battles: the form every rating fit starts from.
//!
//! Model names are interned once into `models`; each battle is three small
//! integers. Reading JSON Lines borrows the strings straight out of the line
//! buffer, and reading Parquet maps dictionary keys without ever building a
//! per-row `String`, which is what makes a million battles cheap to load.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::io::{detect_format, Format};
use crate::jsonl::{parse_json_array, parse_record, LineReader};
use crate::records::{Battle, Record, Winner};

/// Battles as parallel columns of interned model indices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BattleTable {
    /// Model names; `a[i]`, `b[i]` index into this list.
    pub models: Vec<String>,
    /// First model of each battle.
    pub a: Vec<u32>,
    /// Second model of each battle.
    pub b: Vec<u32>,
    /// Outcome of each battle.
    pub winner: Vec<Winner>,
    index: HashMap<String, u32>,
}

#[derive(Deserialize)]
struct BattleRef<'a> {
    #[serde(borrow, alias = "model_a")]
    a: Cow<'a, str>,
    #[serde(borrow, alias = "model_b")]
    b: Cow<'a, str>,
    #[serde(borrow)]
    winner: Cow<'a, str>,
}

impl BattleTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of battles.
    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// True when there are no battles.
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }

    /// Index of a model name, if present.
    pub fn model_index(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// Interns a model name.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.models.len() as u32;
        self.models.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    /// Appends one battle by model indices.
    pub fn push_ids(&mut self, a: u32, b: u32, winner: Winner) {
        self.a.push(a);
        self.b.push(b);
        self.winner.push(winner);
    }

    /// Appends one battle by model names.
    pub fn push(&mut self, a: &str, b: &str, winner: Winner) {
        let (ia, ib) = (self.intern(a), self.intern(b));
        self.push_ids(ia, ib, winner);
    }

    /// Builds a table from battle records.
    pub fn from_battles<'a>(battles: impl IntoIterator<Item = &'a Battle>) -> Self {
        let mut t = Self::new();
        for x in battles {
            t.push(&x.a, &x.b, x.winner);
        }
        t
    }

    /// Expands back into battle records.
    pub fn to_battles(&self) -> Vec<Battle> {
        (0..self.len())
            .map(|i| Battle {
                a: self.models[self.a[i] as usize].clone(),
                b: self.models[self.b[i] as usize].clone(),
                winner: self.winner[i],
            })
            .collect()
    }

    /// Reads battles from JSON Lines (`.jsonl`, `.jsonl.gz`), a JSON array
    /// (`.json`) or Parquet, in the project's `{a, b, winner}` form or
    /// FastChat's `{model_a, model_b, winner}` form.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let t = match detect_format(path)? {
            Format::Jsonl => Self::read_jsonl(path)?,
            Format::JsonArray => {
                let bytes = crate::jsonl::read_all(path)?;
                let items: Vec<(u64, Battle)> = parse_json_array(path, &bytes, Battle::KIND)?;
                let mut t = Self::new();
                for (line, x) in &items {
                    x.validate()
                        .map_err(|fe| Error::record(path, *line, Some(fe.field), fe.message))?;
                    t.push(&x.a, &x.b, x.winner);
                }
                t
            }
            Format::Parquet => crate::io::read_battle_table_parquet(path)?,
        };
        if t.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
                kind: Battle::KIND,
            });
        }
        Ok(t)
    }

    fn read_jsonl(path: &Path) -> Result<Self> {
        let mut lines = LineReader::open(path)?;
        let mut t = Self::new();
        while let Some(l) = lines.next_line()? {
            // Fast path: borrowed strings, no per-row allocation for known names.
            if let Ok(r) = serde_json::from_slice::<BattleRef<'_>>(l.bytes) {
                if let Some(w) = Winner::parse(&r.winner) {
                    if r.a != r.b && !r.a.is_empty() && !r.b.is_empty() {
                        t.push(&r.a, &r.b, w);
                        continue;
                    }
                }
            }
            // Slow path: full parse for a precise error (or a valid record the
            // fast path could not borrow).
            let x: Battle = parse_record(path, l.line, l.bytes, l.unterminated)?;
            t.push(&x.a, &x.b, x.winner);
        }
        Ok(t)
    }

    /// Writes the table as Parquet with dictionary-encoded columns `a`, `b`, `winner`.
    pub fn write_parquet(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::write_battle_table_parquet(self, path.as_ref())
    }

    /// Number of battles per unordered pair, as `(i, j, wins_i, wins_j, ties)`
    /// with `i < j`, sorted. This is the sufficient statistic of Bradley–Terry.
    pub fn pair_cells(&self) -> Vec<(u32, u32, u64, u64, u64)> {
        let mut cells: HashMap<(u32, u32), [u64; 3]> = HashMap::new();
        for k in 0..self.len() {
            let (a, b, w) = (self.a[k], self.b[k], self.winner[k]);
            let (i, j, w) = if a < b {
                (a, b, w)
            } else {
                let flipped = match w {
                    Winner::A => Winner::B,
                    Winner::B => Winner::A,
                    Winner::Tie => Winner::Tie,
                };
                (b, a, flipped)
            };
            let c = cells.entry((i, j)).or_default();
            match w {
                Winner::A => c[0] += 1,
                Winner::B => c[1] += 1,
                Winner::Tie => c[2] += 1,
            }
        }
        let mut out: Vec<_> = cells
            .into_iter()
            .map(|((i, j), c)| (i, j, c[0], c[1], c[2]))
            .collect();
        out.sort_unstable();
        out
    }
}
