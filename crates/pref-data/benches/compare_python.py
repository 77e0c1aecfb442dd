"""Reference timings for reading 1M battles in Python (compare with benches/read_battles.rs).

pip install pyarrow; python3 crates/pref-data/benches/compare_python.py
Writes the same shape of data as the criterion bench (200 models, FastChat-like names,
a/b/tie winners) and times: the json-module line loop (what analysis scripts do),
pyarrow.json.read_json (multi-threaded C++), and pyarrow.parquet.read_table.
"""
import json, os, random, tempfile, time
import pyarrow.json as pj, pyarrow.parquet as pq, pyarrow as pa

N = 1_000_000
rng = random.Random(1)
names = [f"model-{i:03d}-{1 + i % 70}b-chat-v{i % 4}" for i in range(200)]
d = tempfile.mkdtemp()
jl, pqf = os.path.join(d, "b.jsonl"), os.path.join(d, "b.parquet")
rows = []
for _ in range(N):
    a = rng.randrange(200); b = (a + 1 + rng.randrange(199)) % 200
    r = rng.randrange(10)
    rows.append({"a": names[a], "b": names[b], "winner": "tie" if r == 0 else ("a" if r <= 5 else "b")})
with open(jl, "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
t = pa.Table.from_pylist(rows)
pq.write_table(t.cast(pa.schema([(c, pa.dictionary(pa.int32(), pa.string())) for c in ["a", "b", "winner"]])), pqf)

def best(fn, k=3):
    out = []
    for _ in range(k):
        s = time.perf_counter(); fn(); out.append(time.perf_counter() - s)
    return min(out)

t1 = best(lambda: [json.loads(l) for l in open(jl)])
t2 = best(lambda: pj.read_json(jl))
t3 = best(lambda: pq.read_table(pqf))
for name, s in [("json.loads loop", t1), ("pyarrow.json.read_json", t2), ("pyarrow.parquet.read_table", t3)]:
    print(f"{name:28s} {s*1000:8.1f} ms  {N/s/1e6:6.2f} M rows/s")
