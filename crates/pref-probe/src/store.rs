//! Activations written as they are extracted, one Parquet directory per layer,
//! so that a killed extraction resumes where it stopped (feature `parquet`).
//!
//! Layout: `DIR/layer-L/part-KKKKK.parquet`, each part holding the same rows
//! for every layer: a string column `id` and a `fixed_size_list<float32, d>`
//! column `activations` (the layout [`crate::parquet`] reads, so each part, or
//! any tool reading a directory of Parquet files, such as DuckDB, Polars or
//! Spark, sees the rows directly). A part is written to a temporary file and
//! renamed into place, layer by layer; it counts only once it exists for every
//! layer. Opening a store removes the parts of an index some layer lacks (a
//! kill between two layers' renames) and any temporary file, so their rows are
//! extracted again and never appear twice. Memory: one part at a time
//! (`rows × d × 4` bytes per layer); reading a layer back holds `n × d × 4`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use pref_data::Matrix;

use crate::error::{Error, Result};

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Data(pref_data::Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

fn format_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Data(pref_data::Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    })
}

/// A per-layer Parquet store of activation rows, written part by part.
#[derive(Debug)]
pub struct ActivationStore {
    dir: PathBuf,
    layers: Vec<usize>,
    width: usize,
    /// Complete parts, in order.
    parts: Vec<u32>,
    /// Ids of the rows in complete parts.
    done: HashSet<String>,
}

impl ActivationStore {
    /// Opens (or creates) the store in `dir` for `layers` of `width` values,
    /// cleaning up what a killed writer left: incomplete parts and temporary
    /// files.
    pub fn open(dir: impl AsRef<Path>, layers: &[usize], width: usize) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if layers.is_empty() || width == 0 {
            return Err(Error::InvalidInput(
                "an activation store needs at least one layer and a width".into(),
            ));
        }
        let mut by_index: BTreeMap<u32, usize> = BTreeMap::new();
        for &l in layers {
            let ld = dir.join(format!("layer-{l}"));
            std::fs::create_dir_all(&ld).map_err(|e| io(&ld, e))?;
            for entry in std::fs::read_dir(&ld).map_err(|e| io(&ld, e))? {
                let p = entry.map_err(|e| io(&ld, e))?.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.ends_with(".tmp") {
                    std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                } else if let Some(k) = part_index(name) {
                    *by_index.entry(k).or_default() += 1;
                }
            }
        }
        let unique: BTreeSet<usize> = layers.iter().copied().collect();
        let mut parts = Vec::new();
        for (&k, &count) in &by_index {
            if count == unique.len() {
                parts.push(k);
            } else {
                for &l in &unique {
                    let p = part_path(&dir, l, k);
                    if p.exists() {
                        std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                    }
                }
            }
        }
        let mut store = Self {
            dir,
            layers: unique.into_iter().collect(),
            width,
            parts,
            done: HashSet::new(),
        };
        let first = store.layers[0];
        for &k in &store.parts.clone() {
            let (ids, m) = read_part(&part_path(&store.dir, first, k))?;
            if m.cols != width {
                return Err(format_err(
                    &part_path(&store.dir, first, k),
                    format!("rows of width {} but the store's is {width}", m.cols),
                ));
            }
            store.done.extend(ids);
        }
        Ok(store)
    }

    /// Ids of the rows already stored.
    pub fn done(&self) -> &HashSet<String> {
        &self.done
    }

    /// The layers, ascending.
    pub fn layers(&self) -> &[usize] {
        &self.layers
    }

    /// Appends a part: `ids[i]`'s activation at layer `layers()[l]` is
    /// `rows[l][i]`. Ids must be new.
    pub fn append(&mut self, ids: &[String], rows: &[Vec<Vec<f32>>]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        if rows.len() != self.layers.len() {
            return Err(Error::Shape(format!(
                "{} layers of rows for a store of {} layers",
                rows.len(),
                self.layers.len()
            )));
        }
        let mut seen = HashSet::new();
        for id in ids {
            if self.done.contains(id) || !seen.insert(id.as_str()) {
                return Err(Error::InvalidInput(format!(
                    "activation row `{id}` is already stored"
                )));
            }
        }
        for (l, layer_rows) in rows.iter().enumerate() {
            if layer_rows.len() != ids.len() || layer_rows.iter().any(|r| r.len() != self.width) {
                return Err(Error::Shape(format!(
                    "layer {}: expected {} rows of {} values",
                    self.layers[l],
                    ids.len(),
                    self.width
                )));
            }
        }
        let k = self.parts.last().map_or(0, |k| k + 1);
        for (l, layer_rows) in rows.iter().enumerate() {
            let path = part_path(&self.dir, self.layers[l], k);
            write_part(&path, ids, layer_rows, self.width)?;
        }
        self.parts.push(k);
        self.done.extend(ids.iter().cloned());
        Ok(())
    }

    /// Every stored row of `layer`, in the order written.
    pub fn read_layer(&self, layer: usize) -> Result<(Vec<String>, Matrix<f32>)> {
        if !self.layers.contains(&layer) {
            return Err(Error::InvalidInput(format!(
                "layer {layer} is not in the store (layers {:?})",
                self.layers
            )));
        }
        let (mut ids, mut data) = (Vec::new(), Vec::new());
        for &k in &self.parts {
            let (i, m) = read_part(&part_path(&self.dir, layer, k))?;
            ids.extend(i);
            data.extend(m.data);
        }
        let n = ids.len();
        Ok((ids, Matrix::new(n, self.width, data).expect("rows × width")))
    }
}

