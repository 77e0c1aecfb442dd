//! A generic contextual-bandit interface: no contexts, no models, just per-row
//! numbers, so any off-policy pipeline can hand over its logs.
//!
//! Each row carries the observed `reward`, the logging propensity `pscore` of the
//! logged action, the target policy's probability `target_prob` of that action,
//! the outcome model's prediction `q_hat` for the logged action and its
//! expectation `q_hat_target` under the target policy. With `w = target_prob / pscore`:
//!
//! | estimator | value | influence φ_i |
//! |---|---|---|
//! | `ipw` | `mean(w r)` | `w r − ψ` |
//! | `snipw` | `Σ w r / Σ w` | `w (r − ψ) / mean(w)` |
//! | `dr` | `mean(q̂_π + w (r − q̂))` | `term − ψ` |
//! | `sndr` | `mean(q̂_π) + Σ w (r − q̂) / Σ w` | `(q̂_π − mean q̂_π) + w (r − q̂ − c) / mean(w)` |
//! | `switch-dr` | `mean(q̂_π + 1[w ≤ λ] w (r − q̂))` | `term − ψ` |
//!
//! (`c = Σ w (r − q̂) / Σ w`.) Standard errors are `sd(φ)/√n`; rows are independent.

use std::collections::BTreeMap;

use pref_data::{FieldError, Record};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::intervals::{normal_quantile, Estimate};

/// One logged bandit round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanditRow {
    /// Observed reward.
    pub reward: f64,
    /// Probability of the logged action under the logging policy, in (0, 1].
    pub pscore: f64,
    /// Probability of the logged action under the target policy, in [0, 1].
    pub target_prob: f64,
    /// Outcome-model prediction for the logged action.
    pub q_hat: f64,
    /// Expected outcome-model prediction under the target policy.
    pub q_hat_target: f64,
}

impl Record for BanditRow {
    const KIND: &'static str = "BanditRow";
    fn validate(&self) -> std::result::Result<(), FieldError> {
        for (f, v) in [
            ("reward", self.reward),
            ("pscore", self.pscore),
            ("target_prob", self.target_prob),
            ("q_hat", self.q_hat),
            ("q_hat_target", self.q_hat_target),
        ] {
            if !v.is_finite() {
                return Err(FieldError::new(
                    f,
                    format!("must be a finite number, got {v}"),
                ));
            }
        }
        if !(self.pscore > 0.0 && self.pscore <= 1.0) {
            return Err(FieldError::new(
                "pscore",
                format!("must lie in (0, 1], got {}", self.pscore),
            ));
        }
        if !(0.0..=1.0).contains(&self.target_prob) {
            return Err(FieldError::new(
                "target_prob",
                format!("must lie in [0, 1], got {}", self.target_prob),
            ));
        }
        Ok(())
    }
}

/// Parameters of the bandit estimators.
#[derive(Debug, Clone, PartialEq)]
pub struct BanditParams {
    /// Switch-DR threshold λ on `w`: rows with larger weight use the model only.
    /// `f64::INFINITY` (the default, as in Open Bandit Pipeline) makes Switch-DR equal DR.
    pub switch_lambda: f64,
    /// Confidence level.
    pub level: f64,
}

impl Default for BanditParams {
    fn default() -> Self {
        Self {
            switch_lambda: f64::INFINITY,
            level: 0.95,
        }
    }
}

fn finish(psi: f64, phi: &[f64], z: f64) -> Estimate {
    let n = phi.len() as f64;
    let m = phi.iter().sum::<f64>() / n;
    let var = phi.iter().map(|p| (p - m).powi(2)).sum::<f64>() / (n - 1.0) / n;
    let se = var.sqrt();
    Estimate {
        estimate: psi,
        se,
        ci_lower: psi - z * se,
        ci_upper: psi + z * se,
        se_influence: None,
        se_oracle: None,
    }
}

