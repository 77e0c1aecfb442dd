//! Run directories (`docs/runs.md`): `runs/<study>/<run-id>/` with a resolved
//! `config.toml`, append-only `records/*.jsonl` keyed by deterministic ids,
//! and final files written atomically (temp file + rename).
//!
//! A run killed at any moment resumes with nothing lost and nothing
//! duplicated: [`RecordLog::open`] reads what is done, repairs a last line cut
//! short by the kill, and [`RecordLog::append`] refuses an id it already holds.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{quote, Error, Result};
use crate::jsonl::{parse_value, LineReader};

/// Deterministic record id: the first 32 hex digits of sha256 over the parts
/// (separated by an ASCII unit separator so `("ab","c")` ≠ `("a","bc")`).
pub fn record_id<S: AsRef<str>>(parts: &[S]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0x1f]);
        }
        h.update(p.as_ref().as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// A sampling seed derived from `base` and the parts: `base` plus the first 16
/// hex digits of [`record_id`] of the parts (wrapping), so every job of a stage
/// gets its own seed, stable across runs and independent of job order.
pub fn derived_seed<S: AsRef<str>>(base: u64, parts: &[S]) -> u64 {
    let h = record_id(parts);
    base.wrapping_add(u64::from_str_radix(&h[..16], 16).expect("record_id is hex"))
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Keep the file name as the suffix so extension-based choices (`.gz`) still hold.
    path.with_file_name(format!(".tmp-{}-{name}", std::process::id()))
}

/// Runs `write` on a temporary sibling of `path`, then renames it into place.
/// Readers see either the old file or the complete new one, never a partial one.
pub fn with_atomic_path<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&Path) -> Result<()>,
{
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = tmp_path(path);
    match write(&tmp) {
        Ok(()) => fs::rename(&tmp, path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(path, e)
        }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    with_atomic_path(path, |tmp| {
        let mut f = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(tmp, e))?;
        f.sync_all().map_err(|e| Error::io(tmp, e))
    })
}

/// A run directory `runs/<study>/<run-id>/`.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The default place of a new run of `study`: `runs/<study>/<unix seconds>`
    /// (relative to the working directory).
    pub fn default_path(study: &str) -> PathBuf {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self::path_for(Path::new("runs"), study, &stamp.to_string())
    }

    /// Conventional location: `<base>/<study>/<run_id>`.
    pub fn path_for(base: &Path, study: &str, run_id: &str) -> PathBuf {
        base.join(study).join(run_id)
    }

    /// Creates a new run directory and writes its resolved `config.toml`.
    ///
    /// Fails if the directory already holds a `config.toml` (resume it instead).
    pub fn create<C: Serialize>(root: impl AsRef<Path>, config: &C) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let cfg = root.join("config.toml");
        if cfg.exists() {
            return Err(Error::format(
                &root,
                "run directory already exists (it has a config.toml): resume it, or choose another --out",
            ));
        }
        for d in [root.clone(), root.join("records"), root.join("plots")] {
            fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        let text = toml::to_string_pretty(config)
            .map_err(|e| Error::format(&cfg, format!("cannot serialise config: {e}")))?;
        write_atomic(&cfg, text.as_bytes())?;
        Ok(Self { root })
    }

    /// Opens an existing run directory (to resume it or show its status).
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let run = Self::open_existing(root)?;
        for d in [run.root.join("records"), run.root.join("plots")] {
            fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        Ok(run)
    }

    /// Opens an existing run directory without creating anything in it (for
    /// read-only commands such as `status`).
    pub fn open_existing(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if !root.join("config.toml").is_file() {
            return Err(Error::format(&root, "not a run directory (no config.toml)"));
        }
        Ok(Self { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads and parses `config.toml`.
    pub fn config<C: DeserializeOwned>(&self) -> Result<C> {
        let path = self.root.join("config.toml");
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| 1 + text[..s.start].matches('\n').count() as u64)
                .unwrap_or(0);
            Error::record(&path, line, None, crate::error::shorten_quotes(e.message()))
        })
    }

    /// Path of a record log `records/<name>.jsonl`.
    pub fn records_path(&self, name: &str) -> PathBuf {
        self.root.join("records").join(format!("{name}.jsonl"))
    }

    /// Opens (creating if needed) the record log `records/<name>.jsonl`.
    pub fn records<T: Serialize + DeserializeOwned>(&self, name: &str) -> Result<RecordLog<T>> {
        RecordLog::open(self.records_path(name))
    }

    /// The plots directory.
    pub fn plots_dir(&self) -> PathBuf {
        self.root.join("plots")
    }

    /// Temporary files (`.tmp-<pid>-<name>`) that an atomic write killed before
    /// its rename left in the directory, `plots/` or `records/`, sorted.
    pub fn temporaries(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for dir in [
            self.root.clone(),
            self.plots_dir(),
            self.root.join("records"),
        ] {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(&dir, e))?;
                let is_file = entry.file_type().is_ok_and(|t| t.is_file());
                if is_file && entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    out.push(entry.path());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes the [`temporaries`](Self::temporaries) of killed writers; call it
    /// only while holding the run's lock (no writer of this run is alive then).
    /// Returns what was removed.
    pub fn remove_temporaries(&self) -> Result<Vec<PathBuf>> {
        let found = self.temporaries()?;
        for p in &found {
            fs::remove_file(p).map_err(|e| Error::io(p, e))?;
        }
        Ok(found)
    }

    /// Writes a final JSON file (e.g. `results.json`) atomically.
    pub fn write_json<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<PathBuf> {
        let path = self.root.join(name);
        crate::io::write_json_atomic(&path, value)?;
        Ok(path)
    }

    /// Writes a final text file (e.g. `report.md`) atomically.
    pub fn write_text(&self, name: &str, text: &str) -> Result<PathBuf> {
        let path = self.root.join(name);
        write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }
}

