//! Named ratings, and reading fixed (global) ratings from a file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// One rating per model, in a fixed model order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratings {
    /// Model names.
    pub models: Vec<String>,
    /// `values[i]` is the rating of `models[i]`.
    pub values: Vec<f64>,
}

impl Ratings {
    /// Builds ratings; `models` and `values` must have the same length and distinct names.
    pub fn new(models: Vec<String>, values: Vec<f64>) -> Result<Self> {
        if models.len() != values.len() {
            return Err(Error::InvalidInput(format!(
                "{} model names but {} ratings",
                models.len(),
                values.len()
            )));
        }
        let mut seen = HashMap::with_capacity(models.len());
        for (i, m) in models.iter().enumerate() {
            if seen.insert(m.as_str(), i).is_some() {
                return Err(Error::InvalidInput(format!("model `{m}` appears twice")));
            }
        }
        Ok(Self { models, values })
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// True when there are no models.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Position of a model.
    pub fn index(&self, model: &str) -> Option<usize> {
        self.models.iter().position(|m| m == model)
    }

    /// Rating of a model.
    pub fn get(&self, model: &str) -> Option<f64> {
        self.index(model).map(|i| self.values[i])
    }

    /// `(model, rating)` pairs in model order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> + '_ {
        self.models
            .iter()
            .map(String::as_str)
            .zip(self.values.iter().copied())
    }

    /// Ratings keyed by model name (sorted by name).
    pub fn to_map(&self) -> BTreeMap<String, f64> {
        self.iter().map(|(m, v)| (m.to_string(), v)).collect()
    }

    /// Models sorted by rating, best first (ties by name).
    pub fn sorted_desc(&self) -> Vec<(&str, f64)> {
        let mut v: Vec<_> = self.iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v
    }

    /// Reads fixed ratings (e.g. an Arena leaderboard) from a file:
    ///
    /// - JSON: an object `{model: rating}`, or `{"ratings": {model: rating}}` (the output
    ///   of `pref elo` / `pref bt`);
    /// - CSV with a header naming a model column (`model`, case-insensitive) and a
    ///   rating column (`rating`, `elo rating`, `score` or `elo`), e.g. the arena-catalog
    ///   `index,Model,Elo rating` files. Fields are plain (no quoted commas).
    ///
    /// Errors name the file and line.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::RatingsFile {
            path: path.to_path_buf(),
            line: 0,
            message: e.to_string(),
        })?;
        let bad = |line: u64, message: String| Error::RatingsFile {
            path: path.to_path_buf(),
            line,
            message,
        };
        if text.trim().is_empty() {
            return Err(bad(1, "empty file: expected ratings".into()));
        }
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            || text.trim_start().starts_with('{');
        let (models, values) = if is_json {
            read_json(&text).map_err(|(line, m)| bad(line, m))?
        } else {
            read_csv(&text).map_err(|(line, m)| bad(line, m))?
        };
        if models.is_empty() {
            return Err(bad(1, "no ratings in file".into()));
        }
        Self::new(models, values).map_err(|e| bad(0, e.to_string()))
    }
}

type Parsed = std::result::Result<(Vec<String>, Vec<f64>), (u64, String)>;

fn read_json(text: &str) -> Parsed {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| (e.line() as u64, e.to_string()))?;
    let obj = match v.get("ratings") {
        Some(r) => r,
        None => &v,
    };
    let obj = obj.as_object().ok_or((
        1,
        "expected an object {model: rating} or {\"ratings\": {model: rating}}".to_string(),
    ))?;
    let mut models = Vec::with_capacity(obj.len());
    let mut values = Vec::with_capacity(obj.len());
    for (m, r) in obj {
        let x = r
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or((0, format!("{m}: rating must be a finite number, got {r}")))?;
        models.push(m.clone());
        values.push(x);
    }
    Ok((models, values))
}

fn read_csv(text: &str) -> Parsed {
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().ok_or((1, "empty file".to_string()))?;
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let model_col = cols
        .iter()
        .position(|c| c == "model")
        .ok_or((1, format!("header has no `model` column: {header}")))?;
    let rating_col = cols
        .iter()
        .position(|c| matches!(c.as_str(), "rating" | "elo rating" | "score" | "elo"))
        .ok_or((
            1,
            format!("header has no rating column (`rating`, `Elo rating`, `score`): {header}"),
        ))?;
    let mut models = Vec::new();
    let mut values = Vec::new();
    for (i, l) in lines {
        let line = i as u64 + 1;
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        if f.len() != cols.len() {
            return Err((
                line,
                format!("expected {} fields, found {}", cols.len(), f.len()),
            ));
        }
        let m = f[model_col];
        if m.is_empty() {
            return Err((line, "model: must not be empty".into()));
        }
        let x: f64 = f[rating_col]
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite())
            .ok_or((
                line,
                format!(
                    "{}: expected a finite number, got `{}`",
                    cols[rating_col], f[rating_col]
                ),
            ))?;
        models.push(m.to_string());
        values.push(x);
    }
    Ok((models, values))
}
