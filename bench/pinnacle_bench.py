"""pinnacle_train's side of the benchmark, one phase per call (bench/run.sh restarts the server
between phases). Prints key=value lines; the NOTICEs go to stderr.

    /usr/bin/python3 pinnacle_bench.py PHASE SOCKET_DIR PORT SPEC_BYTEA.json SPEC_REAL.json SERVER_LOG

PHASE:
  data       what the figures are measured on: rows, how the real[] column is stored
  cold       server NOT preloaded: the load of the extension (and libtorch) in a fresh backend,
             and pinnacle_train(..., wait => true) on each column, each call in a fresh
             connection, so that it pays the load as a new user's first call does
  preloaded  server started with shared_preload_libraries = pinnacle_train: the same calls,
             the training loop's samples/s, the worker's peak RSS, and pinnacle_predict /
             pinnacle_predict_batch rows/s

Every pinnacle_train figure is the best of BENCH_ATTEMPTS (2) calls; the breakdown printed with
it is that call's. The breakdown comes from timestamps: the client's clock around the call,
pg_stat_activity.backend_start of the run's supervisor, pinnacle.runs.started_at (the
supervisor recorded the run), the trainer process first seen (polled every 0.05 s), the
training loop's start (from a progress NOTICE in the server's log: its time, step and rows/s),
pinnacle.checkpoints.created_at (the final checkpoint) and pinnacle.runs.finished_at. Client
and server share the machine's clock.
"""
import json
import math
import os
import re
import sys
import time

from worker_watch import WorkerWatch, connect as connect_to, out

PREDICT_ROWS = int(os.environ.get("BENCH_PREDICT_ROWS", "100000"))
ATTEMPTS = int(os.environ.get("BENCH_ATTEMPTS", "2"))
POLL_S = 0.05

phase, socket_dir, port, spec_bytea_path, spec_real_path, server_log = sys.argv[1:7]
with open(spec_bytea_path) as f:
    SPECS = {"bytea": json.load(f)}
with open(spec_real_path) as f:
    SPECS["real"] = json.load(f)
BATCH = SPECS["bytea"]["loader_kwargs"]["batch_size"]
STEPS = SPECS["bytea"]["max_iterations"]
COLUMN = {"bytea": "pixels", "real": "features"}


def connect():
    return connect_to(socket_dir, port)


