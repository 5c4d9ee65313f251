#!/usr/bin/env bash
# The benchmark: pinnacle_train against the same training written without it, in one run, as
# ratios: a plain libtorch program (bench/plain_libtorch.cpp, nothing of pinnacle_train), the
# Python way (psycopg2 + a DataLoader), and the physical limit (OpenBLAS sgemm on one thread at
# the MLP's shapes). Prints one table (bench/table.py); bench/README.md explains every figure.
#
#   bash bench/run.sh        as root; BENCH_ROWS (default 60000) rows
#   BENCH_REPEAT=3           the whole measurement three times (the data generated once);
#                            the table shows min-max per figure
#   BENCH_ONLY=predict       only what pinnacle_predict's figures need (the data, the training
#                            runs that make the models, predict): no cold server, plain
#                            libtorch, Python or sgemm
#   BENCH_INSTALL=0          use the extension as installed for PG_BIN (default: build and
#                            install it into the system PostgreSQL with scripts/build.sh)
#   BENCH_STEPS=N            optimizer steps (default 938, the figures' setting; fewer only to
#                            try the script out)
#   BENCH_PREDICT_ROWS=N     rows per predict figure (default 100000)
#
# Build output, the NOTICEs and what failed go to BENCH_LOG; the server's log (with the
# NOTICEs, timestamped) is $scratch/server.log while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh

ROWS=${BENCH_ROWS:-60000}
REPEAT=${BENCH_REPEAT:-1}
STEPS=${BENCH_STEPS:-938}
BUILD=${BENCH_BUILD_DIR:-/tmp/build-bench}
LOG=${BENCH_LOG:-/tmp/pinnacle-bench.log}
PY=/usr/bin/python3   # Debian's, with python3-torch and python3-psycopg2 (not a pyenv python3)

: > "$LOG"
step() { echo "== $*" | tee -a "$LOG" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
fail() {
  # the server's log goes with the scratch folder at exit: keep its end
  [ -n "${scratch:-}" ] && [ -f "$scratch/server.log" ] && { echo "== server log, last lines"; tail -n 40 "$scratch/server.log"; } >>"$LOG"
  echo "bench: $* (details in $LOG)" >&2; tail -n 20 "$LOG" >&2; exit 1
}

ONLY=${BENCH_ONLY:-}
case "$ONLY" in "" | predict) ;; *) fail "BENCH_ONLY must be empty or predict" ;; esac
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || fail "BENCH_REPEAT must be a positive number"

if [ "${BENCH_INSTALL:-1}" != 0 ]; then
  step "building and installing the extension (scripts/build.sh)"
  bash scripts/build.sh >>"$LOG" 2>&1 || fail "scripts/build.sh failed"
fi

# Before the server starts, so that compiling does not overlap any measurement. At most two
# compile jobs: the machine is shared.
if [ -z "$ONLY" ]; then
  step "building bench/plain_libtorch and bench/sgemm_limit in $BUILD (libtorch only)"
  cmake -S bench -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 \
    && cmake --build "$BUILD" -j 2 >>"$LOG" 2>&1 || fail "building the bench programs failed"
fi

# One server for the whole run. Not preloaded or preloaded is switched by ALTER SYSTEM and a
# restart before each phase; its log timestamps every line (%n: Unix epoch, ms) and keeps the
# NOTICEs, from which the breakdown reads when the training loop ran.
start_throwaway_server
step "started a throwaway server on port $port in $scratch (its log: $scratch/server.log)"
psql_run -c "ALTER SYSTEM SET log_line_prefix = '%n [%p] '" -c "ALTER SYSTEM SET log_min_messages = notice"

restart_server() {  # $1: the shared_preload_libraries value, or none
  if [ -n "$1" ]; then
    psql_run -c "ALTER SYSTEM SET shared_preload_libraries = '$1'"
  else
    psql_run -c "ALTER SYSTEM RESET shared_preload_libraries"  # (SET to '' would name a library "")
  fi
  as_pg_user "$PG_BIN/pg_ctl" -D "$scratch/data" -l "$scratch/server.log" -w -m fast restart >/dev/null \
    || fail "restarting the server failed"
  # the table back in shared buffers, as on a server in use: the measured calls do not read it cold
  psql_run -At -c "SELECT count(*), sum(length(pixels)), sum(array_length(features, 1)) FROM images" >/dev/null
}

