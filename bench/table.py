"""Prints the benchmark's table from the key=value files the measuring steps wrote, one folder
per run of the measurement (BENCH_REPEAT); with several, each figure is shown as min-max.

    /usr/bin/python3 table.py RUN_DIR [RUN_DIR ...]

A run folder holds common.txt (the data), cold.txt and preloaded.txt (pinnacle_bench.py),
sgemm.txt, plain.1.txt and plain.2.txt, plain_index.txt, python.1.txt and python.2.txt; of the
two plain and Python attempts the one with the shorter process wall time counts.
"""
import glob
import math
import os
import sys

NAN = float("nan")


def read(path):
    r = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    r[key] = value
    return r


def load(run_dir):
    r = {}
    for name in ("common", "cold", "preloaded", "sgemm"):
        r.update(read(os.path.join(run_dir, f"{name}.txt")))
    for prefix in ("plain", "python"):
        attempts = [read(p) for p in sorted(glob.glob(os.path.join(run_dir, f"{prefix}.[0-9]*.txt")))]
        attempts = [a for a in attempts if f"{prefix}_process_s" in a]
        if attempts:
            r.update(min(attempts, key=lambda a: float(a[f"{prefix}_process_s"])))
            r[f"{prefix}_process_all_s"] = ",".join(a[f"{prefix}_process_s"] for a in attempts)
    r.update({"index_" + k: v for k, v in read(os.path.join(run_dir, "plain_index.txt")).items()})
    return r


runs = [load(d) for d in sys.argv[1:]]
if not runs:
    sys.exit("table.py: no run folders")


def num(r, key):
    try:
        return float(r[key])
    except (KeyError, ValueError):
        return NAN


def ratio(a, b):
    return lambda r: num(r, a) / num(r, b)


def key(k):
    return lambda r: num(r, k)


# (figure, value per run, unit, goal text, goal test); a figure of None is a section heading
TABLE = [
    ("End-to-end: whole call, or whole process (best of 2 each)", None, None, None, None),
    ("pinnacle_train(wait => true), real[], preloaded", key("pre_real_e2e_s"), "s", "", None),
    ("pinnacle_train(wait => true), bytea, preloaded", key("pre_bytea_e2e_s"), "s", "", None),
    ("pinnacle_train(wait => true), real[], not preloaded", key("cold_real_e2e_s"), "s", "", None),
    ("pinnacle_train(wait => true), bytea, not preloaded", key("cold_bytea_e2e_s"), "s", "", None),
    ("plain libtorch process (IDX files, DataLoader)", key("plain_process_s"), "s", "", None),
    ("Python process (psycopg2 bytea fetch, DataLoader)", key("python_process_s"), "s", "", None),
    ("  of it: psycopg2 fetch + numpy conversion", key("python_fetch_s"), "s", "", None),
    ("extension load, fresh backend (not preloaded; without libtorch)", key("cold_load_s"), "s", "", None),
    ("ratio: preloaded real[] / plain process", ratio("pre_real_e2e_s", "plain_process_s"), "x", "<= 0.75",
     lambda v: v <= 0.75),
    ("ratio: preloaded bytea / plain process", ratio("pre_bytea_e2e_s", "plain_process_s"), "x", "<= 0.75",
     lambda v: v <= 0.75),
    ("ratio: not preloaded real[] / plain process", ratio("cold_real_e2e_s", "plain_process_s"), "x", "<= 1.0",
     lambda v: v <= 1.0),
    ("ratio: not preloaded bytea / plain process", ratio("cold_bytea_e2e_s", "plain_process_s"), "x", "<= 1.0",
     lambda v: v <= 1.0),
    ("ratio: Python / preloaded bytea", ratio("python_process_s", "pre_bytea_e2e_s"), "x", ">= 1.8",
     lambda v: v >= 1.8),
    ("ratio: Python / preloaded real[]", ratio("python_process_s", "pre_real_e2e_s"), "x", ">= 1.8",
     lambda v: v >= 1.8),
    ("Training step (loop only, 1 thread)", None, None, None, None),
    ("OpenBLAS sgemm, 1 thread, at the MLP's 8 products", key("sgemm_step_gflops"), "GFLOP/s", "", None),
    ("MLP FLOP per trained sample", key("mlp_flop_per_sample"), "FLOP", "", None),
    ("limit: sgemm GFLOP/s / FLOP per sample", key("limit_samples_per_s"), "samples/s", "", None),
    ("pinnacle_train (worker's rows/s, best preloaded run)", key("pre_samples_per_s"), "samples/s", ">= 80,000",
     lambda v: v >= 80000),
    ("  cross-check: samples / (loop start to final checkpoint)", key("pre_log_samples_per_s"), "samples/s", "",
     None),
    ("plain libtorch, DataLoader", key("plain_samples_per_s"), "samples/s", "", None),
    ("plain libtorch, index_select batches", key("index_plain_samples_per_s"), "samples/s", "", None),
    ("Python, DataLoader", key("python_samples_per_s"), "samples/s", "", None),
    ("ratio: pinnacle / limit", ratio("pre_samples_per_s", "limit_samples_per_s"), "x", ">= 0.6",
     lambda v: v >= 0.6),
    ("ratio: plain DataLoader / limit", ratio("plain_samples_per_s", "limit_samples_per_s"), "x", "", None),
    ("ratio: plain index_select / limit", ratio("index_plain_samples_per_s", "limit_samples_per_s"), "x", "", None),
    ("ratio: pinnacle / plain DataLoader", ratio("pre_samples_per_s", "plain_samples_per_s"), "x", "", None),
    ("Predict (preloaded, in a session with the library loaded)", None, None, None, None),
    ("pinnacle_predict per row, real[]", key("predict_real_rows_per_s"), "rows/s", ">= 30,000",
     lambda v: v >= 30000),
    ("pinnacle_predict per row, bytea", key("predict_bytea_rows_per_s"), "rows/s", "", None),
    ("pinnacle_predict_batch, real[]", key("predict_batch_real_rows_per_s"), "rows/s", ">= 250,000",
     lambda v: v >= 250000),
    ("limit: reading the real[] column alone (TOAST, pglz), no model", key("read_real_rows_per_s"), "rows/s", "",
     None),
    ("ratio: pinnacle_predict_batch / reading the column", ratio("predict_batch_real_rows_per_s",
                                                                "read_real_rows_per_s"), "x", "", None),
    ("limit: the 3 forward sgemm alone, 1 thread, 1,024 rows", key("limit_predict_rows_per_s"), "rows/s", "", None),
    ("ratio: pinnacle_predict_batch / that limit", ratio("predict_batch_real_rows_per_s", "limit_predict_rows_per_s"),
     "x", "", None),
    ("conv net: pinnacle_predict per row, bytea", key("predict_conv_rows_per_s"), "rows/s", "", None),
    ("conv net: pinnacle_predict_batch, bytea", key("predict_batch_conv_rows_per_s"), "rows/s", "", None),
    ("ratio: conv net, batch / per row", ratio("predict_batch_conv_rows_per_s", "predict_conv_rows_per_s"), "x",
     ">= 10", lambda v: v >= 10),
]

