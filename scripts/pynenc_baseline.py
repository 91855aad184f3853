#!/usr/bin/env python3
"""The access pattern of pynenc's SQLite state backend, measured: its SQL, a
new connection per call with its pragmas, OFFSET pagination. The workloads
of cmd/statebench W1-W6 and W8 on the same data shape (BENCHMARKS.md).
Prints one JSON object per workload, with "impl": "pynenc-python", which
cmd/benchtable and cmd/benchchart read next to statebench's lines.

Usage: python3 scripts/pynenc_baseline.py [N]   (default 20000)"""
import atexit, json, os, random, shutil, sqlite3, sys, tempfile, time
from datetime import datetime, timezone

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
path = os.path.join(tempfile.mkdtemp(), "pynenc.db")
atexit.register(shutil.rmtree, os.path.dirname(path), True)

def conn():
    c = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
    for p in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=10000", "temp_store=MEMORY", "busy_timeout=30000"):
        c.execute("PRAGMA " + p)
    return c

T = "state_backend_"
with conn() as c:
    c.execute(f"CREATE TABLE IF NOT EXISTS {T}results (invocation_id TEXT PRIMARY KEY, result_data BLOB NOT NULL)")
    c.execute(f"""CREATE TABLE IF NOT EXISTS {T}invocations (invocation_id TEXT PRIMARY KEY, call_id_key TEXT NOT NULL,
      task_id_key TEXT NOT NULL, arguments_id TEXT NOT NULL, serialized_arguments TEXT NOT NULL, parent_invocation_id TEXT,
      parent_call_id TEXT, workflow_id TEXT NOT NULL, workflow_type_key TEXT NOT NULL, parent_workflow_id TEXT)""")
    c.execute(f"CREATE INDEX IF NOT EXISTS idx_p ON {T}invocations(parent_invocation_id)")
    c.execute(f"""CREATE TABLE IF NOT EXISTS {T}history (invocation_id TEXT NOT NULL, history_timestamp REAL NOT NULL,
      history_status TEXT NOT NULL, history_json TEXT NOT NULL, PRIMARY KEY (invocation_id, history_timestamp, history_status))""")
    c.commit()

# Random UUID-like ids, as cmd/statebench uses (sequential ids would make every insert an append).
_rnd_ids = random.Random(20250115)
ids = ["%08x-%04x-%04x-%04x-%012x" % tuple(_rnd_ids.getrandbits(b) for b in (32, 16, 16, 16, 48)) for _ in range(N)]
def inv_row(i):
    task = f"bench.module.task_{i % 50}"
    top = ids[i - i % 10]
    parent = None if i % 10 == 0 else top
    return (ids[i], f"{task}:args{i}", task, f"args{i}", json.dumps({"x": str(i)}), parent, top, task, None)

def emit(name, ops, secs):
    print(json.dumps({"workload": name, "dialect": "sqlite", "impl": "pynenc-python", "ops": ops,
                      "seconds": round(secs, 4), "ops_per_sec": round(ops / secs, 1)}), flush=True)

t0 = time.perf_counter()
for b in range(0, N, 100):
    with conn() as c:
        for i in range(b, min(N, b + 100)):
            c.execute(f"""INSERT OR REPLACE INTO {T}invocations (invocation_id, call_id_key, task_id_key, arguments_id,
              serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""", inv_row(i))
        c.commit()
emit("W1_upsert", N, time.perf_counter() - t0)

base = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
statuses = ["registered", "pending", "running", "success"]
t0 = time.perf_counter()
for s, st in enumerate(statuses):
    for i in range(N):
        ts = base + s * N + i
        h = json.dumps({"invocation_id": ids[i], "_timestamp": datetime.fromtimestamp(ts, timezone.utc).isoformat(),
                        "status_record": {"status": st, "runner_id": None, "timestamp": datetime.fromtimestamp(ts, timezone.utc).isoformat()},
                        "runner_context_id": "runner-1", "registered_by_inv_id": None})
        with conn() as c:
            c.execute(f"INSERT OR REPLACE INTO {T}history (invocation_id, history_timestamp, history_status, history_json) VALUES (?, ?, ?, ?)",
                      (ids[i], ts, st, h))
            c.commit()
emit("W2_history", 4 * N, time.perf_counter() - t0)

rnd = random.Random(1)
t0 = time.perf_counter()
for _ in range(N):
    with conn() as c:
        cur = c.execute(f"""SELECT invocation_id, call_id_key, serialized_arguments, parent_invocation_id, workflow_id,
          workflow_type_key, parent_workflow_id FROM {T}invocations WHERE invocation_id = ?""", (ids[rnd.randrange(N)],))
        row = cur.fetchone(); json.loads(row[2])
emit("W3_get_invocation", N, time.perf_counter() - t0)

t0 = time.perf_counter()
for _ in range(N):
    with conn() as c:
        rows = c.execute(f"SELECT history_json FROM {T}history WHERE invocation_id = ? ORDER BY history_timestamp ASC",
                         (ids[rnd.randrange(N)],)).fetchall()
        [json.loads(r[0]) for r in rows]
emit("W4_get_history", N, time.perf_counter() - t0)

t0 = time.perf_counter()
for i in range(N):
    with conn() as c:
        c.execute(f"INSERT OR REPLACE INTO {T}results (invocation_id, result_data) VALUES (?, ?)", (ids[i], json.dumps(i)))
        c.commit()
for i in range(N):
    with conn() as c:
        c.execute(f"SELECT result_data FROM {T}results WHERE invocation_id = ?", (ids[i],)).fetchone()
emit("W5_results", 2 * N, time.perf_counter() - t0)

lo, hi = base - 1, base + 4 * N + 1
t0 = time.perf_counter(); off = 0; got = 0
while True:
    with conn() as c:
        rows = c.execute(f"""SELECT history_json FROM {T}history WHERE history_timestamp >= ? AND history_timestamp <= ?
          ORDER BY history_timestamp ASC LIMIT ? OFFSET ?""", (lo, hi, 100, off)).fetchall()
    if not rows: break
    got += len(rows); off += 100
    [json.loads(r[0]) for r in rows]
assert got == 4 * N, got
emit("W6_history_range", got, time.perf_counter() - t0)

t0 = time.perf_counter(); off = 0; got = 0
while True:
    with conn() as c:
        rows = c.execute(f"""SELECT DISTINCT invocation_id FROM {T}history WHERE history_timestamp >= ? AND history_timestamp <= ?
          ORDER BY invocation_id LIMIT ? OFFSET ?""", (lo, hi, 100, off)).fetchall()
    if not rows: break
    got += len(rows); off += 100
assert got == N, got
emit("W8_invocation_range", got, time.perf_counter() - t0)
