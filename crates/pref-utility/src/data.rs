//! Pair data for fitting: interned item ids and pair counts in columns, reading
//! with file positions, and the aggregation of elicited [`Comparison`]s.

use std::collections::HashMap;
use std::path::Path;

use pref_data::jsonl::{parse_json_array, parse_record, read_all, LineReader};
use pref_data::{
    detect_format, quote, Choice, Comparison, Format, Location, PairCounts, TableRecord,
};
use serde::Serialize;

use crate::error::{Error, Result};

/// Pair counts over interned items, stored column-wise for the fitting loops.
///
/// Pair `k` compares items `a[k]` and `b[k]` (indices into [`PairData::items`]);
/// `count_a[k]` is how often `a` was preferred and `count_b[k]` how often `b`
/// was (ties count ½ each). Duplicate pairs (also in the other orientation) are
/// allowed and simply add to the likelihood.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairData {
    items: Vec<String>,
    index: HashMap<String, u32>,
    pub(crate) a: Vec<u32>,
    pub(crate) b: Vec<u32>,
    pub(crate) count_a: Vec<f64>,
    pub(crate) count_b: Vec<f64>,
}

impl PairData {
    /// An empty data set over the given items (ids must be distinct and non-empty).
    pub fn with_items(items: Vec<String>) -> Result<Self> {
        if items.len() > u32::MAX as usize {
            return Err(Error::InvalidInput(format!(
                "{} items: at most {} are supported",
                items.len(),
                u32::MAX
            )));
        }
        let mut index = HashMap::with_capacity(items.len());
        for (i, id) in items.iter().enumerate() {
            if id.is_empty() {
                return Err(Error::InvalidInput(format!("item {i}: empty id")));
            }
            if index.insert(id.clone(), i as u32).is_some() {
                return Err(Error::InvalidInput(format!(
                    "item id `{}` appears twice",
                    quote(id)
                )));
            }
        }
        Ok(Self {
            items,
            index,
            ..Self::default()
        })
    }

    /// Builds the data from pair-count records; items are numbered in order of
    /// first appearance.
    pub fn from_pair_counts(records: &[PairCounts]) -> Result<Self> {
        let mut d = Self::default();
        d.reserve(records.len());
        for (k, r) in records.iter().enumerate() {
            let a = d.intern(&r.a);
            let b = d.intern(&r.b);
            d.push(a, b, r.count_a, r.count_b).map_err(|e| {
                Error::InvalidInput(format!(
                    "pair {k} (`{}` vs `{}`): {e}",
                    quote(&r.a),
                    quote(&r.b)
                ))
            })?;
        }
        Ok(d)
    }

    /// Builds the data from located records (see [`read_located`]), naming the
    /// file position of a bad record in the error.
    pub fn from_located(records: &[(Location, PairCounts)]) -> Result<Self> {
        let mut d = Self::default();
        d.reserve(records.len());
        for (at, r) in records {
            let a = d.intern(&r.a);
            let b = d.intern(&r.b);
            d.push(a, b, r.count_a, r.count_b)
                .map_err(|e| Error::InvalidInput(format!("{at}: {e}")))?;
        }
        Ok(d)
    }

    fn reserve(&mut self, n: usize) {
        self.a.reserve(n);
        self.b.reserve(n);
        self.count_a.reserve(n);
        self.count_b.reserve(n);
    }

    /// The index of `id`, adding it as a new item when unknown.
    pub fn intern(&mut self, id: &str) -> usize {
        if let Some(&i) = self.index.get(id) {
            return i as usize;
        }
        let i = self.items.len();
        self.items.push(id.to_string());
        self.index.insert(id.to_string(), i as u32);
        i
    }