step "generating $ROWS rows in SQL"
t=$(now)
psql_run -v rows="$ROWS" <bench/data.sql >>"$LOG"
gen_s=$(since "$t")
psql_run -c "CREATE EXTENSION pinnacle_train"
{
  echo "gen_s=$gen_s"
  echo "steps=$STEPS"
  echo "pg_bin=$PG_BIN"
  echo "expected_library=$(realpath -m "$PG_BIN/../lib/pinnacle_train.so")"
  echo "openblas_num_threads=1 in the references, compute_kwargs.threads in pinnacle"
  echo "load_average=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$scratch/common.txt"

# The specs: bench/spec.json trains on the bytea column; the real[] spec is the same on features.
$PY - bench/spec.json "$STEPS" "$scratch" <<'PY' || fail "writing the specs failed"
import json, sys
spec = json.load(open(sys.argv[1]))
spec["max_iterations"] = spec["validation_interval"] = int(sys.argv[2])
json.dump(spec, open(f"{sys.argv[3]}/spec_bytea.json", "w"))
spec.update(select="SELECT features, label FROM images", key={"inputs": ["features"], "target": "label"},
            transform={"features": spec["transform"]["pixels"]})
json.dump(spec, open(f"{sys.argv[3]}/spec_real.json", "w"))
PY
bench_phase() {  # $1: data, cold or preloaded; key=value lines to stdout
  $PY bench/pinnacle_bench.py "$1" "$scratch" "$port" "$scratch/spec_bytea.json" "$scratch/spec_real.json" \
    "$scratch/server.log" 2>>"$LOG" || fail "pinnacle_bench.py $1 failed"
}
bench_phase data >>"$scratch/common.txt"

if [ -z "$ONLY" ]; then
  # plain_libtorch reads the same rows from IDX files (the MNIST format), as a user's program would
  $PY bench/export_idx.py "$scratch" "$port" "$scratch" >>"$scratch/common.txt" 2>>"$LOG" \
    || fail "exporting the rows for plain_libtorch failed"
fi

# One thread means one thread: OpenBLAS keeps a pool of its own that torch::set_num_threads
# does not bound, so the references get OPENBLAS_NUM_THREADS=1, as pinnacle's trainer sets
# OpenBLAS to compute_kwargs.threads itself.
ONE_THREAD="env OPENBLAS_NUM_THREADS=1"

# One measurement after another, so that they do not compete for the cores.
for rep in $(seq 1 "$REPEAT"); do
  out=$scratch/run.$rep
  mkdir -p "$out"
  cp "$scratch/common.txt" "$out/"
  if [ -z "$ONLY" ]; then
    step "run $rep/$REPEAT: server not preloaded: extension load, pinnacle_train on real[] and bytea"
    restart_server ""
    bench_phase cold >"$out/cold.txt"
  fi

  step "run $rep/$REPEAT: server preloaded: pinnacle_train on real[] and bytea, predict"
  restart_server pinnacle_train
  if [ -n "$ONLY" ]; then
    BENCH_ATTEMPTS=1 bench_phase preloaded >"$out/preloaded.txt"
    continue
  fi
  bench_phase preloaded >"$out/preloaded.txt"

  step "run $rep/$REPEAT: sgemm on one thread at the MLP's shapes"
  "$BUILD/sgemm_limit" >"$out/sgemm.txt" 2>>"$LOG" || fail "sgemm_limit failed"

  step "run $rep/$REPEAT: plain libtorch (twice with its DataLoader, once with index_select batches)"
  for attempt in 1 2; do
    t=$(now)
    $ONE_THREAD "$BUILD/plain_libtorch" "$scratch/images-idx3-ubyte" "$scratch/labels-idx1-ubyte" --steps "$STEPS" \
      >"$out/plain.$attempt.txt" 2>>"$LOG" || fail "plain_libtorch failed"
    echo "plain_process_s=$(since "$t")" >>"$out/plain.$attempt.txt"
  done
  $ONE_THREAD "$BUILD/plain_libtorch" "$scratch/images-idx3-ubyte" "$scratch/labels-idx1-ubyte" --steps "$STEPS" \
    --index-batches >"$out/plain_index.txt" 2>>"$LOG" || fail "plain_libtorch --index-batches failed"

  step "run $rep/$REPEAT: the Python way (twice)"
  for attempt in 1 2; do
    t=$(now)
    $ONE_THREAD $PY bench/python_reference.py "$scratch" "$port" "$scratch/spec_bytea.json" >"$out/python.$attempt.txt" 2>>"$LOG" \
      || fail "python_reference.py failed"
    echo "python_process_s=$(since "$t")" >>"$out/python.$attempt.txt"
  done
done

$PY bench/table.py "$scratch"/run.*