SEGMENTS = [
    ("launch", "call: spec check, plan, worker launch"),
    ("worker_start", "worker process start, run recorded"),
    ("feed", "rows fed to the worker, trainer fork"),
    ("trainer_start", "trainer builds data and model"),
    ("loop", "training loop, final validation, checkpoint"),
    ("model_write", "model version recorded, run ended"),
    ("return", "reply to the caller"),
]
CONFIGS = [("pre_real", "pre real[]"), ("pre_bytea", "pre bytea"), ("cold_real", "cold real[]"),
           ("cold_bytea", "cold bytea")]


def fmt(value, unit):
    if math.isnan(value):
        return "-"
    if unit in ("s", "x"):
        return f"{value:.2f}"
    return f"{value:.1f}" if unit == "GFLOP/s" else f"{value:,.0f}"


def span(values, unit):
    present = [v for v in values if not math.isnan(v)]
    if not present:
        return "-"
    lo, hi = min(present), max(present)
    return fmt(lo, unit) if len(values) == 1 or fmt(lo, unit) == fmt(hi, unit) else f"{fmt(lo, unit)}-{fmt(hi, unit)}"


n = len(runs)
first = runs[0]
rows = int(num(first, "data_rows")) if not math.isnan(num(first, "data_rows")) else 0
print(f"Data: table images, {rows:,} rows generated in SQL (bench/data.sql) in {span([num(r, 'gen_s') for r in runs], 's')} s: "
      f"pixels bytea ({first.get('data_pixels_stored_bytes')} B a row), features real[] (the same 784 values: "
      f"{first.get('data_features_raw_bytes')} B uncompressed, {first.get('data_features_stored_bytes')} B stored, "
      f"{first.get('data_features_compressed_rows')} of {rows} rows compressed with {first.get('data_features_compression')}; "
      f"heap {first.get('data_heap_mb')} MB, TOAST {first.get('data_toast_mb')} MB), label int (10 classes).")