    /// Appends one pair by item indices.
    pub fn push(&mut self, a: usize, b: usize, count_a: f64, count_b: f64) -> Result<()> {
        let n = self.items.len();
        if a >= n || b >= n {
            return Err(Error::InvalidInput(format!(
                "item index {} out of range (there are {n} items)",
                a.max(b)
            )));
        }
        if a == b {
            return Err(Error::InvalidInput(format!(
                "pairs `{}` with itself",
                quote(&self.items[a])
            )));
        }
        for (f, v) in [("count_a", count_a), ("count_b", count_b)] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::InvalidInput(format!(
                    "{f}: must be a finite count ≥ 0, got {v}"
                )));
            }
        }
        self.a.push(a as u32);
        self.b.push(b as u32);
        self.count_a.push(count_a);
        self.count_b.push(count_b);
        Ok(())
    }

    /// Item ids, by index.
    pub fn items(&self) -> &[String] {
        &self.items
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Number of pairs (rows).
    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }

    /// The index of an item id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).map(|&i| i as usize)
    }

    /// Pair `k` as `(a, b, count_a, count_b)`.
    pub fn pair(&self, k: usize) -> (usize, usize, f64, f64) {
        (
            self.a[k] as usize,
            self.b[k] as usize,
            self.count_a[k],
            self.count_b[k],
        )
    }

    /// Iterates over all pairs as `(a, b, count_a, count_b)`.
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize, f64, f64)> + '_ {
        (0..self.len()).map(|k| self.pair(k))
    }

    /// Total number of comparisons (sum of all counts).
    pub fn total_count(&self) -> f64 {
        self.count_a.iter().sum::<f64>() + self.count_b.iter().sum::<f64>()
    }

    /// Converts back to records.
    pub fn to_pair_counts(&self) -> Vec<PairCounts> {
        self.pairs()
            .map(|(a, b, ca, cb)| PairCounts {
                a: self.items[a].clone(),
                b: self.items[b].clone(),
                count_a: ca,
                count_b: cb,
            })
            .collect()
    }

    /// The connected components of the comparison graph (an edge per pair with at
    /// least one comparison), as item ids, each sorted, largest first. Utilities
    /// are comparable only within a component: across components only the prior
    /// places them, and their standard errors say nothing about the data.
    pub fn components(&self) -> Vec<Vec<String>> {
        let edges = self
            .pairs()
            .filter(|&(_, _, ca, cb)| ca + cb > 0.0)
            .map(|(a, b, _, _)| (a, b));
        pref_stats::named_components(&self.items, edges)
    }

    /// One line describing a disconnected comparison graph (`None` when it is
    /// connected): how many components, and the first ids of each (at most five
    /// components, five ids each, with counts of the rest).
    pub fn disconnected_warning(&self) -> Option<String> {
        let comps = self.components();
        if comps.len() < 2 {
            return None;
        }
        let show = |c: &Vec<String>| {
            let head: Vec<String> = c.iter().take(5).map(|id| quote(id).into_owned()).collect();
            let more = c.len().saturating_sub(5);
            if more > 0 {
                format!("{{{} and {more} more}}", head.join(", "))
            } else {
                format!("{{{}}}", head.join(", "))
            }
        };
        let shown: Vec<String> = comps.iter().take(5).map(show).collect();
        let rest = comps.len().saturating_sub(5);
        Some(format!(
            "the comparison graph is disconnected ({} components: {}{}); utilities are not \
             comparable across components (only the prior places them) and the standard \
             errors of cross-component differences are meaningless",
            comps.len(),
            shown.join(", "),
            if rest > 0 {
                format!(" and {rest} more")
            } else {
                String::new()
            }
        ))
    }

    /// Number of pairs each item takes part in.
    pub fn degrees(&self) -> Vec<u32> {
        let mut d = vec![0u32; self.n_items()];
        for (&a, &b) in self.a.iter().zip(&self.b) {
            d[a as usize] += 1;
            d[b as usize] += 1;
        }
        d
    }
}

