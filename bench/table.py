"""Prints the benchmark's one table from the key=value lines the measuring steps wrote.

    /usr/bin/python3 table.py RESULTS.txt
"""
import math
import sys

r = {}
with open(sys.argv[1]) as f:
    for line in f:
        key, sep, value = line.strip().partition("=")
        if sep:
            r[key] = value


def num(key):
    try:
        return float(r[key])
    except (KeyError, ValueError):
        return float("nan")


rows = []  # (figure, value, unit, goal text, goal test or None)


def add(figure, value, unit, goal="", test=None):
    unmeasured = math.isnan(value)  # e.g. with BENCH_ONLY=predict
    rows.append((figure, value, unit, goal, None if test is None or unmeasured else test(value)))


n = int(num("feed_rows"))
add(f"data generation in SQL ({n} rows)", num("gen_s"), "s")
add("feed: pinnacle_train(wait => false) call", num("feed_s"), "s", "< 1 s", lambda v: v < 1)
add("  of it: worker start (to runs.started_at)", num("feed_worker_start_s"), "s")
add("feed rate (whole call)", num("feed_rows_per_s"), "rows/s")
add("training, pinnacle_train (worker's rows/s)", num("pinnacle_samples_per_s"), "samples/s")
add("training, plain libtorch (same core)", num("plain_samples_per_s"), "samples/s")
add("training, Python DataLoader loop", num("python_samples_per_s"), "samples/s")
add("end-to-end, pinnacle_train(wait => true)", num("pinnacle_e2e_s"), "s")
add("end-to-end, plain libtorch (process, from file)", num("plain_process_s"), "s")
add("  in-program (file read, trainer built, loop)", num("plain_total_s"), "s")
add("end-to-end, Python (process, fetch included)", num("python_process_s"), "s")
add("  in-program (imports, fetch, loop)", num("python_total_s"), "s")
add("  of it: psycopg2 fetch + numpy conversion", num("python_fetch_s"), "s")
add("pinnacle_predict per row (100,000 rows)", num("predict_rows_per_s"), "rows/s", "> 20,000", lambda v: v > 20000)
add("run peak RSS (VmHWM, supervisor or trainer)", num("worker_peak_rss_mb"), "MB")
add("ratio: pinnacle / plain libtorch samples/s", num("pinnacle_samples_per_s") / num("plain_samples_per_s"), "x",
    ">= 0.9", lambda v: v >= 0.9)
add("ratio: pinnacle / plain libtorch end-to-end", num("pinnacle_e2e_s") / num("plain_process_s"), "x",
    "<= 1.25", lambda v: v <= 1.25)
add("ratio: Python / pinnacle end-to-end", num("python_process_s") / num("pinnacle_e2e_s"), "x",
    ">= 1.5", lambda v: v >= 1.5)


def fmt(value, unit):
    if math.isnan(value):
        return "-"
    return f"{value:.2f}" if unit in ("s", "x") else f"{value:,.0f}"


print(f"{'figure':<50} {'value':>10} {'unit':<10} {'goal':<9} met")
print("-" * 84)
for figure, value, unit, goal, met in rows:
    print(f"{figure:<50} {fmt(value, unit):>10} {unit:<10} {goal:<9} {'' if met is None else 'yes' if met else 'NO'}")
print("-" * 84)
print(f"pinnacle run: {r.get('pinnacle_status')}, {r.get('pinnacle_iterations')} steps, its rows/s read at step "
      f"{r.get('pinnacle_samples_at_iteration')}; accuracy on 2,000 of its rows {r.get('pinnacle_train_accuracy')}")
print(f"samples per run: plain {r.get('plain_samples')}, Python {r.get('python_samples')}; "
      f"last loss: plain {r.get('plain_last_loss')}, Python {r.get('python_last_loss')}")
print(f"plain_libtorch's core built from {r.get('plain_core_source')}")
