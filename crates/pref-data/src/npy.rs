//! `.npy` matrices and vectors (read and write), and the activation matrix type.
//!
//! Parsing is done by the `npyz` crate; this module adds shape checks,
//! conversions between the element types numpy users actually save, and
//! errors that name the file.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use npyz::{DType, NpyFile, Order, WriterBuilder};

use crate::error::{quote, shorten_quotes, Error, Result};

/// A dense row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix<T> {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub data: Vec<T>,
}

impl<T: Copy> Matrix<T> {
    /// Builds a matrix, checking that `data.len() == rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<T>) -> Option<Self> {
        (rows.checked_mul(cols) == Some(data.len())).then_some(Self { rows, cols, data })
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// The `shape` tuple of a `.npy` header, read before npyz parses it: npyz
/// multiplies the dimensions without an overflow check (a panic in a debug
/// build, a wrapped count in a release one), so a hostile header must be caught
/// first. Only the shape is read here; `None` when it cannot be found, and npyz
/// then reports what is wrong with the header.
fn header_shape(f: &mut File) -> Option<Vec<u64>> {
    use std::io::{Read, Seek};
    let mut pre = [0u8; 12];
    let read = f.read_exact(&mut pre);
    f.rewind().ok()?;
    read.ok()?;
    if &pre[..6] != b"\x93NUMPY" {
        return None;
    }
    let (len, start) = match pre[6] {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as u64, 10),
        _ => (
            u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as u64,
            12,
        ),
    };
    let mut header = vec![0u8; len.min(1 << 20) as usize];
    f.seek(std::io::SeekFrom::Start(start)).ok()?;
    let read = f.read_exact(&mut header);
    f.rewind().ok()?;
    read.ok()?;
    let text = String::from_utf8_lossy(&header);
    let after = &text[text.find("shape")? + 5..];
    let tuple = &after[after.find('(')? + 1..];
    let tuple = &tuple[..tuple.find(')')?];
    tuple
        .split(',')
        .map(|d| d.trim().trim_end_matches('L'))
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<u64>().ok())
        .collect()
}

fn open(path: &Path) -> Result<NpyFile<BufReader<File>>> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    if let Some(shape) = header_shape(&mut f) {
        // Every element takes at least one byte.
        match shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d)) {
            Some(n) if n <= file_len => {}
            n => {
                return Err(Error::format(
                    path,
                    format!(
                        "the header's shape {shape:?} has {} elements, more than the file's \
                         {file_len} bytes can hold",
                        n.map_or("more than 2^64".to_string(), |n| n.to_string())
                    ),
                ))
            }
        }
    }
    let npy = NpyFile::new(BufReader::new(f)).map_err(|e| {
        Error::format(
            path,
            format!("not a valid .npy file: {}", shorten_quotes(&e.to_string())),
        )
    })?;
    // The header's shape must fit the file: a shape whose product overflows, or
    // that promises more data than the file holds, is refused here rather than
    // allocated for or indexed past.
    let shape = npy.shape().to_vec();
    let item = match npy.dtype() {
        DType::Plain(ts) => ts.size_field(),
        _ => 1,
    };
    let bytes = shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .and_then(|n| n.checked_mul(item));
    match bytes {
        Some(b) if b <= file_len && usize::try_from(b).is_ok() => Ok(npy),
        _ => Err(Error::format(
            path,
            format!(
                "the header's shape {shape:?} (of {item}-byte elements) needs {} bytes of data, \
                 but the file has {file_len} bytes",
                bytes.map_or("more than 2^64".to_string(), |b| b.to_string())
            ),
        )),
    }
}

/// The numpy type string, e.g. `<f4`, `<i8`.
fn type_str(path: &Path, dtype: &DType) -> Result<String> {
    match dtype {
        DType::Plain(ts) => Ok(ts.to_string()),
        other => Err(Error::format(
            path,
            format!(
                "unsupported dtype {}: expected a plain numeric array",
                quote(&other.descr())
            ),
        )),
    }
}

