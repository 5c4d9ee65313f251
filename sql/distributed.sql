-- Data-parallel training (compute_kwargs.workers): N ranks end with one rank's model.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.linear_spec(identifier text, workers int) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'identifier', identifier,
    'select', 'SELECT x1, x2, y FROM linear',
    'key', jsonb_build_object('inputs', jsonb_build_array('x1', 'x2'), 'target', 'y'),
    'model', '{"layers": [{"type": "Linear", "out_features": 32}, {"type": "Tanh"},
                          {"type": "Linear", "out_features": 1}]}'::jsonb,
    'transform', '{"x1": ["standardize"], "x2": ["min_max"]}'::jsonb,
    'objective', 'mse', 'optimizer_kwargs', '{"lr": 0.01}'::jsonb,
    'loader_kwargs', '{"batch_size": 64, "shuffle": true, "seed": 7}'::jsonb,
    'max_iterations', 400, 'validation_interval', 100,
    'validation', '{"split": 0.1, "metrics": ["mse", "r2"]}'::jsonb,
    'compute_kwargs', jsonb_build_object('workers', workers, 'seed', 3))
$$;
SELECT pinnacle_train(pg_temp.linear_spec('dp_one', 1), wait => true) AS one \gset
SELECT pinnacle_train(pg_temp.linear_spec('dp_two', 2), wait => true) AS two \gset

-- the same rows, steps and validations; the validation values and the best agree to float rounding
SELECT r.status, r.iterations, r.train_rows, r.validation_rows,
       abs(r.best_value - o.best_value) < 1e-6 AS same_best,
       (SELECT bool_and(abs(a::float8 - b::float8) < 1e-5)
        FROM jsonb_array_elements_text(r.metric_values -> 'r2') WITH ORDINALITY AS x(a, i)
        JOIN jsonb_array_elements_text(o.metric_values -> 'r2') WITH ORDINALITY AS y(b, j) ON i = j) AS same_r2_history,
       r.metric_values -> 'iteration' = o.metric_values -> 'iteration' AS same_validations
FROM pinnacle.runs r, pinnacle.runs o WHERE r.id = :two AND o.id = :one;
-- the transform was fitted over every rank's rows, and the models predict alike
SELECT (SELECT transform FROM pinnacle.models WHERE identifier = 'dp_two') =
       (SELECT transform FROM pinnacle.models WHERE identifier = 'dp_one') AS same_fitted_transform;
SELECT max(abs((pinnacle_predict('dp_two', x1, x2))[1] - (pinnacle_predict('dp_one', x1, x2))[1])) < 1e-4
       AS same_predictions
FROM linear_holdout;

-- a classifier with SGD, unshuffled
CREATE FUNCTION pg_temp.blobs_spec(identifier text, workers int) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'identifier', identifier, 'select', 'SELECT features, label FROM blobs',
    'key', jsonb_build_array('features', 'label'),
    'model', '{"layers": [{"type": "Linear", "out_features": 16}, {"type": "ReLU"},
                          {"type": "Linear", "out_features": 3}]}'::jsonb,
    'objective', 'cross_entropy', 'optimizer_cls', 'SGD', 'optimizer_kwargs', '{"lr": 0.05}'::jsonb,
    'loader_kwargs', '{"batch_size": 50, "shuffle": false}'::jsonb,
    'max_iterations', 120, 'validation_interval', 40,
    'validation', '{"split": 0.2, "metrics": ["accuracy", "f1"]}'::jsonb,
    'compute_kwargs', jsonb_build_object('workers', workers))
$$;
SELECT pinnacle_train(pg_temp.blobs_spec('dp_blobs_one', 1), wait => true) AS one \gset
SELECT pinnacle_train(pg_temp.blobs_spec('dp_blobs_two', 2), wait => true) AS two \gset
SELECT r.status, r.metric_values -> 'accuracy' = o.metric_values -> 'accuracy' AS same_accuracy,
       r.metric_values -> 'f1' = o.metric_values -> 'f1' AS same_f1,
       abs(r.best_value - o.best_value) < 1e-6 AS same_best
FROM pinnacle.runs r, pinnacle.runs o WHERE r.id = :two AND o.id = :one;

