#!/usr/bin/env bash
# A 4-trial search against 4 separate runs of the same 4 specs, on the bench's image table
# (bench/data.sql, BENCH_ROWS rows of 784 bytes). The runs read the select 4 times; the search
# reads it once, into a snapshot table, and feeds every trial from there. Prints both wall
# times: until the calls returned (the rows fed) and until the last trial or run ended.
#
#   bash bench/search.sh        as root
#   BENCH_ROWS=N                rows (default 60000)
#   BENCH_STEPS=N               optimizer steps per trial (default 938, one epoch)
#   BENCH_INSTALL=0             use the extension as installed for PG_BIN (default: build and
#                               install it with scripts/build.sh)
#   PG_BIN=...                  another installation's bin folder (a private copy)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh
source bench/image_server.sh

ROWS=${BENCH_ROWS:-60000}
STEPS=${BENCH_STEPS:-938}
LOG=${BENCH_LOG:-/tmp/pinnacle-bench-search.log}
LRS='[0.003, 0.001, 0.0003, 0.0001]'

: > "$LOG"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# two trials train at once either way, as the runs do
prepare_image_server "$ROWS" "$LOG" shared_preload_libraries=pinnacle_train pinnacle.max_workers=2
spec=$(sed "s/\"max_iterations\": 938/\"max_iterations\": $STEPS/; s/\"validation_interval\": 938/\"validation_interval\": $STEPS/" \
  bench/spec.json | tr -d '\n')

echo "== 4 separate runs (lr $LRS), each reading the select" >&2
start=$(now)
runs=$(for lr in $(echo "$LRS" | tr -d '[],'); do
  psql_run -At -c "SELECT pinnacle_train(jsonb_set('$spec'::jsonb, '{optimizer_kwargs,lr}', '$lr'))" 2>>"$LOG"
done | tr '\n' ' ')
runs_fed=$(since "$start")
for run in $runs; do psql_run -At -c "SELECT pinnacle_wait($run)" >>"$LOG"; done
runs_total=$(since "$start")

echo "== a 4-trial search over the same lr, reading the select once" >&2
start=$(now)
search=$(psql_run -At -c "SELECT pinnacle_search('$spec', '{\"method\": \"grid\", \"space\": {\"optimizer_kwargs.lr\": $LRS}}')" 2>>"$LOG")
search_fed=$(since "$start")
status=$(psql_run -At -c "SELECT pinnacle_wait_search($search)")
search_total=$(since "$start")
[ "$status" = succeeded ] || { echo "the search ended $status" >&2; exit 1; }

echo "| $ROWS rows, 4 × $STEPS steps, pinnacle.max_workers 2 | rows fed (calls returned) | wall time to the last end |"
echo "|---|---|---|"
echo "| 4 separate runs (4 reads of the select) | $runs_fed s | $runs_total s |"
echo "| 1 search of 4 trials (1 read, into a snapshot) | $search_fed s | $search_total s |"
