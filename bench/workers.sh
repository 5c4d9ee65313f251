#!/usr/bin/env bash
# Data-parallel training on this machine: 2 workers (compute_kwargs.workers, one thread each)
# against 1 worker with 1 thread and 1 worker with 2 threads, for the MLP of bench/spec.json on
# BENCH_ROWS (default 60,000) generated images with a global batch of 512, and a small conv net
# on 1 and 2 workers. Prints the ratios with the goals (2 workers >= 1.6x one, >= 1.3x one with
# 2 threads; conv >= 1.7x), and the allreduce time and bytes per step. Beside them, what this
# machine allows two processes at all: OpenBLAS's one-thread sgemm at the MLP's shapes
# (bench/sgemm_limit) run alone, then twice at once. And the MLP on two servers of this host
# (compute_kwargs.servers, each holding half of the rows, one rank each) against 2 workers on
# one server that holds all of them. And what a Gloo allreduce of the MLP's and the conv net's
# gradients costs between two otherwise idle processes (bench/gloo_allreduce).
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
BUILD=${BENCH_BUILD_DIR:-/tmp/build-bench}

: > "$LOG"
echo "== building bench/sgemm_limit and bench/gloo_allreduce in $BUILD (libtorch only)" >&2
cmake -S bench -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 \
  && cmake --build "$BUILD" -j 2 --target sgemm_limit gloo_allreduce >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; exit 1; }
prepare_image_server "$ROWS" "$LOG" shared_preload_libraries=pinnacle_train max_worker_processes=16 pinnacle.max_workers=2 \
  pinnacle.rendezvous_address=127.0.0.1
results=$scratch/results.txt

echo "== the machine's ceiling: one-thread sgemm at the MLP's shapes, alone, then two at once" >&2
limit() { "$BUILD/sgemm_limit" | sed -n 's/^limit_samples_per_s=//p'; }
one=$(limit)
limit >"$scratch/sgemm_b.txt" &
a=$(limit)
wait
echo "sgemm_one_samples_per_s=$one" >"$results"
echo "sgemm_two_samples_per_s=$((a + $(cat "$scratch/sgemm_b.txt")))" >>"$results"
echo "== a Gloo allreduce between two idle processes, of the MLP's and the conv net's gradients" >&2
"$BUILD/gloo_allreduce" 940588 93868 >>"$results"

echo "== a second server of this host, the foreign server shard_b: each server holds half of the rows" >&2
psql_run -c "CREATE TABLE numbered AS SELECT pixels, label, row_number() OVER () AS n FROM images" \
  -c "CREATE TABLE half AS SELECT pixels, label FROM numbered WHERE n % 2 = 1" -c "CREATE EXTENSION postgres_fdw"
shard=$scratch/shard
as_pg_user mkdir "$shard"
as_pg_user "$PG_BIN/initdb" -D "$shard/data" -U postgres --auth=trust >/dev/null
# (stopped on exit with the first: start_throwaway_server stops every $scratch/*/data)
as_pg_user "$PG_BIN/pg_ctl" -D "$shard/data" -l "$shard/server.log" -w -o "-p $port -k $shard -c listen_addresses='' \
  -c shared_preload_libraries=pinnacle_train -c pinnacle.rendezvous_address=127.0.0.1" start >/dev/null
shard_sql() { as_pg_user psql -h "$shard" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -X -q "$@"; }
shard_sql -c "CREATE TABLE half (pixels bytea, label int)" -c "CREATE EXTENSION pinnacle_train"
psql_run -c "COPY (SELECT pixels, label FROM numbered WHERE n % 2 = 0) TO STDOUT" | shard_sql -c "COPY half FROM STDIN"
psql_run -c "CREATE SERVER shard_b FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$shard', port '$port', dbname 'postgres')" \
  -c "CREATE USER MAPPING FOR postgres SERVER shard_b OPTIONS (user 'postgres')"
echo "== training: MLP on 1 worker (1 thread, 2 threads), 2 workers, two 1-worker runs at once; the conv net likewise; the MLP across 2 servers" >&2
$PY bench/workers_bench.py "$scratch" "$port" bench/spec.json "$STEPS" >>"$results" 2>>"$LOG" \
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
row("the machine: two one-thread sgemm processes at once ÷ one", f"{f['sgemm_two_samples_per_s'] / f['sgemm_one_samples_per_s']:.2f}")
for name, one, two, runs in [("MLP", "mlp_1w_1t", "mlp_2w_1t", "mlp_two_runs"), ("conv net", "conv_1w", "conv_2w", "conv_two_runs")]:
    ceiling = f[f"{runs}_samples_per_s"] / f[f"{one}_samples_per_s"]
    row(f"{name}: two 1-worker runs at once ÷ one (the most 2 ranks can gain here)", f"{ceiling:.2f}")
    row(f"{name}: 2 workers ÷ 1 worker, as a share of that", f"{f[f'{two}_samples_per_s'] / f[f'{one}_samples_per_s'] / ceiling:.2f}")
for what, bytes in [("MLP", 940588), ("conv net", 93868)]:
    row(f"Gloo allreduce of the {what}'s {bytes:,} bytes between two idle processes",
        f"{f[f'gloo_allreduce_{bytes}_bytes_ms']:.2f} ms ({r[f'gloo_allreduce_{bytes}_bytes_mb_per_s']} MB/s)")
row("MLP: 1 worker's time for 256 rows (a rank's half of a global batch)", f"{256 / f['mlp_1w_1t_samples_per_s'] * 1000:.2f} ms")
row("MLP samples/s, 2 servers of this host, 1 rank and half of the rows each", r["mlp_2s_1t_samples_per_s"])
row("MLP: 2 servers ÷ 2 workers on one server", f"{f['mlp_2s_1t_samples_per_s'] / f['mlp_2w_1t_samples_per_s']:.2f}")
row("MLP allreduce per step across the servers", f"{r['mlp_2s_1t_allreduce_ms_per_step']} ms, {int(f['mlp_2s_1t_allreduce_bytes_per_step']):,} bytes")
PY
