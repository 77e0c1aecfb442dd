//! Logged samples and fresh draws in the column layout the estimators use.
//!
//! [`CjeData`] holds one row per logged response: its prompt (the cluster of the
//! cluster-robust intervals), judge score, optional oracle label and, per target
//! policy, the log importance ratio `target − base`. Every row must carry every
//! target policy; the first row that lacks one is an error naming its line.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use pref_data::jsonl::{parse_json_array, parse_record, read_all, LineReader};
use pref_data::{detect_format, read_records, Format, Location, LoggedSample, Record};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One response of a target policy to a logged prompt, scored by the same judge
/// (the CJE library's fresh-draw format; other fields are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreshDraw {
    /// The prompt the response answers (must match a logged `prompt_id`).
    pub prompt_id: String,
    /// Judge score of the response, in [0, 1].
    pub judge_score: f64,
}

impl Record for FreshDraw {
    const KIND: &'static str = "FreshDraw";
    fn validate(&self) -> std::result::Result<(), pref_data::FieldError> {
        if self.prompt_id.is_empty() {
            return Err(pref_data::FieldError::new("prompt_id", "must not be empty"));
        }
        if !self.judge_score.is_finite() || !(0.0..=1.0).contains(&self.judge_score) {
            return Err(pref_data::FieldError::new(
                "judge_score",
                format!("must lie in [0, 1], got {}", self.judge_score),
            ));
        }
        Ok(())
    }
}

/// Fresh draws of one policy, grouped by the logged prompts (compressed rows).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fresh {
    /// `offsets[c]..offsets[c + 1]` are the draws of prompt `c`.
    pub offsets: Vec<usize>,
    /// Judge scores of the draws.
    pub judge: Vec<f64>,
}

/// Logged data prepared for estimation.
#[derive(Debug, Clone, PartialEq)]
pub struct CjeData {
    /// Distinct prompt ids, in order of first appearance.
    pub(crate) prompts: Vec<String>,
    /// Prompt index of each row.
    pub(crate) cluster: Vec<u32>,
    /// Judge score of each row.
    pub(crate) judge: Vec<f64>,
    /// Oracle label of each row, NaN when absent.
    pub(crate) oracle: Vec<f64>,
    /// Target policy names, sorted.
    pub(crate) policies: Vec<String>,
    /// Per policy: `target_logprob − base_logprob` of each row.
    pub(crate) log_ratio: Vec<Vec<f64>>,
    /// Per policy: rows whose base or target log-prob is exactly 0.
    pub(crate) zero_logprob: Vec<usize>,
    /// Per policy: fresh draws, when attached.
    pub(crate) fresh: Vec<Option<Fresh>>,
}

fn record_error(at: &Location, field: &str, message: String) -> Error {
    Error::Data(pref_data::Error::Record {
        at: at.clone(),
        field: Some(field.to_string()),
        message,
    })
}

