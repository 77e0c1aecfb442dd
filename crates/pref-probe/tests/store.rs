//! The per-layer Parquet activation store: rows read back as written (and by
//! the Parquet reader that tests/parquet.rs checks against pyarrow's files), a
//! killed writer's incomplete part and temporary file removed on reopening, so
//! nothing is lost or stored twice; bad input refused.
#![cfg(feature = "parquet")]

use pref_probe::{read_activations, ActivationStore};

const W: usize = 4;

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("item-{i}")).collect()
}

/// Row `i` of layer `l`: distinct, exactly representable values.
fn rows(range: std::ops::Range<usize>, layer: usize) -> Vec<Vec<f32>> {
    range
        .map(|i| {
            (0..W)
                .map(|j| (i * 10 + j) as f32 + layer as f32 / 4.0)
                .collect()
        })
        .collect()
}

#[test]
fn parts_read_back_and_a_killed_part_is_redone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("activations");
    let mut s = ActivationStore::open(&dir, &[15, 7], W).unwrap();
    assert_eq!(s.layers(), [7, 15]);
    for r in [0..5, 5..10, 10..12] {
        s.append(&ids(r.clone()), &[rows(r.clone(), 7), rows(r, 15)])
            .unwrap();
    }
    let (got_ids, m) = s.read_layer(15).unwrap();
    assert_eq!(got_ids, ids(0..12));
    assert_eq!(m.data, rows(0..12, 15).concat());
    // Each part is a plain Parquet file of `id` + `activations`.
    let part = read_activations(dir.join("layer-7/part-00001.parquet")).unwrap();
    let want: Vec<f64> = rows(5..10, 7).concat().into_iter().map(f64::from).collect();
    assert_eq!((part.rows, part.cols, part.data), (5, W, want));

    // A kill after layer 7's part 3 was renamed but before layer 15's, and a
    // temporary file of a part being written.
    s.append(&ids(12..14), &[rows(12..14, 7), rows(12..14, 15)])
        .unwrap();
    std::fs::remove_file(dir.join("layer-15/part-00003.parquet")).unwrap();
    std::fs::write(dir.join("layer-15/part-00004.parquet.tmp"), b"torn").unwrap();
    drop(s);
    let mut s = ActivationStore::open(&dir, &[7, 15], W).unwrap();
    assert_eq!(
        s.done().len(),
        12,
        "the incomplete part's rows are to be redone"
    );
    assert!(!dir.join("layer-7/part-00003.parquet").exists());
    assert!(!dir.join("layer-15/part-00004.parquet.tmp").exists());
    s.append(&ids(12..14), &[rows(12..14, 7), rows(12..14, 15)])
        .unwrap();
    let (got_ids, m) = s.read_layer(7).unwrap();
    assert_eq!(got_ids, ids(0..14), "nothing lost, nothing twice");
    assert_eq!(m.data, rows(0..14, 7).concat());
}

#[test]
fn bad_rows_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = ActivationStore::open(tmp.path(), &[3], W).unwrap();
    s.append(&ids(0..2), &[rows(0..2, 3)]).unwrap();
    let e = s.append(&ids(1..3), &[rows(1..3, 3)]).unwrap_err();
    assert!(e.to_string().contains("`item-1` is already stored"), "{e}");
    let e = s.append(&ids(5..6), &[vec![vec![1.0; 3]]]).unwrap_err();
    assert!(e.to_string().contains("rows of 4 values"), "{e}");
    let e = s
        .append(&ids(5..6), &[rows(5..6, 3), rows(5..6, 4)])
        .unwrap_err();
    assert!(e.to_string().contains("2 layers of rows"), "{e}");
    let e = s.read_layer(4).unwrap_err();
    assert!(e.to_string().contains("layer 4 is not in the store"), "{e}");
    drop(s);
    let e = ActivationStore::open(tmp.path(), &[3], 8).unwrap_err();
    assert!(e.to_string().contains("width 4"), "{e}");
}