print(f"Training: MLP 784-256-128-10, Adam lr 1e-3, batch 128, shuffled, {first.get('steps')} steps, 1 thread, "
      f"cross_entropy, pixels / 255.  {n} run{'s' if n > 1 else ''} of the whole measurement"
      f"{'; min-max over them' if n > 1 else ''}.")
print()

width = 58
print(f"{'figure':<{width}} {'value':>17} {'unit':<10} {'goal':<10} met")
print("-" * (width + 44))
for figure, value_of, unit, goal, test in TABLE:
    if value_of is None:
        print(f"{figure}")
        continue
    values = [value_of(r) for r in runs]
    measured = [v for v in values if not math.isnan(v)]
    met = ""
    if test is not None and measured:
        passed = sum(1 for v in measured if test(v))
        met = ("yes" if passed == len(measured) else "NO") if n == 1 else f"{passed}/{len(measured)}"
    print(f"  {figure:<{width - 2}} {span(values, unit):>17} {unit:<10} {goal:<10} {met}")
print("-" * (width + 44))

print()
print("Where the time goes: the fastest call of each configuration, seconds (bench/README.md says how)")
print(f"  {'segment':<46}" + "".join(f"{label:>16}" for _, label in CONFIGS))
for segment, label in SEGMENTS + [("sum", "sum of the segments"), ("e2e", "whole call (client)"),
                                  ("loop_only", "the loop alone, at the worker's rows/s")]:
    cells = []
    for config, _ in CONFIGS:
        if segment == "sum":
            values = [sum(num(r, f"{config}_bd_{s}_s") for s, _ in SEGMENTS) for r in runs]
        elif segment in ("e2e", "loop_only"):
            values = [num(r, f"{config}_{segment}_s") for r in runs]
        else:
            values = [num(r, f"{config}_bd_{segment}_s") for r in runs]
        cells.append(span(values, "s"))
    print(f"  {label:<46}" + "".join(f"{c:>16}" for c in cells))
print(f"  {'(loop timed from)':<46}" + "".join(f"{first.get(c + '_loop_from', '-'):>16}" for c, _ in CONFIGS))

print()
libraries = {r.get(k) for r in runs for k in ("cold_library", "pre_library") if r.get(k)}
expected = first.get("expected_library")
print(f"extension measured: {', '.join(sorted(libraries)) or '-'}"
      + ("" if not libraries or libraries == {expected} else f"  (NOT the expected {expected})"))
print(f"runs: pinnacle train accuracy on 2,000 of its rows real[] {first.get('pre_real_train_accuracy')}, bytea "
      f"{first.get('pre_bytea_train_accuracy')}; plain {first.get('plain_train_accuracy')}; last loss plain "
      f"{first.get('plain_last_loss')}, Python {first.get('python_last_loss')}")
print(f"threads: trainer {span([num(r, 'pre_real_trainer_threads') for r in runs], 'n')} threads, "
      f"{span([num(r, 'pre_real_trainer_cpu_per_wall') for r in runs], 'x')} CPU s per s in its loop; "
      f"plain {span([num(r, 'plain_threads') for r in runs], 'n')} threads, "
      f"{span([num(r, 'plain_loop_cpu_per_wall') for r in runs], 'x')} CPU s per s; "
      f"sgemm_limit {span([num(r, 'sgemm_cpu_per_wall') for r in runs], 'x')} CPU s per s "
      f"(openblas_set_num_threads(1) {'called' if first.get('sgemm_openblas_threads_set') == '1' else 'NOT found'}); "
      f"OPENBLAS_NUM_THREADS {first.get('openblas_num_threads')}")
print(f"worker peak RSS (VmHWM) {span([num(r, 'pre_peak_rss_mb') for r in runs], 'n')} MB; "
      f"sgemm 2048^3 on 1 thread {span([num(r, 'sgemm_2048_gflops') for r in runs], 'n')} GFLOP/s; "
      f"load average at the start {first.get('load_average')}")
for label, k in (("pinnacle real[] preloaded", "pre_real_e2e_all_s"), ("pinnacle bytea preloaded", "pre_bytea_e2e_all_s"),
                 ("pinnacle real[] not preloaded", "cold_real_e2e_all_s"), ("pinnacle bytea not preloaded", "cold_bytea_e2e_all_s"),
                 ("plain process", "plain_process_all_s"), ("Python process", "python_process_all_s")):
    print(f"every attempt, {label}: " + "; ".join(r.get(k, "-") for r in runs) + " s")
