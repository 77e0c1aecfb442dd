"""Parquet activation fixtures for tests/parquet.rs (pyarrow).

python3 gen_parquet.py — writes, from wide_f32_x.npy (40 × 60 float32):
- acts_list.parquet: `id` (string) + `activations` (list<float32>), one row per item;
- acts_columns.parquet: `id` + one float64 column per feature (`f0` … `f59`);
- acts_ragged.parquet: list<float64> whose row 3 has one value too few;
- acts_null.parquet: per-feature columns with a null in row 5 of `f2`.
"""
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

X = np.load("wide_f32_x.npy")
ids = pa.array([f"task-{i}" for i in range(len(X))])
lst = pa.array([row.tolist() for row in X], type=pa.list_(pa.float32()))
pq.write_table(pa.table({"id": ids, "activations": lst}), "acts_list.parquet", row_group_size=16)
cols = {"id": ids}
cols.update({f"f{j}": pa.array(X[:, j].astype(np.float64)) for j in range(X.shape[1])})
pq.write_table(pa.table(cols), "acts_columns.parquet")
rows = [row.astype(np.float64).tolist() for row in X]
rows[3] = rows[3][:-1]
pq.write_table(pa.table({"activations": pa.array(rows, type=pa.list_(pa.float64()))}), "acts_ragged.parquet")
f2 = X[:, 2].astype(np.float64).tolist()
f2[5] = None
pq.write_table(pa.table({"f0": pa.array(X[:, 0].astype(np.float64)), "f2": pa.array(f2)}), "acts_null.parquet")
