//! Parquet storage (arrow) for the record types.
//!
//! Battles are written with dictionary-encoded string columns and read back
//! without materialising one `String` per row. The other record types go
//! through `serde_arrow` with an explicit row type; free-form JSON fields
//! (`Task::meta`, `LoggedSample::metadata`) are stored as JSON text columns.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, FieldRef, Int32Type, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};

use crate::battles::BattleTable;
use crate::error::{quote, shorten_quotes, Error, Result};
use crate::io::TableRecord;
use crate::records::{
    Battle, Comparison, JudgeDecision, LoggedSample, PairCounts, Record, Task, Winner,
};
use crate::run::with_atomic_path;

const BATCH_ROWS: usize = 1 << 16;

fn writer_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build()
}

fn pq_err(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::format(path, format!("{what}: {}", shorten_quotes(&e.to_string())))
}

fn write_batches(path: &Path, schema: Arc<Schema>, batches: Vec<RecordBatch>) -> Result<()> {
    with_atomic_path(path, |tmp| {
        let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        let mut w = ArrowWriter::try_new(file, schema, Some(writer_props()))
            .map_err(|e| pq_err(path, "cannot start Parquet writer", e))?;
        for b in &batches {
            w.write(b)
                .map_err(|e| pq_err(path, "cannot write Parquet", e))?;
        }
        let file = w
            .into_inner()
            .map_err(|e| pq_err(path, "cannot finish Parquet", e))?;
        file.sync_all().map_err(|e| Error::io(path, e))
    })
}

fn open_builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| pq_err(path, "not a readable Parquet file", e))
}

// ---------------------------------------------------------------- battles

/// Interns the strings of one column of a batch into `table`, returning ids.
fn column_ids(
    path: &Path,
    first_row: u64,
    field: &str,
    col: &ArrayRef,
    table: &mut BattleTable,
    out: &mut Vec<u32>,
) -> Result<()> {
    let null_err = |i: usize| {
        Error::row(
            path,
            first_row + i as u64,
            Some(field.into()),
            "missing (null)",
        )
    };
    if let Some(d) = col.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
        let values = d.values();
        let strs: Vec<Option<&str>> = match values.data_type() {
            DataType::Utf8 => values.as_string::<i32>().iter().collect(),
            DataType::LargeUtf8 => values.as_string::<i64>().iter().collect(),
            DataType::Utf8View => values.as_string_view().iter().collect(),
            t => {
                return Err(Error::format(
                    path,
                    format!("{field}: dictionary of {t} is not a string column"),
                ))
            }
        };
        let ids: Vec<Option<u32>> = strs.iter().map(|s| s.map(|s| table.intern(s))).collect();
        let keys = d.keys();
        for (i, k) in keys.iter().enumerate() {
            match k.and_then(|k| ids.get(k as usize).copied().flatten()) {
                Some(id) => out.push(id),
                None => return Err(null_err(i)),
            }
        }
        return Ok(());
    }
    let mut push = |i: usize, s: Option<&str>| -> Result<()> {
        match s {
            Some(s) => {
                out.push(table.intern(s));
                Ok(())
            }
            None => Err(null_err(i)),
        }
    };
    match col.data_type() {
        DataType::Utf8 => col
            .as_string::<i32>()
            .iter()
            .enumerate()
            .try_for_each(|(i, s)| push(i, s)),
        DataType::LargeUtf8 => col
            .as_string::<i64>()
            .iter()
            .enumerate()
            .try_for_each(|(i, s)| push(i, s)),
        DataType::Utf8View => col
            .as_string_view()
            .iter()
            .enumerate()
            .try_for_each(|(i, s)| push(i, s)),
        t => Err(Error::format(
            path,
            format!("{field}: expected a string column, found {t}"),
        )),
    }
}

fn find_column(schema: &Schema, names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| schema.index_of(n).ok())
}

