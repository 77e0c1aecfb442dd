#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod battles;
pub mod error;
pub mod io;
pub mod jsonl;
pub mod loaders;
pub mod npy;
#[cfg(feature = "parquet")]
mod parquet_io;
pub mod paths;
pub mod records;
pub mod run;

pub use battles::BattleTable;
pub use error::{quote, shorten_quotes, Error, Location, Result, QUOTE_MAX_CHARS};
pub use io::{detect_format, read_records, write_json_atomic, write_records, Format, TableRecord};
pub use jsonl::{read_jsonl, write_jsonl, JsonlReader, JsonlWriter};
pub use npy::{ActivationMatrix, Matrix};
pub use records::{
    Battle, Choice, Chosen, Comparison, FieldError, JudgeDecision, LoggedSample, MuSigma, Order,
    PairChoice, PairCounts, Record, Task, UtilityRunRecord, Winner,
};
pub use run::{derived_seed, record_id, scan_records, write_atomic, RecordLog, RunDir, ScannedLog};