/// Reads all elements as f64 (from f2? no: f4, f8, signed and unsigned ints).
fn read_as_f64(path: &Path, npy: NpyFile<BufReader<File>>, ts: &str) -> Result<Vec<f64>> {
    let err = |e: std::io::Error| Error::format(path, format!("cannot read data: {e}"));
    Ok(match &ts[1..] {
        "f8" => npy.into_vec::<f64>().map_err(err)?,
        "f4" => npy
            .into_vec::<f32>()
            .map_err(err)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "i8" => npy
            .into_vec::<i64>()
            .map_err(err)?
            .into_iter()
            .map(|x| x as f64)
            .collect(),
        "i4" => npy
            .into_vec::<i32>()
            .map_err(err)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "i2" => npy
            .into_vec::<i16>()
            .map_err(err)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "i1" => npy
            .into_vec::<i8>()
            .map_err(err)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "u8" => npy
            .into_vec::<u64>()
            .map_err(err)?
            .into_iter()
            .map(|x| x as f64)
            .collect(),
        "u4" => npy
            .into_vec::<u32>()
            .map_err(err)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "u2" => npy
            .into_vec::<u16>()
            .map_err(err)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "u1" => npy
            .into_vec::<u8>()
            .map_err(err)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "b1" => npy
            .into_vec::<bool>()
            .map_err(err)?
            .into_iter()
            .map(|b| b as u8 as f64)
            .collect(),
        _ => return Err(Error::format(path, format!("unsupported dtype `{ts}`"))),
    })
}

fn matrix_shape(path: &Path, shape: &[u64]) -> Result<(usize, usize)> {
    match shape {
        [r, c] => Ok((*r as usize, *c as usize)),
        _ => Err(Error::format(
            path,
            format!("expected a 2-D array, found shape {shape:?}"),
        )),
    }
}

fn c_order<T: Copy>(order: Order, rows: usize, cols: usize, data: Vec<T>) -> Vec<T> {
    match order {
        Order::C => data,
        // Fortran order stores column after column: transpose to row-major.
        Order::Fortran => {
            let mut out = Vec::with_capacity(data.len());
            for i in 0..rows {
                for j in 0..cols {
                    out.push(data[j * rows + i]);
                }
            }
            out
        }
    }
}

/// Reads a 2-D numeric `.npy` as f64 (f4/f8/integers accepted; C or Fortran order).
pub fn read_npy_matrix_f64(path: impl AsRef<Path>) -> Result<Matrix<f64>> {
    let path = path.as_ref();
    let npy = open(path)?;
    let (rows, cols) = matrix_shape(path, npy.shape())?;
    let order = npy.order();
    let ts = type_str(path, &npy.dtype())?;
    let data = read_as_f64(path, npy, &ts)?;
    Ok(Matrix {
        rows,
        cols,
        data: c_order(order, rows, cols, data),
    })
}

/// Reads a 2-D `.npy` of f4 (or f8, converted) as f32.
pub fn read_npy_matrix_f32(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    let npy = open(path)?;
    let (rows, cols) = matrix_shape(path, npy.shape())?;
    let order = npy.order();
    let ts = type_str(path, &npy.dtype())?;
    let err = |e: std::io::Error| Error::format(path, format!("cannot read data: {e}"));
    let data = match &ts[1..] {
        "f4" => npy.into_vec::<f32>().map_err(err)?,
        "f8" => npy
            .into_vec::<f64>()
            .map_err(err)?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        _ => {
            return Err(Error::format(
                path,
                format!("expected float32 or float64 data, found dtype `{ts}`"),
            ))
        }
    };
    Ok(Matrix {
        rows,
        cols,
        data: c_order(order, rows, cols, data),
    })
}

fn vector_len(path: &Path, shape: &[u64]) -> Result<usize> {
    match shape {
        [n] => Ok(*n as usize),
        [n, 1] => Ok(*n as usize),
        _ => Err(Error::format(
            path,
            format!("expected a 1-D array, found shape {shape:?}"),
        )),
    }
}

/// Reads a 1-D numeric `.npy` (floats or integers) as f64.
pub fn read_npy_vector_f64(path: impl AsRef<Path>) -> Result<Vec<f64>> {
    let path = path.as_ref();
    let npy = open(path)?;
    vector_len(path, npy.shape())?;
    let ts = type_str(path, &npy.dtype())?;
    read_as_f64(path, npy, &ts)
}