pub(crate) fn read_battle_table_parquet(path: &Path) -> Result<BattleTable> {
    let builder = open_builder(path)?;
    let schema = builder.schema().clone();
    let need = |names: &[&str]| {
        find_column(&schema, names).ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "missing column `{}` (columns: {})",
                    names.join("` or `"),
                    quote(
                        &schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                ),
            )
        })
    };
    let (ia, ib, iw) = (
        need(&["a", "model_a"])?,
        need(&["b", "model_b"])?,
        need(&["winner"])?,
    );
    let mask = ProjectionMask::roots(builder.parquet_schema(), [ia, ib, iw]);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| pq_err(path, "cannot read Parquet", e))?;
    let names: Vec<String> = [ia, ib, iw]
        .iter()
        .map(|&i| schema.field(i).name().clone())
        .collect();
    let mut table = BattleTable::new();
    let mut winners = BattleTable::new(); // interns winner spellings
    let mut wids = Vec::new();
    let mut row = 1u64;
    for batch in reader {
        let batch = batch.map_err(|e| pq_err(path, "cannot decode Parquet", e))?;
        let sa = batch.column_by_name(&names[0]).cloned();
        let sb = batch.column_by_name(&names[1]).cloned();
        let sw = batch.column_by_name(&names[2]).cloned();
        let (Some(ca), Some(cb), Some(cw)) = (sa, sb, sw) else {
            return Err(Error::format(path, "projected columns missing from batch"));
        };
        let start = table.a.len();
        let mut a = std::mem::take(&mut table.a);
        column_ids(path, row, "a", &ca, &mut table, &mut a)?;
        table.a = a;
        let mut b = std::mem::take(&mut table.b);
        column_ids(path, row, "b", &cb, &mut table, &mut b)?;
        table.b = b;
        wids.clear();
        column_ids(path, row, "winner", &cw, &mut winners, &mut wids)?;
        let map: Vec<Option<Winner>> = winners.models.iter().map(|s| Winner::parse(s)).collect();
        for (k, &w) in wids.iter().enumerate() {
            let r = row + k as u64;
            let Some(w) = map[w as usize] else {
                return Err(Error::row(
                    path,
                    r,
                    Some("winner".into()),
                    format!(
                        "unknown value `{}`: expected {}",
                        quote(&winners.models[w as usize]),
                        Winner::EXPECTED
                    ),
                ));
            };
            let i = start + k;
            if table.a[i] == table.b[i] {
                return Err(Error::row(
                    path,
                    r,
                    Some("b".into()),
                    format!(
                        "self-battle: `{}` against itself",
                        quote(&table.models[table.a[i] as usize])
                    ),
                ));
            }
            table.winner.push(w);
        }
        row += batch.num_rows() as u64;
    }
    Ok(table)
}

fn dict_column(ids: &[u32], values: &[&str]) -> ArrayRef {
    let keys = Int32Array::from_iter_values(ids.iter().map(|&i| i as i32));
    let values: ArrayRef = Arc::new(StringArray::from_iter_values(values.iter().copied()));
    Arc::new(DictionaryArray::<Int32Type>::new(keys, values))
}

pub(crate) fn write_battle_table_parquet(t: &BattleTable, path: &Path) -> Result<()> {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", dict.clone(), false),
        Field::new("b", dict.clone(), false),
        Field::new("winner", dict, false),
    ]));
    let models: Vec<&str> = t.models.iter().map(String::as_str).collect();
    let wnames = [Winner::A.as_str(), Winner::B.as_str(), Winner::Tie.as_str()];
    let mut batches = Vec::new();
    for start in (0..t.len()).step_by(BATCH_ROWS) {
        let end = (start + BATCH_ROWS).min(t.len());
        let w: Vec<u32> = t.winner[start..end]
            .iter()
            .map(|w| match w {
                Winner::A => 0,
                Winner::B => 1,
                Winner::Tie => 2,
            })
            .collect();
        let cols = vec![
            dict_column(&t.a[start..end], &models),
            dict_column(&t.b[start..end], &models),
            dict_column(&w, &wnames),
        ];
        batches.push(
            RecordBatch::try_new(schema.clone(), cols)
                .map_err(|e| pq_err(path, "cannot build batch", e))?,
        );
    }
    write_batches(path, schema, batches)
}

impl TableRecord for Battle {
    fn read_parquet(path: &Path) -> Result<Vec<Self>> {
        Ok(read_battle_table_parquet(path)?.to_battles())
    }
    fn write_parquet(path: &Path, records: &[Self]) -> Result<()> {
        write_battle_table_parquet(&BattleTable::from_battles(records), path)
    }
}

