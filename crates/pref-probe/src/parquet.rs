//! Activation matrices from Parquet (feature `parquet`).
//!
//! Two layouts are read:
//! - one list column of floats (`list<float>`, `large_list`, `fixed_size_list`),
//!   one row per item — the column named `activations` when there are several;
//! - otherwise every floating-point column is one feature, in schema order
//!   (string columns such as an `id` are ignored).
//!
//! Nulls, ragged rows and an empty result are errors naming the file, the row and
//! the column.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pref_data::{Location, Matrix};

use crate::error::{Error, Result};

fn format_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Data(pref_data::Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    })
}

fn row_err(path: &Path, row: u64, field: &str, message: impl Into<String>) -> Error {
    Error::Data(pref_data::Error::Record {
        at: Location {
            path: PathBuf::from(path),
            line: row,
            is_row: true,
        },
        field: Some(field.to_string()),
        message: message.into(),
    })
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

fn list_item(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

fn to_f64(path: &Path, field: &str, a: &ArrayRef) -> Result<ArrayRef> {
    cast(a, &DataType::Float64)
        .map_err(|e| format_err(path, format!("column `{field}`: cannot read as float: {e}")))
}

/// Reads an `[n × d]` activation matrix from a Parquet file (rows are numbered
/// from 1 in errors).
pub fn read_parquet_matrix(path: impl AsRef<Path>) -> Result<Matrix<f64>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| {
        Error::Data(pref_data::Error::Io {
            path: path.to_path_buf(),
            source: e,
        })
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format_err(path, format!("not a readable Parquet file: {e}")))?;
    let schema = builder.schema().clone();
    let lists: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| list_item(f.data_type()).is_some_and(is_float))
        .map(|(i, _)| i)
        .collect();
    let list_col = match lists.as_slice() {
        [] => None,
        [i] => Some(*i),
        many => Some(
            *many
                .iter()
                .find(|&&i| schema.field(i).name() == "activations")
                .ok_or_else(|| {
                    format_err(
                        path,
                        format!(
                            "several list<float> columns ({}): name the activations column `activations`",
                            many.iter()
                                .map(|&i| schema.field(i).name().as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?,
        ),
    };
    let float_cols: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| is_float(f.data_type()))
        .map(|(i, _)| i)
        .collect();
    if list_col.is_none() && float_cols.is_empty() {
        return Err(format_err(
            path,
            "no activations found: expected a list<float> column or floating-point feature columns",
        ));
    }
    let reader = builder
        .build()
        .map_err(|e| format_err(path, format!("cannot read Parquet: {e}")))?;
    let mut data = Vec::new();
    let (mut rows, mut d) = (0u64, None::<usize>);
    for batch in reader {
        let batch = batch.map_err(|e| format_err(path, format!("cannot read Parquet: {e}")))?;
        match list_col {
            Some(c) => {
                let name = schema.field(c).name();
                let col = batch.column(c);
                let n = col.len();
                for i in 0..n {
                    let row = rows + i as u64 + 1;
                    if col.is_null(i) {
                        return Err(row_err(path, row, name, "null activation row"));
                    }
                    let item: ArrayRef = match col.data_type() {
                        DataType::List(_) => col.as_list::<i32>().value(i),
                        DataType::LargeList(_) => col.as_list::<i64>().value(i),
                        _ => col.as_fixed_size_list().value(i),
                    };
                    let item = to_f64(path, name, &item)?;
                    let vals = item.as_primitive::<Float64Type>();
                    if vals.null_count() > 0 {
                        return Err(row_err(
                            path,
                            row,
                            name,
                            "null value inside the activation list",
                        ));
                    }
                    match d {
                        None => d = Some(vals.len()),
                        Some(d) if d != vals.len() => {
                            return Err(row_err(
                                path,
                                row,
                                name,
                                format!("{} values where earlier rows have {d}", vals.len()),
                            ))
                        }
                        _ => {}
                    }
                    data.extend_from_slice(vals.values());
                }
                rows += n as u64;
            }
            None => {
                let cols: Vec<ArrayRef> = float_cols
                    .iter()
                    .map(|&c| to_f64(path, schema.field(c).name(), batch.column(c)))
                    .collect::<Result<_>>()?;
                for (k, c) in cols.iter().enumerate() {
                    if c.null_count() > 0 {
                        let i = (0..c.len()).find(|&i| c.is_null(i)).unwrap_or(0);
                        return Err(row_err(
                            path,
                            rows + i as u64 + 1,
                            schema.field(float_cols[k]).name(),
                            "null value",
                        ));
                    }
                }
                let vals: Vec<&[f64]> = cols
                    .iter()
                    .map(|c| c.as_primitive::<Float64Type>().values().as_ref())
                    .collect();
                for i in 0..batch.num_rows() {
                    data.extend(vals.iter().map(|v| v[i]));
                }
                d = Some(float_cols.len());
                rows += batch.num_rows() as u64;
            }
        }
    }
    let d = d.unwrap_or(0);
    if rows == 0 || d == 0 {
        return Err(format_err(
            path,
            format!("no activations: {rows} rows of {d} features"),
        ));
    }
    Ok(Matrix::new(rows as usize, d, data).expect("rows × d values"))
}
