#!/usr/bin/env bash
# in_memory: false at scale: BENCH_STREAM_ROWS (default 500,000) images of 784 bytes, about
# 1.6 GB as float32, streamed from a spill file under a 256 MB memory limit, against in-memory
# training on 60,000 of them in the same server. Prints the worker's peak RSS and the
# samples/s ratio with the goals (peak RSS < 700 MB, ratio >= 0.8).
#
#   bash bench/streaming.sh        as root
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh
source bench/image_server.sh

ROWS=${BENCH_STREAM_ROWS:-500000}
LOG=${BENCH_LOG:-/tmp/pinnacle-bench-streaming.log}
PY=/usr/bin/python3   # Debian's, with python3-psycopg2

: > "$LOG"
prepare_image_server "$ROWS" "$LOG" shared_preload_libraries=pinnacle_train
results=$scratch/results.txt
echo "== training in memory (60,000 rows), then streamed ($ROWS rows)" >&2
$PY bench/streaming_bench.py "$scratch" "$port" bench/spec.json >"$results" 2>>"$LOG" \
  || { tail -n 20 "$LOG" >&2; exit 1; }
$PY - "$results" <<'PY'
import sys
r = dict(line.strip().split("=", 1) for line in open(sys.argv[1]) if "=" in line)
ratio = float(r["streamed_samples_per_s"]) / float(r["in_memory_samples_per_s"])
rss = float(r["streamed_peak_rss_mb"])
print(f"| figure | value | goal |\n|---|---|---|")
print(f"| rows streamed (float32 size) | {r['streamed_rows']} ({r['streamed_gb_float32']} GB) | 500,000 |")
print(f"| memory limit | {r['memory_limit_mb']} MB | 256 MB |")
print(f"| training samples/s, in memory ({r['in_memory_rows']} rows) | {r['in_memory_samples_per_s']} | |")
print(f"| training samples/s, streamed | {r['streamed_samples_per_s']} | |")
print(f"| streamed ÷ in memory | {ratio:.2f} | >= 0.8: {'met' if ratio >= 0.8 else 'NOT met'} |")
print(f"| worker peak RSS, streamed | {rss:.0f} MB | < 700 MB: {'met' if rss < 700 else 'NOT met'} |")
print(f"| worker peak RSS, in memory | {r['in_memory_peak_rss_mb']} MB | |")
print(f"| streamed end-to-end (feed, spill, {1500} steps) | {r['streamed_e2e_s']} s | |")
PY
