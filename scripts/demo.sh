#!/usr/bin/env bash
# The main job, end to end: installs what is missing, builds and installs the extension,
# starts a throwaway PostgreSQL server in a temporary folder on a free local port, loads a
# small generated data set, trains a model with pinnacle_train(..., wait => true), prints
# the metric history and predictions beside the truth, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh
bash scripts/build.sh

start_throwaway_server
echo "== started a throwaway server on port $port in $scratch"

echo "== loading 10,000 rows of y = 3*x1 - 2*x2 + 1 + noise"
psql_run <<'SQL'
CREATE EXTENSION pinnacle_train;
SELECT setseed(0.5);
CREATE TABLE points AS
SELECT x1, x2, (3 * x1 - 2 * x2 + 1 + (random() - 0.5) * 0.02)::real AS y
FROM (SELECT (random() * 2 - 1)::real AS x1, (random() * 2 - 1)::real AS x2
      FROM generate_series(1, 10000)) AS s;
SQL

echo "== training (progress arrives as NOTICEs)"
psql_run <<'SQL'
SELECT pinnacle_train('{
  "identifier": "demo",
  "select": "SELECT x1, x2, y FROM points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 32}, {"type": "Tanh"},
                       {"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "optimizer_kwargs": {"lr": 0.01},
  "max_iterations": 1000,
  "validation_interval": 200,
  "validation": {"split": 0.1, "metrics": ["mse", "r2"]}
}', wait => true) AS run_id;
SQL

echo "== the run and its metric history"
psql_run <<'SQL'
SELECT id, identifier, version, status, iterations, best_iteration, round(best_value::numeric, 6) AS best_value, stop_reason
FROM pinnacle.runs;
SELECT iteration, split, name, round(value::numeric, 6) AS value
FROM pinnacle.metrics ORDER BY iteration, split, name;
SQL

echo "== the metric history as a chart: demo-report.svg"
psql_run -At -c "SELECT pinnacle_report(id) FROM pinnacle.runs WHERE identifier = 'demo'" > demo-report.svg
echo "written: $(pwd)/demo-report.svg (open it in a browser)"

echo "== predictions beside the truth"
psql_run <<'SQL'
SELECT x1, x2, round((3 * x1 - 2 * x2 + 1)::numeric, 3) AS truth,
       round((pinnacle_predict('demo', x1, x2))[1]::numeric, 3) AS predicted
FROM (VALUES (1.0::real, 1.0::real), (0.5, -0.5), (-1.0, 0.25), (0.0, 0.0)) AS v(x1, x2);
SQL