/// Reads records of any supported format together with where each one was
/// read: the line for JSON Lines and JSON arrays, the row for Parquet. The
/// errors are pref-data's (`path:line: field: message`).
pub fn read_located<T: TableRecord>(path: impl AsRef<Path>) -> Result<Vec<(Location, T)>> {
    let path = path.as_ref();
    let at = |line: u64, is_row: bool| Location {
        path: path.to_path_buf(),
        line,
        is_row,
    };
    let out: Vec<(Location, T)> = match detect_format(path)? {
        Format::Jsonl => {
            let mut lines = LineReader::open(path)?;
            let mut out = Vec::new();
            while let Some(l) = lines.next_line()? {
                let rec: T = parse_record(path, l.line, l.bytes, l.unterminated)?;
                out.push((at(l.line, false), rec));
            }
            out
        }
        Format::JsonArray => {
            let bytes = read_all(path)?;
            let items: Vec<(u64, T)> = parse_json_array(path, &bytes, T::KIND)?;
            let mut out = Vec::with_capacity(items.len());
            for (line, rec) in items {
                rec.validate().map_err(|fe| pref_data::Error::Record {
                    at: at(line, false),
                    field: Some(fe.field),
                    message: fe.message,
                })?;
                out.push((at(line, false), rec));
            }
            out
        }
        Format::Parquet => pref_data::read_records::<T>(path)?
            .into_iter()
            .enumerate()
            .map(|(i, r)| (at(i as u64 + 1, true), r))
            .collect(),
    };
    if out.is_empty() {
        return Err(pref_data::Error::Empty {
            path: path.to_path_buf(),
            kind: T::KIND,
        }
        .into());
    }
    Ok(out)
}

/// Comparisons pooled into pair counts (see [`aggregate_comparisons`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AggregatedComparisons {
    /// One record per unordered pair, oriented as the pair was first seen.
    /// A pair whose answers were all unparseable is kept with zero counts.
    pub pairs: Vec<PairCounts>,
    /// Unparseable answers per pair (parallel to `pairs`).
    pub unparseable: Vec<u64>,
    /// Ties per pair (parallel to `pairs`; each tie added ½ to both counts).
    pub ties: Vec<u64>,
    /// All comparison records seen.
    pub n_comparisons: u64,
    /// Answers preferring one option.
    pub n_decisive: u64,
    /// Tie answers.
    pub n_ties: u64,
    /// Unparseable answers (`choice: null`), counted and not used for the counts.
    pub n_unparseable: u64,
}

impl AggregatedComparisons {
    /// Share of answers that could not be parsed.
    pub fn unparseable_rate(&self) -> f64 {
        if self.n_comparisons == 0 {
            0.0
        } else {
            self.n_unparseable as f64 / self.n_comparisons as f64
        }
    }
}

/// Pools elicited comparisons into pair counts.
///
/// Both presentation orders and both orientations of a pair (`a`/`b` swapped)
/// are pooled into one record. A choice of `a` or `b` adds 1 to that side, a
/// tie adds ½ to each side, and an unparseable answer (`choice: null`) adds to
/// [`AggregatedComparisons::unparseable`] only: it is counted and reported,
/// never silently dropped.
pub fn aggregate_comparisons<'a>(
    records: impl IntoIterator<Item = &'a Comparison>,
) -> AggregatedComparisons {
    aggregate_comparisons_with(records, Readout::Choice)
}

/// How an elicited comparison counts towards its pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Readout {
    /// The parsed choice: 1 for the chosen side, ½ each for a tie.
    #[default]
    Choice,
    /// The model's probability: a record with both `logprob_a` and `logprob_b`
    /// adds `p = e^{la} / (e^{la} + e^{lb})` to `a` and `1 − p` to `b` (the
    /// answer distribution renormalised over the two labels); records without
    /// both log-probs count by their choice.
    Probability,
}

/// The probability of `a` from a record's two label log-probs, if it has both.
fn soft_a(r: &Comparison) -> Option<f64> {
    match (r.logprob_a, r.logprob_b) {
        // σ(la − lb), written to be finite for any finite inputs.
        (Some(la), Some(lb)) => Some(1.0 / (1.0 + (lb - la).exp())),
        _ => None,
    }
}

