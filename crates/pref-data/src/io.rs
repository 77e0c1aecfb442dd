//! Format detection and format-independent record IO.
//!
//! | file name | format |
//! |---|---|
//! | `*.jsonl`, `*.ndjson` (+ `.gz`) | JSON Lines |
//! | `*.json` (+ `.gz`) | a JSON array, or JSON Lines when the first character is not `[` |
//! | `*.parquet`, `*.pq` | Parquet (feature `parquet`) |

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::jsonl::{open_read, read_json_array, read_jsonl, write_jsonl};
use crate::records::Record;

/// A supported file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// One JSON array of objects.
    JsonArray,
    /// Apache Parquet.
    Parquet,
}

fn base_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.strip_suffix(".gz").map(str::to_string).unwrap_or(name)
}

/// Detects the format of `path` from its name (and, for `.json`, its first byte).
pub fn detect_format(path: &Path) -> Result<Format> {
    let name = base_name(path);
    if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        Ok(Format::Jsonl)
    } else if name.ends_with(".parquet") || name.ends_with(".pq") {
        Ok(Format::Parquet)
    } else if name.ends_with(".json") {
        let mut r = open_read(path)?;
        let mut first = [0u8; 1];
        loop {
            match r.read(&mut first) {
                Ok(0) => return Ok(Format::JsonArray),
                Ok(_) if first[0].is_ascii_whitespace() => continue,
                Ok(_) if first[0] == b'[' => return Ok(Format::JsonArray),
                Ok(_) => return Ok(Format::Jsonl),
                Err(e) => return Err(Error::io(path, e)),
            }
        }
    } else {
        Err(Error::format(
            path,
            "unknown file type: expected .jsonl, .jsonl.gz, .ndjson, .json, .json.gz or .parquet",
        ))
    }
}

/// A record type that can also be stored in Parquet.
pub trait TableRecord: Record + Sized {
    /// Reads all records of a Parquet file, validating each.
    fn read_parquet(path: &Path) -> Result<Vec<Self>>;
    /// Writes records to a Parquet file (atomically: temp file + rename).
    fn write_parquet(path: &Path, records: &[Self]) -> Result<()>;
}

/// Reads all records of a file in any supported format.
pub fn read_records<T: TableRecord>(path: impl AsRef<Path>) -> Result<Vec<T>> {
    let path = path.as_ref();
    match detect_format(path)? {
        Format::Jsonl => read_jsonl(path),
        Format::JsonArray => read_json_array(path),
        Format::Parquet => {
            let v = T::read_parquet(path)?;
            if v.is_empty() {
                return Err(Error::Empty {
                    path: path.to_path_buf(),
                    kind: T::KIND,
                });
            }
            Ok(v)
        }
    }
}

/// Writes records in the format named by the path, atomically (temp file + rename).
pub fn write_records<T: TableRecord>(path: impl AsRef<Path>, records: &[T]) -> Result<()> {
    let path = path.as_ref();
    match detect_format_for_write(path)? {
        Format::Parquet => T::write_parquet(path, records),
        Format::Jsonl => crate::run::with_atomic_path(path, |tmp| write_jsonl(tmp, records)),
        Format::JsonArray => {
            let bytes = serde_json::to_vec_pretty(records)
                .map_err(|e| Error::format(path, format!("cannot serialise: {e}")))?;
            crate::run::write_atomic(path, &bytes)
        }
    }
}

fn detect_format_for_write(path: &Path) -> Result<Format> {
    let name = base_name(path);
    if name.ends_with(".json") {
        if crate::jsonl::is_gzip(path) {
            return Err(Error::format(
                path,
                "write JSON arrays uncompressed (or use .jsonl.gz)",
            ));
        }
        Ok(Format::JsonArray)
    } else {
        detect_format(path)
    }
}

/// Serialises a value as pretty JSON and writes it atomically.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: impl AsRef<Path>, value: &T) -> Result<()> {
    let path = path.as_ref();
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::format(path, format!("cannot serialise: {e}")))?;
    bytes.push(b'\n');
    crate::run::write_atomic(path, &bytes)
}

#[cfg(feature = "parquet")]
pub(crate) use crate::parquet_io::{read_battle_table_parquet, write_battle_table_parquet};

#[cfg(not(feature = "parquet"))]
mod no_parquet {
    use super::*;
    use crate::battles::BattleTable;
    use crate::records::{Battle, Comparison, JudgeDecision, LoggedSample, PairCounts, Task};

    fn unsupported(path: &Path) -> Error {
        Error::format(
            path,
            "Parquet support is not compiled in (enable the `parquet` feature of pref-data)",
        )
    }

    pub(crate) fn read_battle_table_parquet(path: &Path) -> Result<BattleTable> {
        Err(unsupported(path))
    }

    pub(crate) fn write_battle_table_parquet(_: &BattleTable, path: &Path) -> Result<()> {
        Err(unsupported(path))
    }

    macro_rules! no_parquet {
        ($($t:ty),*) => {$(
            impl TableRecord for $t {
                fn read_parquet(path: &Path) -> Result<Vec<Self>> { Err(unsupported(path)) }
                fn write_parquet(path: &Path, _: &[Self]) -> Result<()> { Err(unsupported(path)) }
            }
        )*};
    }
    no_parquet!(
        Battle,
        Comparison,
        PairCounts,
        LoggedSample,
        Task,
        JudgeDecision
    );
}
#[cfg(not(feature = "parquet"))]
pub(crate) use no_parquet::{read_battle_table_parquet, write_battle_table_parquet};