impl CjeData {
    /// Builds the data from samples; errors name the sample index (0-based) when
    /// a policy is missing. Prefer [`CjeData::read`] for files (errors name lines).
    pub fn from_samples(samples: &[LoggedSample]) -> Result<Self> {
        let located: Vec<(Location, &LoggedSample)> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    Location {
                        path: PathBuf::from("<samples>"),
                        line: i as u64 + 1,
                        is_row: true,
                    },
                    s,
                )
            })
            .collect();
        Self::build(&located)
    }

    /// Reads logged samples from a `.jsonl` (optionally `.gz`), `.json` or
    /// `.parquet` file. Every error names the file, the line (or row) and the field.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let at = |line: u64, is_row: bool| Location {
            path: path.to_path_buf(),
            line,
            is_row,
        };
        let mut rows: Vec<(Location, LoggedSample)> = Vec::new();
        match detect_format(path)? {
            Format::Jsonl => {
                let mut lines = LineReader::open(path)?;
                while let Some(l) = lines.next_line()? {
                    let rec: LoggedSample = parse_record(path, l.line, l.bytes, l.unterminated)?;
                    rows.push((at(l.line, false), rec));
                }
                if rows.is_empty() {
                    return Err(pref_data::Error::Empty {
                        path: path.to_path_buf(),
                        kind: LoggedSample::KIND,
                    }
                    .into());
                }
            }
            Format::JsonArray => {
                let bytes = read_all(path)?;
                for (line, rec) in parse_json_array::<LoggedSample>(path, &bytes, "LoggedSample")? {
                    rec.validate()
                        .map_err(|fe| record_error(&at(line, false), &fe.field, fe.message))?;
                    rows.push((at(line, false), rec));
                }
            }
            Format::Parquet => {
                let recs: Vec<LoggedSample> = read_records(path)?;
                rows = recs
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| (at(i as u64 + 1, true), r))
                    .collect();
            }
        }
        let refs: Vec<(Location, &LoggedSample)> =
            rows.iter().map(|(l, r)| (l.clone(), r)).collect();
        Self::build(&refs)
    }

    fn build(rows: &[(Location, &LoggedSample)]) -> Result<Self> {
        if rows.is_empty() {
            return Err(Error::input("no logged samples"));
        }
        // The union of policies; the first row lacking one of them is the error.
        let mut first_seen: BTreeMap<&str, &Location> = BTreeMap::new();
        for (at, s) in rows {
            for p in s.target_policy_logprobs.keys() {
                first_seen.entry(p.as_str()).or_insert(at);
            }
        }
        if first_seen.is_empty() {
            return Err(record_error(
                &rows[0].0,
                "target_policy_logprobs",
                "no target policy in any row".into(),
            ));
        }
        let policies: Vec<String> = first_seen.keys().map(|s| s.to_string()).collect();
        let n = rows.len();
        let mut prompt_index: HashMap<&str, u32> = HashMap::new();
        let mut prompts = Vec::new();
        let mut cluster = Vec::with_capacity(n);
        let mut judge = Vec::with_capacity(n);
        let mut oracle = Vec::with_capacity(n);
        let mut log_ratio = vec![Vec::with_capacity(n); policies.len()];
        let mut zero_logprob = vec![0usize; policies.len()];
        for (at, s) in rows {
            let c = *prompt_index.entry(s.prompt_id.as_str()).or_insert_with(|| {
                prompts.push(s.prompt_id.clone());
                (prompts.len() - 1) as u32
            });
            cluster.push(c);
            judge.push(s.judge_score);
            oracle.push(s.oracle_label.unwrap_or(f64::NAN));
            for (k, p) in policies.iter().enumerate() {
                let Some(&t) = s.target_policy_logprobs.get(p) else {
                    return Err(record_error(
                        at,
                        &format!("target_policy_logprobs.{p}"),
                        format!(
                            "missing: policy `{p}` appears in other rows (first at {}) but not in this one; every row needs every target policy",
                            first_seen[p.as_str()]
                        ),
                    ));
                };
                log_ratio[k].push(t - s.base_policy_logprob);
                if t == 0.0 || s.base_policy_logprob == 0.0 {
                    zero_logprob[k] += 1;
                }
            }
        }
        let fresh = vec![None; policies.len()];
        Ok(Self {
            prompts,
            cluster,
            judge,
            oracle,
            policies,
            log_ratio,
            zero_logprob,
            fresh,
        })
    }

    /// Number of logged rows.
    pub fn len(&self) -> usize {
        self.judge.len()
    }

    /// True when there is no row (never the case for a built value).
    pub fn is_empty(&self) -> bool {
        self.judge.is_empty()
    }

    /// Target policy names (sorted).
    pub fn policies(&self) -> &[String] {
        &self.policies
    }

    /// `target − base` log-probability of every row under `policy` (the log
    /// importance weights), in row order.
    pub fn log_ratios(&self, policy: &str) -> Option<&[f64]> {
        let p = self.policies.iter().position(|n| n == policy)?;
        Some(&self.log_ratio[p])
    }

    /// Number of distinct prompts.
    pub fn n_prompts(&self) -> usize {
        self.prompts.len()
    }

    /// Number of rows with an oracle label.
    pub fn oracle_rows(&self) -> usize {
        self.oracle.iter().filter(|o| !o.is_nan()).count()
    }

    /// Attaches fresh draws of `policy`. Draws of prompts that are not logged are
    /// ignored (their number is returned); every logged prompt needs at least one draw.
    pub fn set_fresh_draws(&mut self, policy: &str, draws: &[FreshDraw]) -> Result<usize> {
        self.set_fresh_inner(
            policy,
            draws.iter().map(|d| (d.prompt_id.as_str(), d.judge_score)),
            "",
        )
    }

    fn set_fresh_inner<'a>(
        &mut self,
        policy: &str,
        draws: impl Iterator<Item = (&'a str, f64)>,
        source: &str,
    ) -> Result<usize> {
        let k = self
            .policies
            .iter()
            .position(|p| p == policy)
            .ok_or_else(|| Error::input(format!("{source}fresh draws for `{policy}`, which is not a target policy of the logged data")))?;
        let index: HashMap<&str, usize> = self
            .prompts
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), i))
            .collect();
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); self.prompts.len()];
        let mut unknown = 0;
        for (pid, s) in draws {
            match index.get(pid) {
                Some(&c) => per[c].push(s),
                None => unknown += 1,
            }
        }
        if let Some(c) = per.iter().position(Vec::is_empty) {
            return Err(Error::input(format!(
                "{source}no fresh draw of policy `{policy}` for logged prompt `{}` (every logged prompt needs at least one)",
                self.prompts[c]
            )));
        }
        let mut offsets = Vec::with_capacity(per.len() + 1);
        offsets.push(0);
        let mut judge = Vec::new();
        for v in per {
            judge.extend(v);
            offsets.push(judge.len());
        }
        self.fresh[k] = Some(Fresh { offsets, judge });
        Ok(unknown)
    }

    /// Reads `dir/<policy>_responses.jsonl` for every target policy that has such a
    /// file. Returns the policies read and, per policy, the number of draws of
    /// unknown prompts.
    pub fn read_fresh_draws_dir(
        &mut self,
        dir: impl AsRef<Path>,
    ) -> Result<BTreeMap<String, usize>> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::input(format!(
                "{}: fresh-draw directory does not exist",
                dir.display()
            )));
        }
        let mut out = BTreeMap::new();
        for p in self.policies.clone() {
            let path = dir.join(format!("{p}_responses.jsonl"));
            if !path.exists() {
                continue;
            }
            let draws: Vec<FreshDraw> = pref_data::read_jsonl(&path)?;
            let src = format!("{}: ", path.display());
            let unknown = self.set_fresh_inner(
                &p,
                draws.iter().map(|d| (d.prompt_id.as_str(), d.judge_score)),
                &src,
            )?;
            out.insert(p, unknown);
        }
        Ok(out)
    }

    /// Whether fresh draws of `policy` are attached.
    pub fn has_fresh_draws(&self, policy: &str) -> bool {
        self.policies
            .iter()
            .position(|p| p == policy)
            .is_some_and(|k| self.fresh[k].is_some())
    }

    /// The rows of clusters `picks` (with repetition), each pick a new cluster:
    /// the resampled data set of a cluster bootstrap.
    pub(crate) fn resample_clusters(&self, picks: &[u32], rows_of: &[Vec<usize>]) -> Self {
        let mut out = CjeData {
            prompts: Vec::with_capacity(picks.len()),
            cluster: Vec::new(),
            judge: Vec::new(),
            oracle: Vec::new(),
            policies: self.policies.clone(),
            log_ratio: vec![Vec::new(); self.policies.len()],
            zero_logprob: vec![0; self.policies.len()],
            fresh: vec![None; self.policies.len()],
        };
        let mut fresh: Vec<Option<Fresh>> = self
            .fresh
            .iter()
            .map(|f| {
                f.as_ref().map(|_| Fresh {
                    offsets: vec![0],
                    judge: Vec::new(),
                })
            })
            .collect();
        for (new_c, &c) in picks.iter().enumerate() {
            // A repeated prompt becomes a distinct cluster with a distinct id, so its
            // copies are independent draws (and may fall in different folds).
            out.prompts
                .push(format!("{}#{new_c}", self.prompts[c as usize]));
            for &i in &rows_of[c as usize] {
                out.cluster.push(new_c as u32);
                out.judge.push(self.judge[i]);
                out.oracle.push(self.oracle[i]);
                for k in 0..self.policies.len() {
                    out.log_ratio[k].push(self.log_ratio[k][i]);
                }
            }
            for (k, f) in self.fresh.iter().enumerate() {
                if let (Some(f), Some(nf)) = (f, fresh[k].as_mut()) {
                    let c = c as usize;
                    nf.judge
                        .extend_from_slice(&f.judge[f.offsets[c]..f.offsets[c + 1]]);
                    nf.offsets.push(nf.judge.len());
                }
            }
        }
        out.fresh = fresh;
        out
    }
}
