//! Parquet activations (files written by tests/data/gen_parquet.py with pyarrow
//! from wide_f32_x.npy): both layouts give the .npy matrix exactly; ragged rows
//! and nulls are errors naming file, row and column.
#![cfg(feature = "parquet")]

use std::path::PathBuf;

use pref_data::npy::read_npy_matrix_f64;
use pref_probe::read_activations;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn list_and_column_layouts_equal_the_npy() {
    let want = read_npy_matrix_f64(data("wide_f32_x.npy")).unwrap();
    for f in ["acts_list.parquet", "acts_columns.parquet"] {
        let got = read_activations(data(f)).unwrap();
        assert_eq!(got, want, "{f}");
    }
}

#[test]
fn ragged_and_null_rows_are_errors_with_row_and_column() {
    let e = read_activations(data("acts_ragged.parquet"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("acts_ragged.parquet: row 4")
            && e.contains("activations")
            && e.contains("59 values where earlier rows have 60"),
        "{e}"
    );
    let e = read_activations(data("acts_null.parquet"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("acts_null.parquet: row 6") && e.contains("f2") && e.contains("null"),
        "{e}"
    );
    let e = read_activations(data("missing.parquet"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.parquet"), "{e}");
}
