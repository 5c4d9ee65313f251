"""pinnacle_train's figures: the feed, training samples/s, end-to-end time, the worker's peak
RSS and pinnacle_predict's rows/s. Prints key=value lines; the NOTICEs go to stderr.

    /usr/bin/python3 pinnacle_bench.py SOCKET_DIR PORT SPEC.json
"""
import json
import math
import os
import sys
import time

from worker_watch import WorkerWatch, connect as connect_to, out

PREDICT_ROWS = 100_000
# "predict": only the training run that makes the model, then predict (bench/run.sh BENCH_ONLY)
ONLY = os.environ.get("BENCH_ONLY", "")

socket_dir, port, spec_path = sys.argv[1:4]
with open(spec_path) as f:
    spec = json.load(f)


def connect():
    return connect_to(socket_dir, port)


def one(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.fetchone()


conn = connect()
cur = conn.cursor()
rows = one(cur, "SELECT count(*) FROM images")[0]
# dlopen of the extension and libtorch in this backend happens once per session; do it before
# timing, so the feed below measures rows, not a library load.
cur.execute("LOAD 'pinnacle_train'")

# a. The feed. With wait => false, pinnacle_train returns once this backend has planned the
# select, started the worker, read every row through its cursor, converted it to float32 and
# pushed it into the worker's queue (whose last 16 MB the worker may still be copying out).
# max_iterations 1 keeps the training after it out of the way. The worker records started_at
# before it attaches to the rows queue, so started_at - t0 is the worker's start (a process
# that loads libtorch) and the rest is the rows' transfer.
def feed():
    feed_spec = dict(spec, identifier="bench_feed", max_iterations=1)
    t0 = time.time()
    run_id = one(cur, "SELECT pinnacle_train(%s, wait => false)", [json.dumps(feed_spec)])[0]
    feed_s = time.time() - t0
    started = one(cur, "SELECT extract(epoch FROM started_at)::float8 FROM pinnacle.runs WHERE id = %s", [run_id])[0]
    status = one(cur, "SELECT pinnacle_wait(%s)", [run_id])[0]
    if status != "succeeded":
        sys.exit(f"feed run {run_id} ended {status}")
    out("feed_s", f"{feed_s:.3f}")
    out("feed_worker_start_s", f"{started - t0:.3f}")
    out("feed_rows_per_s", f"{rows / feed_s:.0f}")


out("feed_rows", rows)
if ONLY != "predict":
    feed()


# b, e. While the run trains, WorkerWatch (worker_watch.py) polls the worker's peak RSS and
# its own training rows/s.
with WorkerWatch(socket_dir, port, spec["identifier"]) as watch:
    t0 = time.time()
    try:
        run_id = one(cur, "SELECT pinnacle_train(%s, wait => true)", [json.dumps(spec)])[0]
    finally:
        e2e_s = time.time() - t0
        for notice in conn.notices:
            sys.stderr.write(notice)
status, iterations = one(cur, "SELECT status, iterations FROM pinnacle.runs WHERE id = %s", [run_id])
out("pinnacle_status", status)
out("pinnacle_iterations", iterations)
out("pinnacle_e2e_s", f"{e2e_s:.3f}")
out("pinnacle_samples_per_s", f"{watch.rows_per_second or float('nan'):.0f}")
out("pinnacle_samples_at_iteration", watch.iteration)
out("worker_peak_rss_mb", f"{(watch.hwm_kb or float('nan')) / 1024:.0f}")
# not a speed: shows the run learned (the classes are learnable by construction)
accuracy = one(cur, "SELECT avg((pinnacle_classify('bench', pixels) = label)::int)::float8"
               " FROM (SELECT pixels, label FROM images LIMIT 2000) s")[0]
out("pinnacle_train_accuracy", f"{accuracy:.3f}")

# f. Per-row predict over 100,000 rows (the table repeated when it has fewer), in this backend,
# where the library is loaded; the statement loads the model once.
repeats = math.ceil(PREDICT_ROWS / rows)
t0 = time.time()
predicted = one(cur, "SELECT count(pinnacle_predict('bench', pixels)) FROM"
                " (SELECT pixels FROM images, generate_series(1, %s) LIMIT %s) s", [repeats, PREDICT_ROWS])[0]
predict_s = time.time() - t0
out("predict_rows", predicted)
out("predict_s", f"{predict_s:.3f}")
out("predict_rows_per_s", f"{predicted / predict_s:.0f}")
