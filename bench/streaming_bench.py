"""in_memory: false at scale: the same training as bench/spec.json on BENCH_STREAM_ROWS rows
streamed from a spill file under a 256 MB memory limit, against an in-memory run on 60,000 of
them in the same server. Prints key=value lines; the NOTICEs go to stderr.

    /usr/bin/python3 streaming_bench.py SOCKET_DIR PORT SPEC.json
"""
import json
import sys
import time

from worker_watch import WorkerWatch, connect as connect_to, out

MEMORY_LIMIT = 256 * 1024 * 1024
IN_MEMORY_ROWS = 60_000
STEPS = 1500

socket_dir, port, spec_path = sys.argv[1:4]
with open(spec_path) as f:
    base_spec = json.load(f)


def connect():
    return connect_to(socket_dir, port)


def train(identifier, changes):
    """Runs the spec with `changes`, watching its worker; returns (rows, seconds, watch)."""
    spec = dict(base_spec, identifier=identifier, max_iterations=STEPS, validation_interval=STEPS, **changes)
    conn = connect()
    cur = conn.cursor()
    with WorkerWatch(socket_dir, port, identifier) as watch:
        t0 = time.time()
        try:
            cur.execute("SELECT pinnacle_train(%s, wait => true)", [json.dumps(spec)])
            run_id = cur.fetchone()[0]
        finally:
            seconds = time.time() - t0
            for notice in conn.notices:
                sys.stderr.write(notice)
    cur.execute("SELECT status, train_rows FROM pinnacle.runs WHERE id = %s", [run_id])
    status, rows = cur.fetchone()
    if status != "succeeded":
        sys.exit(f"run {run_id} ({identifier}) ended {status}")
    return rows, seconds, watch


rows, seconds, watch = train("bench_in_memory", {"select": f"SELECT pixels, label FROM images LIMIT {IN_MEMORY_ROWS}"})
out("in_memory_rows", rows)
out("in_memory_samples_per_s", f"{watch.rows_per_second or float('nan'):.0f}")
out("in_memory_peak_rss_mb", f"{(watch.hwm_kb or float('nan')) / 1024:.0f}")

compute = dict(base_spec.get("compute_kwargs", {}), memory_limit=MEMORY_LIMIT)
rows, seconds, watch = train("bench_streamed", {
    "in_memory": False, "data_prefetch": True, "prefetch_size": 1000, "prefetch_factor": 16,
    "compute_kwargs": compute})
out("streamed_rows", rows)
out("streamed_gb_float32", f"{rows * 785 * 4 / 1e9:.2f}")
out("streamed_e2e_s", f"{seconds:.1f}")
out("streamed_samples_per_s", f"{watch.rows_per_second or float('nan'):.0f}")
out("streamed_peak_rss_mb", f"{(watch.hwm_kb or float('nan')) / 1024:.0f}")
out("memory_limit_mb", MEMORY_LIMIT // (1024 * 1024))