/// Computes `ipw`, `snipw`, `dr`, `sndr` and `switch-dr` with normal intervals.
pub fn bandit_estimates(
    rows: &[BanditRow],
    params: &BanditParams,
) -> Result<BTreeMap<String, Estimate>> {
    if rows.len() < 2 {
        return Err(Error::input("the bandit estimators need at least 2 rows"));
    }
    if params.switch_lambda.is_nan() || params.switch_lambda < 0.0 {
        return Err(Error::param(
            "switch_lambda",
            format!("must be ≥ 0, got {}", params.switch_lambda),
        ));
    }
    pref_stats::open_unit_interval("level", params.level)?;
    let z = normal_quantile(params.level);
    let n = rows.len() as f64;
    let w: Vec<f64> = rows.iter().map(|r| r.target_prob / r.pscore).collect();
    let wbar = w.iter().sum::<f64>() / n;
    if wbar <= 0.0 {
        return Err(Error::input(
            "every target_prob is 0: the target policy never takes a logged action",
        ));
    }
    let mut out = BTreeMap::new();
    let ipw: Vec<f64> = rows.iter().zip(&w).map(|(r, w)| w * r.reward).collect();
    let psi = ipw.iter().sum::<f64>() / n;
    out.insert(
        "ipw".into(),
        finish(psi, &ipw.iter().map(|t| t - psi).collect::<Vec<_>>(), z),
    );
    let psi = ipw.iter().sum::<f64>() / (n * wbar);
    let phi: Vec<f64> = rows
        .iter()
        .zip(&w)
        .map(|(r, w)| w * (r.reward - psi) / wbar)
        .collect();
    out.insert("snipw".into(), finish(psi, &phi, z));
    let dr: Vec<f64> = rows
        .iter()
        .zip(&w)
        .map(|(r, w)| r.q_hat_target + w * (r.reward - r.q_hat))
        .collect();
    let psi = dr.iter().sum::<f64>() / n;
    out.insert(
        "dr".into(),
        finish(psi, &dr.iter().map(|t| t - psi).collect::<Vec<_>>(), z),
    );
    let qbar = rows.iter().map(|r| r.q_hat_target).sum::<f64>() / n;
    let c = rows
        .iter()
        .zip(&w)
        .map(|(r, w)| w * (r.reward - r.q_hat))
        .sum::<f64>()
        / (n * wbar);
    let phi: Vec<f64> = rows
        .iter()
        .zip(&w)
        .map(|(r, w)| (r.q_hat_target - qbar) + w * (r.reward - r.q_hat - c) / wbar)
        .collect();
    out.insert("sndr".into(), finish(qbar + c, &phi, z));
    let sw: Vec<f64> = rows
        .iter()
        .zip(&w)
        .map(|(r, &w)| {
            r.q_hat_target
                + if w <= params.switch_lambda {
                    w * (r.reward - r.q_hat)
                } else {
                    0.0
                }
        })
        .collect();
    let psi = sw.iter().sum::<f64>() / n;
    out.insert(
        "switch-dr".into(),
        finish(psi, &sw.iter().map(|t| t - psi).collect::<Vec<_>>(), z),
    );
    Ok(out)
}

/// Reads bandit rows from `.jsonl` (optionally `.gz`), `.json` or `.parquet`
/// (errors name file, line or row, and field).
pub fn read_bandit_rows(path: impl AsRef<std::path::Path>) -> Result<Vec<BanditRow>> {
    Ok(pref_data::read_records(path)?)
}

#[cfg(feature = "parquet")]
mod parquet_impl {
    use std::fs::File;
    use std::path::Path;

    use arrow::datatypes::FieldRef;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    use pref_data::{Error, Location, Record, Result, TableRecord};
    use serde_arrow::schema::{SchemaLike, TracingOptions};

    use super::BanditRow;

    fn format_err(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Format {
            path: path.to_path_buf(),
            message: format!("{what}: {e}"),
        }
    }

    impl TableRecord for BanditRow {
        fn read_parquet(path: &Path) -> Result<Vec<Self>> {
            let file = File::open(path).map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| format_err(path, "not a readable Parquet file", e))?
                .build()
                .map_err(|e| format_err(path, "cannot read Parquet", e))?;
            let mut out = Vec::new();
            for batch in reader {
                let batch = batch.map_err(|e| format_err(path, "cannot decode Parquet", e))?;
                let rows: Vec<BanditRow> = serde_arrow::from_record_batch(&batch).map_err(|e| {
                    format_err(
                        path,
                        "expected columns reward, pscore, target_prob, q_hat, q_hat_target",
                        e,
                    )
                })?;
                for r in rows {
                    let row = out.len() as u64 + 1;
                    r.validate().map_err(|fe| Error::Record {
                        at: Location {
                            path: path.to_path_buf(),
                            line: row,
                            is_row: true,
                        },
                        field: Some(fe.field),
                        message: fe.message,
                    })?;
                    out.push(r);
                }
            }
            Ok(out)
        }

        fn write_parquet(path: &Path, records: &[Self]) -> Result<()> {
            let fields = Vec::<FieldRef>::from_type::<BanditRow>(TracingOptions::default())
                .map_err(|e| format_err(path, "schema", e))?;
            let batch = serde_arrow::to_record_batch(&fields, &records)
                .map_err(|e| format_err(path, "cannot build batch", e))?;
            let file = File::create(path).map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            let mut w = ArrowWriter::try_new(file, batch.schema(), None)
                .map_err(|e| format_err(path, "cannot start Parquet writer", e))?;
            w.write(&batch)
                .map_err(|e| format_err(path, "cannot write Parquet", e))?;
            w.close()
                .map_err(|e| format_err(path, "cannot finish Parquet", e))?;
            Ok(())
        }
    }
}

#[cfg(not(feature = "parquet"))]
impl pref_data::TableRecord for BanditRow {
    fn read_parquet(path: &std::path::Path) -> pref_data::Result<Vec<Self>> {
        Err(pref_data::Error::Format {
            path: path.to_path_buf(),
            message: "Parquet support is disabled (enable feature `parquet`)".into(),
        })
    }
    fn write_parquet(path: &std::path::Path, _: &[Self]) -> pref_data::Result<()> {
        Self::read_parquet(path).map(|_| ())
    }
}
