#!/usr/bin/env bash
# What running a user's TorchScript outside PostgreSQL's processes costs pinnacle_predict
# (DESIGN.md section 7): the same two-input model, as an imported TorchScript module (predicted
# in a helper process of the backend, one request per row over a socketpair) and as a layer
# list (predicted in the backend), over the same 20,000 generated rows, in one server.
#
#   bash bench/torchscript_predict.sh      as root, after scripts/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh
ROWS=${BENCH_ROWS:-20000}

start_throwaway_server "shared_preload_libraries=pinnacle_train"
psql_run -c "CREATE EXTENSION pinnacle_train" -c "
  CREATE TABLE points AS SELECT (random() * 2 - 1)::real AS x1, (random() * 2 - 1)::real AS x2 FROM generate_series(1, $ROWS);
  ALTER TABLE points ADD COLUMN y real; UPDATE points SET y = 3 * x1 - 2 * x2 + 1;"
psql_run -c "SELECT pinnacle_import('two_inputs', decode('$(base64 -w0 test/data/two_inputs.pt)', 'base64'))"
common='"select": "SELECT x1, x2, y FROM points", "key": {"inputs": ["x1", "x2"], "target": "y"}, "objective": "mse", "max_iterations": 50'
psql_run -c "SELECT pinnacle_train('{\"identifier\": \"ts\", \"model\": {\"torchscript\": \"two_inputs\"}, $common}', wait => true)" >/dev/null 2>&1
psql_run -c "SELECT pinnacle_train('{\"identifier\": \"layers\", \"model\": {\"layers\": [{\"type\": \"Linear\", \"out_features\": 16}, {\"type\": \"Tanh\"}, {\"type\": \"Linear\", \"out_features\": 1}]}, $common}', wait => true)" >/dev/null 2>&1

# best of three, each in a fresh session (the first call loads the model, or starts the helper)
rate() {
  local best=0 t
  for _ in 1 2 3; do
    t=$(psql_run -At -c "SET client_min_messages = warning" -c "\\timing on" \
      -c "SELECT count(pinnacle_predict('$1', x1, x2)) FROM points" | awk '/^Time:/ { print $2 }')
    best=$(awk -v a="$best" -v t="$t" -v n="$ROWS" 'BEGIN { r = n / (t / 1000); print (r > a ? r : a) }')
  done
  echo "$best"
}
ts=$(rate ts)
layers=$(rate layers)
awk -v ts="$ts" -v layers="$layers" -v n="$ROWS" 'BEGIN {
  printf "pinnacle_predict over %d rows, best of three sessions:\n", n
  printf "  layer list, in the backend:            %8.0f rows/s\n", layers
  printf "  TorchScript module, in a helper:       %8.0f rows/s (%.1f us a row)\n", ts, 1e6 / ts
  printf "  helper / backend:                      %8.2f\n", ts / layers
}'