/// [`aggregate_comparisons`] with a choice of [`Readout`].
pub fn aggregate_comparisons_with<'a>(
    records: impl IntoIterator<Item = &'a Comparison>,
    readout: Readout,
) -> AggregatedComparisons {
    let mut slot: HashMap<(&'a str, &'a str), usize> = HashMap::new();
    let mut out = AggregatedComparisons {
        pairs: Vec::new(),
        unparseable: Vec::new(),
        ties: Vec::new(),
        n_comparisons: 0,
        n_decisive: 0,
        n_ties: 0,
        n_unparseable: 0,
    };
    for r in records {
        out.n_comparisons += 1;
        let (a, b) = (r.a.as_str(), r.b.as_str());
        let key = if a <= b { (a, b) } else { (b, a) };
        let k = *slot.entry(key).or_insert_with(|| {
            out.pairs.push(PairCounts {
                a: a.to_string(),
                b: b.to_string(),
                count_a: 0.0,
                count_b: 0.0,
            });
            out.unparseable.push(0);
            out.ties.push(0);
            out.pairs.len() - 1
        });
        let flipped = out.pairs[k].a != r.a;
        let p = &mut out.pairs[k];
        if readout == Readout::Probability && r.choice.is_some() {
            if let Some(pa) = soft_a(r) {
                out.n_decisive += 1;
                let (to_a, to_b) = if flipped {
                    (1.0 - pa, pa)
                } else {
                    (pa, 1.0 - pa)
                };
                p.count_a += to_a;
                p.count_b += to_b;
                continue;
            }
        }
        match r.choice {
            None => {
                out.n_unparseable += 1;
                out.unparseable[k] += 1;
            }
            Some(Choice::Tie) => {
                out.n_ties += 1;
                out.ties[k] += 1;
                p.count_a += 0.5;
                p.count_b += 0.5;
            }
            Some(c) => {
                out.n_decisive += 1;
                let record_a_won = c == Choice::A;
                if record_a_won != flipped {
                    p.count_a += 1.0;
                } else {
                    p.count_b += 1.0;
                }
            }
        }
    }
    out
}

/// How often the option shown first wins, with a 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PositionBias {
    /// Mean share of the first-shown option (0.5 = no position bias).
    pub share: f64,
    /// Lower end of the 95% interval (normal approximation, clamped to [0, 1]).
    pub lower: f64,
    /// Upper end of the 95% interval.
    pub upper: f64,
    /// Parseable comparisons it is computed from.
    pub n: u64,
}

/// The share of first-option wins over the parseable comparisons: per record
/// `Comparison::first_shown_score` (1 when the first-shown item was chosen, ½ for
/// a tie, 0 otherwise; pref's one definition) — or, with
/// [`Readout::Probability`] and both log-probs present, the probability of the
/// first-shown item. Interval: mean ± 1.96 · sd / √n (sample sd).
pub fn position_bias<'a>(
    records: impl IntoIterator<Item = &'a Comparison>,
    readout: Readout,
) -> Option<PositionBias> {
    let values: Vec<f64> = records
        .into_iter()
        .filter_map(|r| {
            let first = r.first_shown_score()?;
            Some(match (readout, soft_a(r)) {
                // The first-shown option's probability, in place of its 0/½/1 score.
                (Readout::Probability, Some(pa)) => match r.order {
                    pref_data::Order::Ab => pa,
                    pref_data::Order::Ba => 1.0 - pa,
                },
                _ => first,
            })
        })
        .collect();
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let half = if n > 1 {
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        1.959_963_984_540_054 * (var / n as f64).sqrt()
    } else {
        f64::NAN
    };
    Some(PositionBias {
        share: mean,
        lower: (mean - half).max(0.0),
        upper: (mean + half).min(1.0),
        n: n as u64,
    })
}
