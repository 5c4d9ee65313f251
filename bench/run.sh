#!/usr/bin/env bash
# The benchmark: pinnacle_train against the same training in a plain libtorch program (the
# core's own classes, no database) and in Python (psycopg2 + a DataLoader). Prints one table.
#
#   bash bench/run.sh        as root; BENCH_ROWS (default 60000) rows
#   BENCH_ONLY=predict       only what pinnacle_predict's figure needs (the data, the training
#                            run that makes the model, predict): no feed, plain libtorch or Python
#   BENCH_INSTALL=0          use the extension as installed for PG_BIN (default: build and
#                            install it into the system PostgreSQL)
#
# It builds and installs the extension from this checkout first (scripts/build.sh, idempotent),
# and plain_libtorch from the same sources, so both sides run the same core. Build output,
# NOTICEs and the server's log go to BENCH_LOG.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh

ROWS=${BENCH_ROWS:-60000}
BUILD=${BENCH_BUILD_DIR:-/tmp/build-bench}
CORE_SOURCE=$(realpath .)
LOG=${BENCH_LOG:-/tmp/pinnacle-bench.log}
PY=/usr/bin/python3   # Debian's, with python3-torch and python3-psycopg2 (not a pyenv python3)

: > "$LOG"
step() { echo "== $*" | tee -a "$LOG" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
fail() { echo "bench: $* (details in $LOG)" >&2; tail -n 20 "$LOG" >&2; exit 1; }

ONLY=${BENCH_ONLY:-}
case "$ONLY" in "" | predict) ;; *) fail "BENCH_ONLY must be empty or predict" ;; esac

if [ "${BENCH_INSTALL:-1}" != 0 ]; then
  step "building and installing the extension (scripts/build.sh)"
  bash scripts/build.sh >>"$LOG" 2>&1 || fail "scripts/build.sh failed"
fi

# Before the server starts, so that compiling does not overlap any measurement. At most two
# compile jobs: the machine is shared.
if [ -z "$ONLY" ]; then
  step "building bench/plain_libtorch in $BUILD, the core from $CORE_SOURCE"
  cmake -S bench -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPINNACLE_SOURCE_DIR="$CORE_SOURCE" >>"$LOG" 2>&1 \
    && cmake --build "$BUILD" -j 2 >>"$LOG" 2>&1 || fail "building plain_libtorch failed"
fi

# Preloaded, as the README recommends for production: workers and backends are forked with
# libtorch already mapped instead of loading it (about 0.9 s per process).
start_throwaway_server shared_preload_libraries=pinnacle_train
step "started a throwaway server on port $port in $scratch (its log: $scratch/server.log)"
results=$scratch/results.txt
echo "plain_core_source=$CORE_SOURCE" >"$results"

step "generating $ROWS rows in SQL"
t=$(now)
psql_run -v rows="$ROWS" <bench/data.sql >>"$LOG"
echo "gen_s=$(since "$t")" >>"$results"
psql_run -c "CREATE EXTENSION pinnacle_train"
if [ -z "$ONLY" ]; then
  # The plain program reads the same rows from a file: per row 784 pixel bytes, then the label.
  psql_run -At -c "COPY (SELECT encode(pixels || set_byte('\\x00'::bytea, 0, label), 'hex') FROM images) TO STDOUT" \
    | xxd -r -p >"$scratch/images.bin"
fi

# One after another, so that they do not compete for the two cores.
step "pinnacle_train: feed, training, worker RSS, predict"
BENCH_ONLY=$ONLY $PY bench/pinnacle_bench.py "$scratch" "$port" bench/spec.json >>"$results" 2>>"$LOG" \
  || fail "pinnacle_bench.py failed"
[ -z "$ONLY" ] || { $PY bench/table.py "$results"; exit 0; }

step "plain libtorch"
t=$(now)
"$BUILD/plain_libtorch" bench/spec.json "$scratch/images.bin" >>"$results" 2>>"$LOG" || fail "plain_libtorch failed"
echo "plain_process_s=$(since "$t")" >>"$results"

step "Python reference"
t=$(now)
$PY bench/python_reference.py "$scratch" "$port" bench/spec.json >>"$results" 2>>"$LOG" || fail "python_reference.py failed"
echo "python_process_s=$(since "$t")" >>"$results"

$PY bench/table.py "$results"