/// Reads a 1-D integer `.npy` (e.g. row indices) as i64.
pub fn read_npy_vector_i64(path: impl AsRef<Path>) -> Result<Vec<i64>> {
    let path = path.as_ref();
    let npy = open(path)?;
    vector_len(path, npy.shape())?;
    let ts = type_str(path, &npy.dtype())?;
    let err = |e: std::io::Error| Error::format(path, format!("cannot read data: {e}"));
    Ok(match &ts[1..] {
        "i8" => npy.into_vec::<i64>().map_err(err)?,
        "i4" => npy
            .into_vec::<i32>()
            .map_err(err)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "i2" => npy
            .into_vec::<i16>()
            .map_err(err)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "u4" => npy
            .into_vec::<u32>()
            .map_err(err)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "u8" => npy
            .into_vec::<u64>()
            .map_err(err)?
            .into_iter()
            .map(|x| {
                i64::try_from(x)
                    .map_err(|_| Error::format(path, format!("value {x} does not fit in i64")))
            })
            .collect::<Result<_>>()?,
        _ => {
            return Err(Error::format(
                path,
                format!("expected an integer array, found dtype `{ts}`"),
            ))
        }
    })
}

fn write_npy<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[u64],
    data: &[T],
) -> Result<()> {
    crate::run::with_atomic_path(path, |tmp| {
        let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(std::io::BufWriter::new(file))
            .begin_nd()
            .map_err(|e| Error::io(path, e))?;
        w.extend(data.iter().copied())
            .map_err(|e| Error::io(path, e))?;
        w.finish().map_err(|e| Error::io(path, e))
    })
}

/// Writes a row-major f32 matrix as a C-order `<f4` `.npy`.
pub fn write_npy_matrix_f32(path: impl AsRef<Path>, m: &Matrix<f32>) -> Result<()> {
    write_npy(path.as_ref(), &[m.rows as u64, m.cols as u64], &m.data)
}

/// Writes a row-major f64 matrix as a C-order `<f8` `.npy`.
pub fn write_npy_matrix_f64(path: impl AsRef<Path>, m: &Matrix<f64>) -> Result<()> {
    write_npy(path.as_ref(), &[m.rows as u64, m.cols as u64], &m.data)
}

/// Writes a 1-D f64 vector as `<f8` `.npy`.
pub fn write_npy_vector_f64(path: impl AsRef<Path>, v: &[f64]) -> Result<()> {
    write_npy(path.as_ref(), &[v.len() as u64], v)
}

/// Writes a 1-D i64 vector as `<i8` `.npy`.
pub fn write_npy_vector_i64(path: impl AsRef<Path>, v: &[i64]) -> Result<()> {
    write_npy(path.as_ref(), &[v.len() as u64], v)
}

/// Per-item activations of one layer: `ids[i]` owns row `i` of `values`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationMatrix {
    /// Item (task) ids, one per row.
    pub ids: Vec<String>,
    /// Layer index the activations come from, when known.
    pub layer: Option<usize>,
    /// `[n, d]` float32 activations.
    pub values: Matrix<f32>,
}

impl ActivationMatrix {
    /// Pairs a matrix with its row ids, checking the counts agree.
    pub fn new(
        ids: Vec<String>,
        layer: Option<usize>,
        values: Matrix<f32>,
    ) -> std::result::Result<Self, String> {
        if ids.len() != values.rows {
            return Err(format!(
                "{} ids for a matrix of {} rows",
                ids.len(),
                values.rows
            ));
        }
        Ok(Self { ids, layer, values })
    }

    /// Loads a `[n, d]` `.npy` and a file of ids (one per line, or a JSON array).
    pub fn read_npy(
        npy: impl AsRef<Path>,
        ids: impl AsRef<Path>,
        layer: Option<usize>,
    ) -> Result<Self> {
        let (npy, ids_path) = (npy.as_ref(), ids.as_ref());
        let values = read_npy_matrix_f32(npy)?;
        let text = std::fs::read_to_string(ids_path).map_err(|e| Error::io(ids_path, e))?;
        let ids: Vec<String> = if text.trim_start().starts_with('[') {
            serde_json::from_str(&text).map_err(|e| {
                Error::format(
                    ids_path,
                    format!(
                        "expected a JSON array of strings: {}",
                        shorten_quotes(&e.to_string())
                    ),
                )
            })?
        } else {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        Self::new(ids, layer, values).map_err(|m| Error::format(npy, m))
    }
}
