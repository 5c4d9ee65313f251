-- "in_memory": false: the rows are spilled to a file and streamed back in chunks of
-- prefetch_size rows, read ahead by prefetch_factor chunks on a background thread.
SET client_min_messages = warning;
SELECT pinnacle_train('{
  "identifier": "streamed", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 32}, {"type": "Tanh"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse", "optimizer_kwargs": {"lr": 0.01},
  "in_memory": false, "data_prefetch": true, "prefetch_size": 500, "prefetch_factor": 4,
  "transform": {"x1": [{"scale": 2}], "x2": [{"shift": 1}]},
  "max_iterations": 1200, "validation_interval": 300, "validation": {"split": 0.1, "metrics": ["mse"]}
}', wait => true) AS run \gset
SELECT status, iterations, train_rows + validation_rows AS all_rows, validation_rows BETWEEN 800 AND 1200 AS held_out,
       best_value < 0.01 AS learned
FROM pinnacle.runs WHERE id = :run;
SELECT abs((pinnacle_predict('streamed', 1.0::real, 1.0::real))[1] - 2) < 0.1 AS predicts_2;
-- without read-ahead, one chunk at a time
SELECT pinnacle_train('{
  "identifier": "streamed", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse",
  "in_memory": false, "prefetch_size": 64, "max_iterations": 300, "validation_interval": 300
}', wait => true) AS run \gset
SELECT status, iterations, train_rows FROM pinnacle.runs WHERE id = :run;

-- fitted transforms on streamed rows: one pass over the spill file per fitted step gives
-- the statistics an in-memory run fits on the same rows
SELECT pinnacle_train('{
  "identifier": "fitted_streamed", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse",
  "transform": {"x1": [{"scale": 3}, "standardize"], "x2": ["min_max"]},
  "in_memory": false, "prefetch_size": 700, "max_iterations": 10, "validation_interval": 10
}', wait => true) IS NOT NULL AS trained;
SELECT pinnacle_train('{
  "identifier": "fitted_in_memory", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse",
  "transform": {"x1": [{"scale": 3}, "standardize"], "x2": ["min_max"]},
  "max_iterations": 10, "validation_interval": 10
}', wait => true) IS NOT NULL AS trained;
SELECT step, abs((s.transform #>> path)::float8 - (m.transform #>> path)::float8) < 1e-4 AS same,
       (s.transform #>> path)::float8 NOT IN (0, 1) AS fitted
FROM pinnacle.models s, pinnacle.models m,
     (VALUES ('x1 center', '{x1,1,standardize,center,0}'::text[]), ('x1 spread', '{x1,1,standardize,spread,0}'),
             ('x2 center', '{x2,0,min_max,center,0}'), ('x2 spread', '{x2,0,min_max,spread,0}')) v(step, path)
WHERE s.identifier = 'fitted_streamed' AND m.identifier = 'fitted_in_memory';

-- prefetching in-memory rows is an error naming the field
SELECT pinnacle_train('{"identifier": "s", "select": "SELECT x1, y FROM linear", "key": ["x1", "y"],
  "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "prefetch_factor": 2}');
-- an in-memory data set over the memory limit fails early and suggests streaming
SELECT pinnacle_train('{"identifier": "s", "select": "SELECT x1, y FROM linear", "key": ["x1", "y"],
  "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse",
  "compute_kwargs": {"memory_limit": 20000}}');
-- the limit bounds the whole trainer: under 20 kB not even streamed rows can be read back
\set VERBOSITY sqlstate
SELECT pinnacle_train('{"identifier": "s", "select": "SELECT x1, y FROM linear", "key": ["x1", "y"],
  "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse",
  "in_memory": false, "prefetch_size": 100, "max_iterations": 20,
  "compute_kwargs": {"memory_limit": 20000}}', wait => true);
\set VERBOSITY default
SELECT status, error LIKE 'the trainer needs more memory than compute_kwargs.memory_limit (20 kB) allows: %' AS names_the_limit
FROM pinnacle.runs ORDER BY id DESC LIMIT 1;
-- 300,000 rows need more than 4 MB in memory; streamed, they train under that limit
CREATE TABLE many AS SELECT x1, (2 * x1 + 1)::real AS y
FROM (SELECT (i % 1000 / 500.0 - 1)::real AS x1 FROM generate_series(1, 300000) i) s;
SELECT pinnacle_train('{"identifier": "s", "select": "SELECT x1, y FROM many", "key": ["x1", "y"],
  "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse",
  "compute_kwargs": {"memory_limit": 4000000}}');
SELECT pinnacle_train('{"identifier": "s", "select": "SELECT x1, y FROM many", "key": ["x1", "y"],
  "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse",
  "in_memory": false, "prefetch_size": 100, "max_iterations": 20,
  "compute_kwargs": {"memory_limit": 4000000}}', wait => true) AS run \gset
SELECT status, train_rows FROM pinnacle.runs WHERE id = :run;
