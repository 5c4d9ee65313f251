-- With wait => false the call returns a run id once the rows are handed over.
SELECT pinnacle_train('{
  "identifier": "async",
  "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 200,
  "validation_interval": 100
}') AS run \gset
SELECT status IN ('running', 'succeeded') AS recorded FROM pinnacle.runs WHERE id = :run;
SELECT pinnacle_wait(:run);
SELECT status, iterations, stop_reason FROM pinnacle.runs WHERE id = :run;
SELECT pinnacle_wait(:run, '1 second');
SELECT pinnacle_wait(-1);
-- without validation rows the training loss stands in for the objective
SELECT jsonb_object_keys(metric_values) AS key FROM pinnacle.runs WHERE id = :run ORDER BY 1;
-- a run is not part of the caller's transaction: rolled back once the call returned, the run
-- goes on and makes its model version
BEGIN;
SELECT pinnacle_train('{
  "identifier": "outlives_rollback",
  "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 20
}') AS rolled_back_run \gset
ROLLBACK;
SELECT pinnacle_wait(:rolled_back_run);
SELECT count(*) AS versions FROM pinnacle.models WHERE identifier = 'outlives_rollback';