fn part_path(dir: &Path, layer: usize, k: u32) -> PathBuf {
    dir.join(format!("layer-{layer}"))
        .join(format!("part-{k:05}.parquet"))
}

fn part_index(name: &str) -> Option<u32> {
    name.strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}

fn write_part(path: &Path, ids: &[String], rows: &[Vec<f32>], width: usize) -> Result<()> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new(
            "activations",
            DataType::FixedSizeList(item.clone(), width as i32),
            false,
        ),
    ]));
    let values = Float32Array::from(rows.iter().flatten().copied().collect::<Vec<f32>>());
    let list = FixedSizeListArray::try_new(item, width as i32, Arc::new(values), None)
        .map_err(|e| format_err(path, format!("cannot build the rows: {e}")))?;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(ids.to_vec())), Arc::new(list)],
    )
    .map_err(|e| format_err(path, format!("cannot build the rows: {e}")))?;
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
    let mut w = ArrowWriter::try_new(file, schema, None)
        .map_err(|e| format_err(&tmp, format!("cannot write Parquet: {e}")))?;
    w.write(&batch)
        .and_then(|()| w.close().map(|_| ()))
        .map_err(|e| format_err(&tmp, format!("cannot write Parquet: {e}")))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

fn read_part(path: &Path) -> Result<(Vec<String>, Matrix<f32>)> {
    let file = File::open(path).map_err(|e| io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| format_err(path, format!("not a readable Parquet file: {e}")))?;
    let (mut ids, mut data, mut width) = (Vec::new(), Vec::new(), 0);
    for batch in reader {
        let batch = batch.map_err(|e| format_err(path, format!("cannot read Parquet: {e}")))?;
        let (Some(id), Some(act)) = (
            batch.column_by_name("id"),
            batch.column_by_name("activations"),
        ) else {
            return Err(format_err(path, "expected columns `id` and `activations`"));
        };
        let (Some(id), Some(act)) = (id.as_string_opt::<i32>(), act.as_fixed_size_list_opt())
        else {
            return Err(format_err(path, "unexpected column types"));
        };
        width = act.value_length() as usize;
        ids.extend(id.iter().map(|s| s.unwrap_or_default().to_string()));
        let values = act.values().as_primitive::<Float32Type>();
        data.extend(values.values().iter().copied());
        if act.null_count() > 0 {
            return Err(format_err(path, "null activation rows"));
        }
    }
    let n = ids.len();
    let m =
        Matrix::new(n, width, data).ok_or_else(|| format_err(path, "ragged activation rows"))?;
    Ok((ids, m))
}