/// What [`scan_records`] read from a record log, without changing the file.
#[derive(Debug)]
pub struct ScannedLog<T> {
    /// `(id, record)` pairs of the complete lines, in file order.
    pub entries: Vec<(String, T)>,
    /// Line number of a last line cut short by a killed writer (dropped), if any.
    pub torn_line: Option<u64>,
    /// Bytes of that torn line (0 when the log is intact).
    pub torn_bytes: u64,
    /// Length of the file up to the end of the last complete record.
    pub good_len: u64,
    /// Whether the last complete record lacks its newline.
    pub last_unterminated: bool,
}

/// Reads a record log without writing to it (for read-only commands such as
/// `status`): every complete record, and where a torn last line starts. A missing
/// file is an empty log. A bad line other than the last, or a repeated id, is a
/// `path:line` error.
pub fn scan_records<T: DeserializeOwned>(path: &Path) -> Result<ScannedLog<T>> {
    let mut out = ScannedLog {
        entries: Vec::new(),
        torn_line: None,
        torn_bytes: 0,
        good_len: 0,
        last_unterminated: false,
    };
    if !path.exists() {
        return Ok(out);
    }
    let mut seen = std::collections::HashSet::new();
    let total = fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    out.good_len = total;
    let mut lines = LineReader::open(path)?;
    while let Some(l) = lines.next_line()? {
        let parsed = parse_value::<IdOnly>(path, l.line, l.bytes, l.unterminated).and_then(|id| {
            let rec = parse_value::<T>(path, l.line, l.bytes, l.unterminated)?;
            Ok((id.id, rec))
        });
        match parsed {
            Ok((id, rec)) => {
                if !seen.insert(id.clone()) {
                    return Err(Error::record(
                        path,
                        l.line,
                        Some("id".into()),
                        format!("duplicate record id `{}`", quote(&id)),
                    ));
                }
                out.entries.push((id, rec));
                out.last_unterminated = l.unterminated;
            }
            Err(Error::Truncated { .. }) => {
                out.good_len = l.start_offset;
                out.torn_bytes = total - l.start_offset;
                out.torn_line = Some(l.line);
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// An append-only JSON Lines log of records, each keyed by a deterministic id.
///
/// Every line is `{"id": "<id>", <the record's fields>}`, so the file can be
/// read as plain records by any JSON Lines tool.
pub struct RecordLog<T> {
    path: PathBuf,
    file: File,
    entries: Vec<(String, T)>,
    index: HashMap<String, usize>,
    repaired_bytes: u64,
    line: Vec<u8>,
    _t: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> RecordLog<T> {
    /// Opens a log, loading every complete record already in it.
    ///
    /// A last line cut short by a killed writer is removed from the file (and
    /// counted in [`RecordLog::repaired_bytes`]); a bad line anywhere else, or a
    /// repeated id, is an error: the log is never silently rewritten.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let scanned = scan_records::<T>(&path)?;
        let mut index = HashMap::new();
        for (i, (id, _)) in scanned.entries.iter().enumerate() {
            index.insert(id.clone(), i);
        }
        let entries = scanned.entries;
        let repaired_bytes = scanned.torn_bytes;
        let good_len = scanned.good_len;
        let needs_newline = scanned.last_unterminated;
        if let Some(line) = scanned.torn_line {
            tracing::warn!(
                "{}:{line}: dropping a last line cut short ({repaired_bytes} bytes; a killed \
                 writer, or a write that failed half-way)",
                path.display(),
            );
        }
        // Append mode: every write lands at the end of the file, whatever else
        // holds it open (the run lock keeps other writers out in the first place).
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        if repaired_bytes > 0 {
            file.set_len(good_len).map_err(|e| Error::io(&path, e))?;
        }
        if needs_newline && repaired_bytes == 0 {
            file.write_all(b"\n").map_err(|e| Error::io(&path, e))?;
        }
        Ok(Self {
            path,
            file,
            entries,
            index,
            repaired_bytes,
            line: Vec::with_capacity(256),
            _t: PhantomData,
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of a truncated last line removed on open (0 when the log was intact).
    pub fn repaired_bytes(&self) -> u64 {
        self.repaired_bytes
    }

    /// Whether a record with this id is already in the log.
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// The record with this id.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.index.get(id).map(|&i| &self.entries[i].1)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the log holds no records.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All `(id, record)` pairs in file order.
    pub fn entries(&self) -> &[(String, T)] {
        &self.entries
    }

    /// The records in file order.
    pub fn records(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, r)| r)
    }

    /// Appends a record unless its id is already present; returns whether it was written.
    ///
    /// The line goes to the file in a single `write` call and is flushed to the
    /// operating system before returning, so a killed process loses at most the
    /// record being written, and a reopened log repairs that.
    pub fn append(&mut self, id: &str, record: T) -> Result<bool> {
        if self.index.contains_key(id) {
            return Ok(false);
        }
        self.line.clear();
        self.line.extend_from_slice(b"{\"id\":");
        serde_json::to_writer(&mut self.line, id)
            .map_err(|e| Error::format(&self.path, e.to_string()))?;
        let body = serde_json::to_vec(&record)
            .map_err(|e| Error::format(&self.path, format!("cannot serialise record: {e}")))?;
        match body.as_slice() {
            [b'{', b'}'] => self.line.push(b'}'),
            [b'{', rest @ ..] => {
                self.line.push(b',');
                self.line.extend_from_slice(rest);
            }
            _ => {
                return Err(Error::format(
                    &self.path,
                    "a record must serialise to a JSON object",
                ))
            }
        }
        self.line.push(b'\n');
        let before = self
            .file
            .metadata()
            .map_err(|e| Error::io(&self.path, e))?
            .len();
        if let Err(e) = self.file.write_all(&self.line) {
            // A full disk (or a file-size limit) can take part of the line: cut
            // the file back so that no partial record is left for the next open
            // to mistake for a killed writer's.
            let _ = self.file.set_len(before);
            return Err(Error::Format {
                path: self.path.clone(),
                message: format!(
                    "cannot append a record ({e}); the log keeps its {} complete record(s) \
                     and a resume continues from them once the cause is fixed",
                    self.entries.len()
                ),
            });
        }
        self.index.insert(id.to_string(), self.entries.len());
        self.entries.push((id.to_string(), record));
        Ok(true)
    }

    /// Forces written records to disk (fsync); appends are already safe
    /// against a killed process without it, this also covers power loss.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }
}
