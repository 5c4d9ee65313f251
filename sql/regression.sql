-- A regression learns y = 3*x1 - 2*x2 + 1 from two scalar real columns.
SET client_min_messages = warning;
SELECT pinnacle_train('{
  "identifier": "linear",
  "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 32}, {"type": "Tanh"},
                       {"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "optimizer_cls": "Adam",
  "optimizer_kwargs": {"lr": 0.01},
  "loader_kwargs": {"batch_size": 64, "shuffle": true},
  "max_iterations": 1200,
  "validation_interval": 200,
  "validation": {"split": 0.1, "metrics": ["mse", "r2"]}
}', wait => true) AS run \gset

SELECT status, stop_reason, iterations, error, train_rows, validation_rows, version
FROM pinnacle.runs WHERE id = :run;
-- the best validation mse is below 0.01 and r2 near 1
SELECT (metric_values -> 'mse' ->> (best_iteration / 200 - 1)::int)::float8 < 0.01 AS best_mse_below_001,
       jsonb_array_length(metric_values -> 'mse') AS validations,
       (SELECT max(v::float8) FROM jsonb_array_elements_text(metric_values -> 'r2') AS v) > 0.99 AS r2_above_099
FROM pinnacle.runs WHERE id = :run;
-- the model predicts 3 - 2 + 1 = 2 at (1, 1)
SELECT abs((pinnacle_predict('linear', 1.0::real, 1.0::real))[1] - 2) < 0.1 AS predicts_2;
SELECT abs((pinnacle_predict('linear@1', 0.5::real, -0.5::real))[1] - 3.5) < 0.1 AS predicts_3_5;
-- and does so over a table, with other numeric types too
SELECT avg(abs((pinnacle_predict('linear', x1::float8, x2::numeric))[1] - y)) < 0.1 AS holdout_mae_below_01
FROM linear_holdout;
-- every checkpoint holds weights and optimizer state; the model is the best one
SELECT count(*) >= 1 AS has_checkpoints,
       bool_and(length(weights) > 0 AND length(optimizer_state) > 0) AS all_non_empty,
       count(*) FILTER (WHERE is_best) AS best_checkpoints
FROM pinnacle.checkpoints WHERE run_id = :run;
SELECT m.iteration = r.best_iteration AS model_is_best, m.column_widths, m.version
FROM pinnacle.models m JOIN pinnacle.runs r ON r.id = m.run_id WHERE m.run_id = :run;
-- one metrics row per validation per metric
SELECT split, name, count(*) FROM pinnacle.metrics WHERE run_id = :run GROUP BY 1, 2 ORDER BY 1, 2;

-- validation rows from a select of their own; a second run adds version 2
SELECT pinnacle_train('{
  "identifier": "linear",
  "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 32}, {"type": "GELU"},
                       {"type": "LayerNorm"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "optimizer_cls": "SGD",
  "optimizer_kwargs": {"lr": 0.05, "momentum": 0.9},
  "max_iterations": 900,
  "validation_interval": 300,
  "validation": {"select": "SELECT x1, x2, y FROM linear_holdout", "metrics": ["mse"]}
}', wait => true) AS run2 \gset
SELECT status, iterations, validation_rows, version FROM pinnacle.runs WHERE id = :run2;
SELECT (best_value < 0.05) AS sgd_learned FROM pinnacle.runs WHERE id = :run2;
SELECT abs((pinnacle_predict('linear@2', 1.0::real, 1.0::real))[1] - 2) < 0.2 AS version_2_predicts_2;
SELECT identifier, version FROM pinnacle.models ORDER BY version;
-- a backend keeps at most pinnacle.predict_cache_size models loaded: the least recently used
-- one is freed (never one the running transaction uses), and loaded again when asked for
SET pinnacle.predict_cache_size = 1;
SELECT (pinnacle_predict('linear@1', 1.0::real, 1.0::real))[1] IS NOT NULL AS loaded_v1;
SET client_min_messages = debug1;
SELECT (pinnacle_predict('linear@2', 1.0::real, 1.0::real))[1] IS NOT NULL AS loaded_v2_evicting_v1;
SELECT (pinnacle_predict('linear@1', 1.0::real, 1.0::real))[1] IS NOT NULL AS loaded_v1_evicting_v2;
-- both in one statement: neither is freed while the statement may use it
SELECT (pinnacle_predict('linear@1', 1.0::real, 1.0::real))[1] = (pinnacle_predict('linear@1', 1.0::real, 1.0::real))[1]
   AND (pinnacle_predict('linear@2', 1.0::real, 1.0::real))[1] IS NOT NULL AS both_in_one_statement;
RESET client_min_messages;
RESET pinnacle.predict_cache_size;
-- nothing read back from the catalog is trusted: edited column widths (only a superuser can
-- edit the catalog) are an error, in a new session that has not loaded the model yet
\c
BEGIN;
UPDATE pinnacle.models SET column_widths = '{}' WHERE identifier = 'linear' AND version = 1;
SELECT pinnacle_predict('linear@1', 1.0::real, 1.0::real);
ROLLBACK;
BEGIN;
UPDATE pinnacle.models SET column_widths = '{2,-1,1}' WHERE identifier = 'linear' AND version = 1;
SELECT pinnacle_predict('linear@1', 1.0::real, 1.0::real);
ROLLBACK;
-- pinnacle_predict_batch: the model over a select's rows; the columns that are not inputs pass
-- through, in order, then the prediction: what pinnacle_predict gives, to float rounding (a
-- batch of rows runs through torch's matrix products, a single row through the plan)
SELECT count(*) AS rows,
       max(abs(p.prediction[1] - (pinnacle_predict('linear@1', p.a, p.b))[1])) < 1e-5 AS same_as_predict
FROM pinnacle_predict_batch('linear@1', 'SELECT x1 AS a, x1, x2, x2 AS b FROM linear_holdout')
     AS p(a real, b real, prediction real[]);
-- a row with a NULL input gets a NULL prediction, as pinnacle_predict (strict) gives; the other
-- rows of its batch are predicted
SELECT n, p.prediction IS NULL AS no_prediction, abs(p.prediction[1] - 2) < 0.1 AS predicts_2
FROM pinnacle_predict_batch('linear', 'SELECT n, x1, x2 FROM (VALUES (1, 1::real, 1::real), (2, NULL, 1), (3, 1, 1)) v(n, x1, x2)')
     AS p(n integer, prediction real[]) ORDER BY n;
-- an empty select: no rows
SELECT count(*) AS no_rows FROM pinnacle_predict_batch('linear', 'SELECT x1, x2 FROM linear_holdout WHERE false')
    AS p(prediction real[]);
-- it feeds INSERT ... SELECT, and runs in a read-only transaction
CREATE TABLE batch_out (y real, prediction real[]);
INSERT INTO batch_out SELECT * FROM pinnacle_predict_batch('linear', 'SELECT y, x1, x2 FROM linear_holdout LIMIT 10')
    AS p(y real, prediction real[]);
SELECT count(*) AS inserted FROM batch_out;
BEGIN READ ONLY;
SELECT count(*) AS read_only_rows FROM pinnacle_predict_batch('linear', 'SELECT x1, x2 FROM linear_holdout')
    AS p(prediction real[]);
ROLLBACK;
-- errors name what does not fit
SELECT pinnacle_predict_batch('linear', 'SELECT x1, x2 FROM linear_holdout');
SELECT * FROM pinnacle_predict_batch('linear', 'SELECT x1 FROM linear_holdout') AS p(prediction real[]);
SELECT * FROM pinnacle_predict_batch('linear', 'SELECT y, x1, x2 FROM linear_holdout') AS p(prediction real[]);
SELECT * FROM pinnacle_predict_batch('linear', 'SELECT y, x1, x2 FROM linear_holdout') AS p(y integer, prediction real[]);
SELECT * FROM pinnacle_predict_batch('linear', 'DELETE FROM linear_holdout RETURNING x1, x2') AS p(prediction real[]);
SELECT * FROM pinnacle_predict_batch('linear', 'SELECT x1, x2::text FROM linear_holdout') AS p(prediction real[]);
-- a cancel (here statement_timeout) ends a long one
SET statement_timeout = '300ms';
SELECT count(*) FROM pinnacle_predict_batch('linear', 'SELECT x1, x2 FROM linear_holdout, generate_series(1, 100000)')
    AS p(prediction real[]);
RESET statement_timeout;
-- calls nested in the select of another on the same model, made while the outer call's batch
-- runs on the model's thread: each call gets its own rows' predictions, and an inner call that
-- fails after its first batch (its error caught) leaves the outer one whole
CREATE FUNCTION nested_batch(x1 real, x2 real, fail boolean) RETURNS real LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT avg(p.prediction[1]) FROM pinnacle_predict_batch('linear', format(
      'SELECT %s::real AS x1, %s::real / CASE WHEN %L::boolean AND i = 1500 THEN 0 ELSE 1 END AS x2 FROM generate_series(1, 2000) i',
      x1, x2, fail)) AS p(prediction real[]));
EXCEPTION WHEN division_by_zero THEN
  RETURN -1;
END $$;
SELECT count(*) AS rows, count(*) FILTER (WHERE inner_mean = -1) AS failed_inside,
       bool_and(abs(inner_mean - p.prediction[1]) < 1e-4) FILTER (WHERE inner_mean <> -1) AS inner_agrees,
       max(abs(p.prediction[1] - (pinnacle_predict('linear', a, b))[1])) < 1e-5 AS same_as_predict
FROM pinnacle_predict_batch('linear', 'SELECT CASE WHEN n % 1500 = 0 THEN nested_batch(x1, x2, n % 3000 = 0) END AS inner_mean,
                                   x1, x2, x1 AS a, x2 AS b FROM (SELECT row_number() OVER () AS n, x1, x2 FROM linear) s')
    AS p(inner_mean real, a real, b real, prediction real[]);
