//! Activation matrices and targets: element types, row splits, file readers.

use std::path::Path;

use pref_data::npy::{read_npy_matrix_f64, read_npy_vector_i64};
use pref_data::Matrix;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Element types accepted for activations: `f32` (what models emit) and `f64`.
/// All arithmetic is done in `f64` (see the crate README for why).
pub trait Element: Copy + Send + Sync + 'static {
    /// The value as `f64` (exact for both types).
    fn to_f64(self) -> f64;
}

impl Element for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Element for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

/// Training and test rows of one data set (indices into the rows of X and y).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training rows, in the order the folds of k-fold CV see them.
    pub train: Vec<usize>,
    /// Held-out rows.
    pub test: Vec<usize>,
}

impl Split {
    /// A seeded random split: `ceil(test_fraction · n)` rows go to the test set (as
    /// sklearn's `train_test_split` counts them). The rows are permuted with
    /// ChaCha8 seeded by `seed`; the first `n_test` of the permutation are the test
    /// rows and the rest, in permuted order, the training rows.
    pub fn random(n: usize, test_fraction: f64, seed: u64) -> Result<Self> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::param(
                "test_fraction",
                format!("must be in (0, 1), got {test_fraction}"),
            ));
        }
        let n_test = (test_fraction * n as f64).ceil() as usize;
        if n_test == 0 || n_test + 2 > n {
            return Err(Error::InvalidInput(format!(
                "a test fraction of {test_fraction} of {n} rows leaves {n_test} test and {} training rows; need at least 1 and 2",
                n.saturating_sub(n_test)
            )));
        }
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let train = perm.split_off(n_test);
        Ok(Self { train, test: perm })
    }

    /// Explicit index lists, checked against `n` rows: every index in range, none
    /// repeated, and no row in both lists.
    pub fn from_indices(n: usize, train: &[i64], test: &[i64]) -> Result<Self> {
        let mut seen = vec![0u8; n];
        let mut check = |name: &str, idx: &[i64], tag: u8| -> Result<Vec<usize>> {
            let mut out = Vec::with_capacity(idx.len());
            for (pos, &i) in idx.iter().enumerate() {
                if i < 0 || i as u64 >= n as u64 {
                    return Err(Error::Index(format!(
                        "{name} index {i} at position {pos} is out of range for {n} rows (valid 0..={})",
                        n as i64 - 1
                    )));
                }
                let i = i as usize;
                match seen[i] {
                    0 => seen[i] = tag,
                    t if t == tag => {
                        return Err(Error::Index(format!(
                            "{name} index {i} at position {pos} is repeated"
                        )))
                    }
                    _ => {
                        return Err(Error::Index(format!(
                            "row {i} is in both the training and the test indices"
                        )))
                    }
                }
                out.push(i);
            }
            Ok(out)
        };
        let train = check("training", train, 1)?;
        let test = check("test", test, 2)?;
        if train.len() < 2 || test.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{} training and {} test rows: need at least 2 and 1",
                train.len(),
                test.len()
            )));
        }
        Ok(Self { train, test })
    }
}

/// Checks that `perm` is a permutation of `0..n` and converts it.
pub fn check_permutation(perm: &[i64], n: usize) -> Result<Vec<usize>> {
    if perm.len() != n {
        return Err(Error::Shape(format!(
            "the shuffle permutation has {} entries but there are {n} training rows",
            perm.len()
        )));
    }
    let mut seen = vec![false; n];
    perm.iter()
        .enumerate()
        .map(|(pos, &p)| {
            if p < 0 || p as u64 >= n as u64 {
                return Err(Error::Index(format!(
                    "permutation entry {p} at position {pos} is out of range for {n} training rows"
                )));
            }
            if std::mem::replace(&mut seen[p as usize], true) {
                return Err(Error::Index(format!(
                    "permutation entry {p} at position {pos} is repeated: not a permutation"
                )));
            }
            Ok(p as usize)
        })
        .collect()
}

/// Reads an activation matrix `[n, d]` from `.npy` (any float or integer dtype,
/// C or Fortran order) or, with the `parquet` feature, from Parquet (see
/// [`crate::parquet`]). Values are returned as `f64`.
pub fn read_activations(path: impl AsRef<Path>) -> Result<Matrix<f64>> {
    let path = path.as_ref();
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".parquet") || name.ends_with(".pq") {
        #[cfg(feature = "parquet")]
        return crate::parquet::read_parquet_matrix(path);
        #[cfg(not(feature = "parquet"))]
        return Err(Error::Data(pref_data::Error::Format {
            path: path.to_path_buf(),
            message: "Parquet support is not compiled in (feature `parquet` of pref-probe)".into(),
        }));
    }
    Ok(read_npy_matrix_f64(path)?)
}

/// Reads targets from `.npy`: a vector `[n]` (one target) or a matrix `[n, t]`
/// (several preference signals), as an `n × t` matrix.
pub fn read_targets(path: impl AsRef<Path>) -> Result<Matrix<f64>> {
    let path = path.as_ref();
    match pref_data::npy::read_npy_vector_f64(path) {
        Ok(v) => {
            let n = v.len();
            Ok(Matrix::new(n, 1, v).expect("length matches"))
        }
        Err(_) => Ok(read_npy_matrix_f64(path)?),
    }
}

/// Reads a 1-D integer `.npy` of row indices.
pub fn read_indices(path: impl AsRef<Path>) -> Result<Vec<i64>> {
    Ok(read_npy_vector_i64(path)?)
}

/// Rejects non-finite values, naming the first offending row and column.
pub(crate) fn check_finite<T: Element>(what: &str, m: &Matrix<T>) -> Result<()> {
    if let Some(pos) = m.data.iter().position(|v| !v.to_f64().is_finite()) {
        return Err(Error::InvalidInput(format!(
            "{what} [{} × {}] has a non-finite value at row {}, column {}",
            m.rows,
            m.cols,
            pos / m.cols.max(1),
            pos % m.cols.max(1)
        )));
    }
    Ok(())
}
