-- A failure inside training ends the run 'failed' with its message; the server keeps running.
SELECT pg_postmaster_start_time() AS started \gset
SET client_min_messages = warning;
-- run ids appear in messages below: make them independent of the tests before this one
SELECT setval('pinnacle.runs_id_seq', 300) IS NOT NULL AS ids_from_301;
-- labels go up to 2, but the model has only 2 outputs
SELECT pinnacle_train('{
  "identifier": "broken",
  "select": "SELECT features, label FROM blobs",
  "key": ["features", "label"],
  "model": {"layers": [{"type": "Linear", "out_features": 2}]},
  "objective": "cross_entropy",
  "max_iterations": 50
}', wait => true);
-- the spec (a model with too few outputs) is at fault
SELECT :'LAST_ERROR_SQLSTATE' AS broken_sqlstate;
SELECT status, error IS NOT NULL AS has_error, error LIKE '%out of bounds%' AS names_problem, finished_at IS NOT NULL AS finished
FROM pinnacle.runs WHERE identifier = 'broken';
SELECT count(*) AS broken_versions FROM pinnacle.models WHERE identifier = 'broken';
-- the same failure without waiting: pinnacle_wait reports it
SELECT pinnacle_train('{
  "identifier": "broken",
  "select": "SELECT features, label FROM blobs",
  "key": ["features", "label"],
  "model": {"layers": [{"type": "Linear", "out_features": 2}]},
  "objective": "cross_entropy",
  "max_iterations": 50
}') AS run \gset
SELECT pinnacle_wait(:run);
-- a diverging loss fails with a clear message
SELECT pinnacle_train('{
  "identifier": "diverges",
  "select": "SELECT x1, x2, y * 1e30 AS y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "optimizer_cls": "SGD",
  "optimizer_kwargs": {"lr": 1e10},
  "max_iterations": 50
}', wait => true);
-- a user's mistake is not an internal error (XX000): the data is at fault
SELECT :'LAST_ERROR_SQLSTATE' AS diverging_sqlstate;
SELECT status, error FROM pinnacle.runs WHERE identifier = 'diverges';
-- pinnacle_wait(NULL) is refused, not "run 0"
SELECT pinnacle_wait(NULL);
-- the server did not restart
SELECT pg_postmaster_start_time() = :'started' AS same_server;
SELECT count(*) AS still_answers FROM linear;