// ------------------------------------------------- serde_arrow record types

fn tracing() -> TracingOptions {
    TracingOptions::default()
        .allow_null_fields(true)
        .enums_without_data_as_strings(true)
        .map_as_struct(false)
}

fn write_serde_rows<R: Serialize + for<'de> Deserialize<'de>>(
    path: &Path,
    rows: &[R],
) -> Result<()> {
    let fields = Vec::<FieldRef>::from_type::<R>(tracing())
        .map_err(|e| pq_err(path, "cannot derive Parquet schema", e))?;
    let schema = Arc::new(Schema::new(fields.clone()));
    let mut batches = Vec::new();
    for chunk in rows.chunks(BATCH_ROWS) {
        batches.push(
            serde_arrow::to_record_batch(&fields, &chunk)
                .map_err(|e| pq_err(path, "cannot build batch", e))?,
        );
    }
    write_batches(path, schema, batches)
}

fn read_serde_rows<R: DeserializeOwned>(path: &Path) -> Result<Vec<(u64, R)>> {
    let reader = open_builder(path)?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| pq_err(path, "cannot read Parquet", e))?;
    let mut out = Vec::new();
    let mut row = 1u64;
    for batch in reader {
        let batch = batch.map_err(|e| pq_err(path, "cannot decode Parquet", e))?;
        let items: Vec<R> = serde_arrow::from_record_batch(&batch).map_err(|e| {
            Error::format(
                path,
                format!(
                    "rows {}..{}: {}",
                    row,
                    row + batch.num_rows() as u64 - 1,
                    shorten_quotes(&e.to_string())
                ),
            )
        })?;
        for it in items {
            out.push((row, it));
            row += 1;
        }
    }
    Ok(out)
}

fn validated<T: Record>(path: &Path, rows: Vec<(u64, T)>) -> Result<Vec<T>> {
    rows.into_iter()
        .map(|(r, x)| {
            x.validate()
                .map_err(|fe| Error::row(path, r, Some(fe.field), fe.message))?;
            Ok(x)
        })
        .collect()
}

fn json_text(
    path: &Path,
    row: u64,
    field: &str,
    s: Option<String>,
) -> Result<Option<serde_json::Value>> {
    s.map(|s| {
        serde_json::from_str(&s).map_err(|e| {
            Error::row(
                path,
                row,
                Some(field.into()),
                format!("invalid JSON text: {}", shorten_quotes(&e.to_string())),
            )
        })
    })
    .transpose()
}

impl TableRecord for Comparison {
    fn read_parquet(path: &Path) -> Result<Vec<Self>> {
        validated(path, read_serde_rows(path)?)
    }
    fn write_parquet(path: &Path, records: &[Self]) -> Result<()> {
        write_serde_rows(path, records)
    }
}

/// Flat row for writing pair counts (reading accepts both forms through `PairCounts`).
#[derive(Serialize, Deserialize)]
struct PairCountsRow {
    a: String,
    b: String,
    count_a: f64,
    count_b: f64,
}

impl TableRecord for PairCounts {
    fn read_parquet(path: &Path) -> Result<Vec<Self>> {
        validated(path, read_serde_rows(path)?)
    }
    fn write_parquet(path: &Path, records: &[Self]) -> Result<()> {
        let rows: Vec<PairCountsRow> = records
            .iter()
            .map(|p| PairCountsRow {
                a: p.a.clone(),
                b: p.b.clone(),
                count_a: p.count_a,
                count_b: p.count_b,
            })
            .collect();
        write_serde_rows(path, &rows)
    }
}

#[derive(Serialize, Deserialize)]
struct LoggedSampleRow {
    prompt_id: String,
    prompt: String,
    response: String,
    base_policy_logprob: f64,
    target_policy_logprobs: BTreeMap<String, f64>,
    judge_score: f64,
    oracle_label: Option<f64>,
    metadata: Option<String>,
}

