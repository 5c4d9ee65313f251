"""in_memory: false at scale: the same training as bench/spec.json on BENCH_STREAM_ROWS rows
streamed from a spill file under a 256 MB memory limit, against an in-memory run on 60,000 of
them in the same server. Prints key=value lines; the NOTICEs go to stderr.

    /usr/bin/python3 streaming_bench.py SOCKET_DIR PORT SPEC.json
"""
import json
import sys
import threading
import time

import psycopg2

MEMORY_LIMIT = 256 * 1024 * 1024
IN_MEMORY_ROWS = 60_000
STEPS = 1500

socket_dir, port, spec_path = sys.argv[1:4]
with open(spec_path) as f:
    base_spec = json.load(f)


def connect():
    conn = psycopg2.connect(host=socket_dir, port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    return conn


def out(key, value):
    print(f"{key}={value}", flush=True)


def watch(identifier, stop, seen):
    """Polls the running worker: its peak RSS (VmHWM) and its own training rows/s, which it
    counts from its first step, so the feed and the spill are not in it."""
    cur = connect().cursor()
    while not stop.is_set():
        cur.execute("SELECT r.worker_pid, p.rows_per_second FROM pinnacle.runs r"
                    " LEFT JOIN pinnacle.progress p ON p.run_id = r.id"
                    " WHERE r.identifier = %s AND r.status = 'running'", [identifier])
        for pid, rows_per_second in cur.fetchall():
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            seen["hwm_kb"] = int(line.split()[1])
            except OSError:
                pass  # the worker just exited
            if rows_per_second is not None:
                seen["rows_per_second"] = rows_per_second
        time.sleep(0.1)


def train(identifier, changes):
    spec = dict(base_spec, identifier=identifier, max_iterations=STEPS, validation_interval=STEPS, **changes)
    seen, stop = {}, threading.Event()
    watcher = threading.Thread(target=watch, args=(identifier, stop, seen))
    watcher.start()
    conn = connect()
    t0 = time.time()
    try:
        cur = conn.cursor()
        cur.execute("SELECT pinnacle_train(%s, wait => true)", [json.dumps(spec)])
        run_id = cur.fetchone()[0]
    finally:
        seconds = time.time() - t0
        stop.set()
        watcher.join()
        for notice in conn.notices:
            sys.stderr.write(notice)
    cur.execute("SELECT status, iterations, train_rows FROM pinnacle.runs WHERE id = %s", [run_id])
    status, iterations, rows = cur.fetchone()
    if status != "succeeded":
        sys.exit(f"run {run_id} ({identifier}) ended {status}")
    return rows, seconds, seen


cur = connect().cursor()
cur.execute("LOAD 'pinnacle_train'")
rows, seconds, seen = train("bench_in_memory", {"select": f"SELECT pixels, label FROM images LIMIT {IN_MEMORY_ROWS}"})
out("in_memory_rows", rows)
out("in_memory_samples_per_s", f"{seen.get('rows_per_second', float('nan')):.0f}")
out("in_memory_peak_rss_mb", f"{seen.get('hwm_kb', float('nan')) / 1024:.0f}")

compute = dict(base_spec.get("compute_kwargs", {}), memory_limit=MEMORY_LIMIT)
rows, seconds, seen = train("bench_streamed", {
    "in_memory": False, "data_prefetch": True, "prefetch_size": 1000, "prefetch_factor": 16,
    "compute_kwargs": compute})
out("streamed_rows", rows)
out("streamed_gb_float32", f"{rows * 785 * 4 / 1e9:.2f}")
out("streamed_e2e_s", f"{seconds:.1f}")
out("streamed_samples_per_s", f"{seen.get('rows_per_second', float('nan')):.0f}")
out("streamed_peak_rss_mb", f"{seen.get('hwm_kb', float('nan')) / 1024:.0f}")
out("memory_limit_mb", MEMORY_LIMIT // (1024 * 1024))
