#!/usr/bin/env bash
# Data-parallel training on this machine: 2 workers (compute_kwargs.workers, one thread each)
# against 1 worker with 1 thread and 1 worker with 2 threads, for the MLP of bench/spec.json on
# BENCH_ROWS (default 60,000) generated images with a global batch of 512, and a small conv net
# on 1 and 2 workers. Prints the ratios with the goals (2 workers >= 1.6x one, >= 1.3x one with
# 2 threads; conv >= 1.7x), and the allreduce time and bytes per step.
#
#   bash bench/workers.sh        as root; BENCH_STEPS (default 400) steps per run
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh
source bench/image_server.sh

ROWS=${BENCH_ROWS:-60000}
STEPS=${BENCH_STEPS:-400}
LOG=${BENCH_LOG:-/tmp/pinnacle-bench-workers.log}
PY=/usr/bin/python3   # Debian's, with python3-psycopg2

: > "$LOG"
prepare_image_server "$ROWS" "$LOG" shared_preload_libraries=pinnacle_train max_worker_processes=16 pinnacle.max_workers=2
results=$scratch/results.txt
echo "== training: MLP on 1 worker (1 thread, 2 threads) and 2 workers; conv net on 1 and 2 workers" >&2
$PY bench/workers_bench.py "$scratch" "$port" bench/spec.json "$STEPS" >"$results" 2>>"$LOG" \
  || { tail -n 20 "$LOG" >&2; exit 1; }
$PY - "$results" "$(nproc)" <<'PY'
import sys
r = dict(line.strip().split("=", 1) for line in open(sys.argv[1]) if "=" in line)
f = {k: float(v) for k, v in r.items()}
def row(what, value, goal=""):
    print(f"| {what} | {value} | {goal} |")
def ratio(a, b, goal):
    x = f[a] / f[b]
    return f"{x:.2f}", f">= {goal}: {'met' if x >= goal else 'NOT met'}"
print(f"| figure ({sys.argv[2]} cores, global batch 512) | value | goal |\n|---|---|---|")
row("MLP samples/s, 1 worker, 1 thread", r["mlp_1w_1t_samples_per_s"])
row("MLP samples/s, 1 worker, 2 threads", r["mlp_1w_2t_samples_per_s"])
row("MLP samples/s, 2 workers, 1 thread each", r["mlp_2w_1t_samples_per_s"])
row("MLP: 2 workers ÷ 1 worker", *ratio("mlp_2w_1t_samples_per_s", "mlp_1w_1t_samples_per_s", 1.6))
row("MLP: 2 workers ÷ 1 worker with 2 threads", *ratio("mlp_2w_1t_samples_per_s", "mlp_1w_2t_samples_per_s", 1.3))
row("MLP allreduce per step (rank 0's wait)", f"{r['mlp_2w_1t_allreduce_ms_per_step']} ms, {int(f['mlp_2w_1t_allreduce_bytes_per_step']):,} bytes")
row("conv net samples/s, 1 worker", r["conv_1w_samples_per_s"])
row("conv net samples/s, 2 workers", r["conv_2w_samples_per_s"])
row("conv net: 2 workers ÷ 1 worker", *ratio("conv_2w_samples_per_s", "conv_1w_samples_per_s", 1.7))
row("conv net allreduce per step", f"{r['conv_2w_allreduce_ms_per_step']} ms, {int(f['conv_2w_allreduce_bytes_per_step']):,} bytes")
PY