impl TableRecord for LoggedSample {
    fn read_parquet(path: &Path) -> Result<Vec<Self>> {
        let rows: Vec<(u64, LoggedSampleRow)> = read_serde_rows(path)?;
        let mut out = Vec::with_capacity(rows.len());
        for (r, x) in rows {
            out.push((
                r,
                LoggedSample {
                    metadata: json_text(path, r, "metadata", x.metadata)?,
                    prompt_id: x.prompt_id,
                    prompt: x.prompt,
                    response: x.response,
                    base_policy_logprob: x.base_policy_logprob,
                    target_policy_logprobs: x.target_policy_logprobs,
                    judge_score: x.judge_score,
                    oracle_label: x.oracle_label,
                },
            ));
        }
        validated(path, out)
    }
    fn write_parquet(path: &Path, records: &[Self]) -> Result<()> {
        let rows: Vec<LoggedSampleRow> = records
            .iter()
            .map(|x| LoggedSampleRow {
                prompt_id: x.prompt_id.clone(),
                prompt: x.prompt.clone(),
                response: x.response.clone(),
                base_policy_logprob: x.base_policy_logprob,
                target_policy_logprobs: x.target_policy_logprobs.clone(),
                judge_score: x.judge_score,
                oracle_label: x.oracle_label,
                metadata: x.metadata.as_ref().map(|m| m.to_string()),
            })
            .collect();
        write_serde_rows(path, &rows)
    }
}

#[derive(Serialize, Deserialize)]
struct TaskRow {
    id: String,
    source: String,
    prompt: String,
    reference: Option<String>,
    meta: Option<String>,
}

impl TableRecord for Task {
    fn read_parquet(path: &Path) -> Result<Vec<Self>> {
        let rows: Vec<(u64, TaskRow)> = read_serde_rows(path)?;
        let mut out = Vec::with_capacity(rows.len());
        for (r, x) in rows {
            out.push((
                r,
                Task {
                    meta: json_text(path, r, "meta", x.meta)?,
                    id: x.id,
                    source: x.source,
                    prompt: x.prompt,
                    reference: x.reference,
                },
            ));
        }
        validated(path, out)
    }
    fn write_parquet(path: &Path, records: &[Self]) -> Result<()> {
        let rows: Vec<TaskRow> = records
            .iter()
            .map(|x| TaskRow {
                id: x.id.clone(),
                source: x.source.clone(),
                prompt: x.prompt.clone(),
                reference: x.reference.clone(),
                meta: x.meta.as_ref().map(|m| m.to_string()),
            })
            .collect();
        write_serde_rows(path, &rows)
    }
}

/// Flat row of a judge decision (winner as text, so every spelling reads back).
#[derive(Serialize, Deserialize)]
struct JudgeDecisionRow {
    question_id: String,
    model_a: String,
    model_b: String,
    winner: String,
    judge: String,
    order: Option<String>,
    choice_prob: Option<f64>,
}

impl TableRecord for JudgeDecision {
    fn read_parquet(path: &Path) -> Result<Vec<Self>> {
        let rows: Vec<(u64, JudgeDecisionRow)> = read_serde_rows(path)?;
        let mut out = Vec::with_capacity(rows.len());
        for (r, x) in rows {
            let winner = Winner::parse(&x.winner).ok_or_else(|| {
                Error::row(
                    path,
                    r,
                    Some("winner".into()),
                    format!("expected {}, got `{}`", Winner::EXPECTED, quote(&x.winner)),
                )
            })?;
            out.push((
                r,
                JudgeDecision {
                    question_id: x.question_id,
                    model_a: x.model_a,
                    model_b: x.model_b,
                    winner,
                    judge: x.judge,
                    order: x.order,
                    choice_prob: x.choice_prob,
                },
            ));
        }
        validated(path, out)
    }
    fn write_parquet(path: &Path, records: &[Self]) -> Result<()> {
        let rows: Vec<JudgeDecisionRow> = records
            .iter()
            .map(|x| JudgeDecisionRow {
                question_id: x.question_id.clone(),
                model_a: x.model_a.clone(),
                model_b: x.model_b.clone(),
                winner: match x.winner {
                    Winner::A => "model_a",
                    Winner::B => "model_b",
                    Winner::Tie => "tie",
                }
                .to_string(),
                judge: x.judge.clone(),
                order: x.order.clone(),
                choice_prob: x.choice_prob,
            })
            .collect();
        write_serde_rows(path, &rows)
    }
}