-- with a TorchScript model, and with padded sequences (collate_fn "pad", an LSTM)
CREATE FUNCTION pg_temp.same_history(a bigint, b bigint, metric text) RETURNS boolean LANGUAGE sql AS $$
  SELECT bool_and(abs(x::float8 - y::float8) < 1e-5)
  FROM pinnacle.runs ra, pinnacle.runs rb,
       jsonb_array_elements_text(ra.metric_values -> metric) WITH ORDINALITY AS p(x, i)
       JOIN jsonb_array_elements_text(rb.metric_values -> metric) WITH ORDINALITY AS q(y, j) ON i = j
  WHERE ra.id = a AND rb.id = b
$$;
CREATE FUNCTION pg_temp.ts_spec(identifier text, workers int) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'identifier', identifier, 'select', 'SELECT x1, x2, y FROM linear',
    'key', '{"inputs": ["x1", "x2"], "target": "y"}'::jsonb, 'signature', '*args',
    'model', '{"torchscript": "two_inputs"}'::jsonb, 'objective', 'mse', 'optimizer_kwargs', '{"lr": 0.01}'::jsonb,
    'max_iterations', 200, 'validation_interval', 100, 'validation', '{"split": 0.1, "metrics": ["mse"]}'::jsonb,
    'compute_kwargs', jsonb_build_object('workers', workers))
$$;
SELECT pinnacle_train(pg_temp.ts_spec('dp_ts_one', 1), wait => true) AS one \gset
SELECT pinnacle_train(pg_temp.ts_spec('dp_ts_two', 2), wait => true) AS two \gset
SELECT status, pg_temp.same_history(:one, :two, 'mse') AS same_mse_history FROM pinnacle.runs WHERE id = :two;
CREATE FUNCTION pg_temp.pad_spec(identifier text, workers int) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'identifier', identifier, 'select', 'SELECT tokens, last_token FROM sequences',
    'key', '["tokens", "last_token"]'::jsonb, 'collate_fn', 'pad',
    'model', '{"layers": [{"type": "Embedding", "num_embeddings": 5, "embedding_dim": 8, "padding_idx": 0},
                          {"type": "LSTM", "hidden_size": 16}, {"type": "Linear", "out_features": 4}]}'::jsonb,
    'objective', 'cross_entropy', 'optimizer_kwargs', '{"lr": 0.02}'::jsonb,
    'loader_kwargs', '{"batch_size": 32}'::jsonb, 'max_iterations', 100, 'validation_interval', 50,
    'validation', '{"split": 0.2, "metrics": ["accuracy"]}'::jsonb,
    'compute_kwargs', jsonb_build_object('workers', workers, 'seed', 1))
$$;
SELECT pinnacle_train(pg_temp.pad_spec('dp_pad_one', 1), wait => true) AS one \gset
SELECT pinnacle_train(pg_temp.pad_spec('dp_pad_two', 2), wait => true) AS two \gset
SELECT status, pg_temp.same_history(:one, :two, 'objective') AS same_loss_history,
       pg_temp.same_history(:one, :two, 'accuracy') AS same_accuracy_history
FROM pinnacle.runs WHERE id = :two;

-- streamed rows ("in_memory": false): every rank reads the spill file and computes its share of each batch
SELECT pinnacle_train(pg_temp.linear_spec('dp_stream_one', 1) || '{"in_memory": false, "prefetch_size": 500}', wait => true) AS one \gset
SELECT pinnacle_train(pg_temp.linear_spec('dp_stream_two', 2) || '{"in_memory": false, "prefetch_size": 500}', wait => true) AS two \gset
SELECT status, pg_temp.same_history(:one, :two, 'r2') AS same_r2_history FROM pinnacle.runs WHERE id = :two;

-- what cannot work is refused, naming the field; 3 ranks need more than pinnacle.max_workers (2)
\set VERBOSITY terse
SELECT pinnacle_train(pg_temp.linear_spec('dp_bad', 3));
SELECT pinnacle_train(pg_temp.linear_spec('dp_bad', 0));
SELECT pinnacle_train(jsonb_set(pg_temp.linear_spec('dp_bad', 2), '{compute_kwargs,timeout}', '0'));