def one(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.fetchone()


def loaded_library(cur):
    """The pinnacle_train.so this backend has mapped (to check which installation is measured)."""
    pid = one(cur, "SELECT pg_backend_pid()")[0]
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            if line.rstrip().endswith("/pinnacle_train.so"):
                return os.path.realpath(line.split()[-1])
    return "none"


def samples_after(steps, rows):
    """Samples trained after `steps` steps: batches of BATCH, the last of each epoch partial."""
    per_epoch = math.ceil(rows / BATCH)
    epochs, within = divmod(steps, per_epoch)
    return epochs * rows + min(within * BATCH, rows)


NOTICE = re.compile(r"^(\d+\.\d+) \[\d+\] NOTICE:  run (\d+) step (\d+)(?:/\d+)?: train loss \S+, (\d+) rows/s")


def progress_notices(run_id):
    """(time, step, rows/s) of the run's progress NOTICEs, as the caller's backend logged them."""
    found = []
    with open(server_log, errors="replace") as log:
        for line in log:
            m = NOTICE.match(line)
            if m and int(m.group(2)) == run_id and int(m.group(4)) > 0:
                found.append((float(m.group(1)), int(m.group(3)), float(m.group(4))))
    return found


def train_once(kind, identifier):
    """One pinnacle_train(..., wait => true) in a fresh connection; its figures as a dict."""
    spec = dict(SPECS[kind], identifier=identifier)
    conn = connect()
    cur = conn.cursor()
    with WorkerWatch(socket_dir, port, identifier, interval=POLL_S) as watch:
        t0 = time.time()
        try:
            run_id = one(cur, "SELECT pinnacle_train(%s, wait => true)", [json.dumps(spec)])[0]
        finally:
            t1 = time.time()
            for notice in conn.notices:
                sys.stderr.write(notice)
    status, iterations, rows, started, finished = one(
        cur, "SELECT status, iterations, train_rows, extract(epoch FROM started_at)::float8,"
             " extract(epoch FROM finished_at)::float8 FROM pinnacle.runs WHERE id = %s", [run_id])
    if status != "succeeded":
        sys.exit(f"run {run_id} ({identifier}) ended {status}")
    checkpoint = one(cur, "SELECT extract(epoch FROM max(created_at))::float8 FROM pinnacle.checkpoints"
                          " WHERE run_id = %s", [run_id])[0]
    conn.close()

    r = {"e2e_s": t1 - t0, "run_id": run_id, "iterations": iterations,
         "samples_per_s": watch.rows_per_second or float("nan"),
         "peak_rss_mb": (watch.hwm_kb or float("nan")) / 1024,
         "trainer_threads": watch.trainer_threads or float("nan"),
         "trainer_cpu_per_wall": watch.trainer_cpu_per_wall or float("nan")}
    # The training loop's start: the supervisor's rows/s counts from it (the trainer's first
    # step), so a progress NOTICE's time, step and rows/s give it back: time - samples / rate.
    # From the last NOTICE in the server's log, else (a loop under a second has none) from the
    # watcher's last reading of pinnacle.progress, which is up to a poll and a publication
    # (0.25 s) late. The loop's end is not in any record: the loop, the final validation and the
    # checkpoint's write make one segment, ending at the checkpoint's created_at.
    notices = progress_notices(run_id)
    if notices:
        at, step, rate = notices[-1]
        r["loop_from"] = "notice"
    elif watch.rows_per_second:
        at, step, rate = watch.last_reading_time, watch.iteration, watch.rows_per_second
        r["loop_from"] = "progress"
    else:
        at = step = rate = None
        r["loop_from"] = "none"
    loop_start = at - samples_after(step, rows) / rate if rate else float("nan")
    total_samples = samples_after(iterations, rows)
    # the loop alone at the worker's own last rows/s (it counts the loop's start-up in)
    r["loop_only_s"] = total_samples / (watch.rows_per_second or float("nan"))
    # a cross-check of that rate from the records: the samples over loop start to the final
    # checkpoint's write (a lower bound: the final validation and checkpoint are in it)
    r["log_samples_per_s"] = total_samples / ((checkpoint or float("nan")) - loop_start)
    # segments of the call, in order; each ends where the next begins
    marks = [("launch", t0), ("worker_start", watch.worker_start or float("nan")), ("feed", started),
             ("trainer_start", watch.trainer_seen or float("nan")), ("loop", loop_start),
             ("model_write", checkpoint or float("nan")), ("return", finished), ("end", t1)]
    for (name, begin), (_, end) in zip(marks, marks[1:]):
        r[f"bd_{name}_s"] = end - begin
    return r


def best_of(kind, prefix):
    attempts = [train_once(kind, f"bench_{kind}") for _ in range(ATTEMPTS)]
    best = min(attempts, key=lambda a: a["e2e_s"])
    out(f"{prefix}_{kind}_e2e_all_s", ",".join(f"{a['e2e_s']:.3f}" for a in attempts))
    for key, value in best.items():
        out(f"{prefix}_{kind}_{key}", f"{value:.3f}" if isinstance(value, float) else value)
    # the loop's own figure: the best of every attempt (not tied to the fastest call)
    out(f"{prefix}_{kind}_best_samples_per_s", f"{largest(a['samples_per_s'] for a in attempts):.0f}")
    return attempts


def largest(values):
    present = [v for v in values if not math.isnan(v)]
    return max(present) if present else float("nan")


def timed(cur, sql, args=()):
    t0 = time.time()
    value = one(cur, sql, args)[0]
    return value, time.time() - t0


if phase == "data":
    conn = connect()
    cur = conn.cursor()
    rows, pixels_stored, features_stored, compressed = one(cur, """
        SELECT count(*), avg(pg_column_size(pixels)), avg(pg_column_size(features)),
               count(*) FILTER (WHERE pg_column_compression(features) IS NOT NULL)
        FROM images""")
    # the same array built afresh, not stored: its uncompressed size
    raw = one(cur, "SELECT pg_column_size(features::text::real[]) FROM images LIMIT 1")[0]
    method = one(cur, "SELECT string_agg(DISTINCT pg_column_compression(features), ',') FROM images")[0]
    heap, toast = one(cur, "SELECT pg_relation_size(c.oid), pg_relation_size(c.reltoastrelid)"
                           " FROM pg_class c WHERE c.relname = 'images'")
    mismatched = one(cur, "SELECT count(*) FROM (SELECT * FROM images LIMIT 200) s WHERE features <>"
                          " (SELECT array_agg(get_byte(pixels, i)::real ORDER BY i) FROM generate_series(0, 783) i)")[0]
    if mismatched:
        sys.exit(f"{mismatched} of 200 rows have features different from pixels")
    out("data_rows", rows)
    out("data_pixels_stored_bytes", f"{pixels_stored:.0f}")
    out("data_features_raw_bytes", raw)
    out("data_features_stored_bytes", f"{features_stored:.0f}")
    out("data_features_compressed_rows", compressed)
    out("data_features_compression", method)
    out("data_heap_mb", f"{heap / 2**20:.1f}")
    out("data_toast_mb", f"{toast / 2**20:.1f}")
    sys.exit(0)

prefix = {"cold": "cold", "preloaded": "pre"}[phase]
conn = connect()
cur = conn.cursor()
preloaded = "pinnacle_train" in one(cur, "SHOW shared_preload_libraries")[0]
if preloaded != (phase == "preloaded"):
    sys.exit(f"phase {phase}, but shared_preload_libraries is {'set' if preloaded else 'not set'}")
rows = one(cur, "SELECT count(*) FROM images")[0]
conn.close()

if phase == "cold":
    # a fresh backend's LOAD: the extension's library, what the first call of a session pays on a
    # server that does not preload it (libtorch is not in it: a backend that trains never loads
    # it, the run's worker does)
    loads = []
    for _ in range(ATTEMPTS):
        conn = connect()
        cur = conn.cursor()
        t0 = time.time()
        cur.execute("LOAD 'pinnacle_train'")
        loads.append(time.time() - t0)
        library = loaded_library(cur)
        conn.close()
    out("cold_load_s", f"{min(loads):.3f}")
    out("cold_library", library)

attempts = []
for kind in ("real", "bytea"):
    attempts += best_of(kind, prefix)

if phase == "cold":
    sys.exit(0)

out("pre_samples_per_s", f"{largest(a['samples_per_s'] for a in attempts):.0f}")
out("pre_log_samples_per_s", f"{largest(a['log_samples_per_s'] for a in attempts):.0f}")
out("pre_peak_rss_mb", f"{largest(a['peak_rss_mb'] for a in attempts):.0f}")
conn = connect()
cur = conn.cursor()
out("pre_library", loaded_library(cur))
for kind in ("real", "bytea"):
    # not a speed: shows the run learned (the classes are learnable by construction)
    accuracy = one(cur, f"SELECT avg((pinnacle_classify('bench_{kind}', {COLUMN[kind]}) = label)::int)::float8"
                        " FROM (SELECT * FROM images LIMIT 2000) s")[0]
    out(f"pre_{kind}_train_accuracy", f"{accuracy:.3f}")

# Predict over PREDICT_ROWS rows (the table repeated when it has fewer), in this backend, where
# the library is loaded; each statement loads the model once. Best of ATTEMPTS.
repeats = math.ceil(PREDICT_ROWS / rows)
source = f"FROM images, generate_series(1, {repeats}) LIMIT {PREDICT_ROWS}"
out("predict_rows", min(PREDICT_ROWS, rows * repeats))


def best_rate(sql, args):
    best = 0
    for _ in range(ATTEMPTS):
        count, seconds = timed(cur, sql, args)
        best = max(best, count / seconds)
    return f"{best:.0f}"


out("predict_real_rows_per_s",
    best_rate(f"SELECT count(pinnacle_predict(%s, features)) FROM (SELECT features {source}) s", ["bench_real"]))
out("predict_bytea_rows_per_s",
    best_rate(f"SELECT count(pinnacle_predict(%s, pixels)) FROM (SELECT pixels {source}) s", ["bench_bytea"]))
# What reading the real[] column alone costs in one backend (its TOAST fetch, its pglz
# decompression, the executor), without a model: a bound of both predict figures on real[].
out("read_real_rows_per_s",
    best_rate(f"SELECT count(array_length(features, 1)) FROM (SELECT features {source}) s", []))
out("predict_batch_real_rows_per_s",
    best_rate("SELECT count(*) FROM pinnacle_predict_batch(%s, %s) AS p(prediction real[])",
              ["bench_real", f"SELECT features {source}"]))

# The README's conv net (Conv2d 1->32 5x5, ReLU, MaxPool2d 2, Linear 10 on the pixels as
# 1x28x28), trained briefly (its speed does not depend on its weights), per row and in batches
# over CONV_ROWS rows.
CONV_ROWS = min(PREDICT_ROWS, 10000)
conv_spec = dict(SPECS["bytea"], identifier="bench_conv", max_iterations=100, validation_interval=100,
                 model={"layers": [{"type": "Conv2d", "out_channels": 32, "kernel_size": 5}, {"type": "ReLU"},
                                   {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
                                   {"type": "Linear", "out_features": 10}]},
                 transform={"pixels": [{"scale": 1 / 255}, {"reshape": [1, 28, 28]}]})
cur.execute("SELECT pinnacle_train(%s, wait => true)", [json.dumps(conv_spec)])
conv_source = f"FROM images, generate_series(1, {math.ceil(CONV_ROWS / rows)}) LIMIT {CONV_ROWS}"
out("predict_conv_rows_per_s",
    best_rate(f"SELECT count(pinnacle_predict(%s, pixels)) FROM (SELECT pixels {conv_source}) s", ["bench_conv"]))
out("predict_batch_conv_rows_per_s",
    best_rate("SELECT count(*) FROM pinnacle_predict_batch(%s, %s) AS p(prediction real[])",
              ["bench_conv", f"SELECT pixels {conv_source}"]))
conn.close()
