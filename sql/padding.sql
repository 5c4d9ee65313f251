-- collate_fn "pad": arrays of any length, right-padded with zeros to the longest training
-- row, each row's length passed along: to LSTM/GRU layers (which stop at the last real
-- step) and to a TorchScript forward (after the inputs, or by name as <input>_lengths).
SET client_min_messages = warning;

-- sequences of 2..8 tokens (1..4); the class is the last real token, which only a model
-- that knows where each row ends can see
CREATE TABLE sequences AS
SELECT i, tokens, tokens[cardinality(tokens)] - 1 AS last_token
FROM (SELECT i, ARRAY(SELECT 1 + (i * 7 + j * 13 + (i * j) % 5) % 4
                      FROM generate_series(1, 2 + i % 7) j)::int[] AS tokens
      FROM generate_series(1, 600) i) s;

SELECT pinnacle_train('{
  "identifier": "last_token", "select": "SELECT tokens, last_token FROM sequences",
  "key": ["tokens", "last_token"], "collate_fn": "pad",
  "model": {"layers": [
    {"type": "Embedding", "num_embeddings": 5, "embedding_dim": 8, "padding_idx": 0},
    {"type": "LSTM", "hidden_size": 16},
    {"type": "Linear", "out_features": 4}]},
  "objective": "cross_entropy", "optimizer_kwargs": {"lr": 0.02}, "loader_kwargs": {"batch_size": 32},
  "max_iterations": 300, "validation_interval": 100,
  "validation": {"split": 0.2, "metrics": ["accuracy"]}, "listen": "accuracy",
  "compute_kwargs": {"seed": 1}
}', wait => true) AS run \gset
SELECT status, best_value > 0.95 AS learned FROM pinnacle.runs WHERE id = :run;
-- the stored width is the longest row's
SELECT column_widths FROM pinnacle.models WHERE identifier = 'last_token';
-- predict takes any length up to it, including lengths the training rows did not have
SELECT t AS tokens, pinnacle_classify('last_token', t) AS predicted
FROM (VALUES ('{3}'::int[]), ('{1,4}'), ('{2,2,2,2,2,1}'), ('{4,3,2,1,4,3,2,1}')) v(t);
SELECT pinnacle_predict('last_token', '{1,2,3,4,1,2,3,4,1}'::int[]);
SELECT pinnacle_predict('last_token', '{}'::int[]);
-- pinnacle_predict_batch runs rows of different lengths in one batch, each with its length
SELECT count(*) AS rows,
       bool_and((SELECT i - 1 FROM generate_subscripts(p.prediction, 1) i ORDER BY p.prediction[i] DESC LIMIT 1)
                = pinnacle_classify('last_token', p.t)) AS same_classes
FROM pinnacle_predict_batch('last_token', 'SELECT tokens, tokens AS t FROM sequences') AS p(t int[], prediction real[]);

-- a TorchScript forward(x, lengths) that averages each row's real values
\set masked_mean `base64 -w0 test/data/masked_mean.pt`
SELECT pinnacle_import('masked_mean', decode(:'masked_mean', 'base64'));
CREATE TABLE readings AS
SELECT i, v, (SELECT avg(x) FROM unnest(v) x)::real AS mean
FROM (SELECT i, ARRAY(SELECT ((i * 31 + j * 17) % 23)::real / 10 FROM generate_series(1, 1 + i % 9) j) AS v
      FROM generate_series(1, 400) i) s;
SELECT pinnacle_train('{
  "identifier": "mean", "select": "SELECT v, mean FROM readings", "key": ["v", "mean"],
  "collate_fn": "pad", "model": {"torchscript": "masked_mean"},
  "objective": "mse", "optimizer_kwargs": {"lr": 0.05}, "max_iterations": 400, "validation_interval": 100,
  "compute_kwargs": {"seed": 1}
}', wait => true) AS run \gset
SELECT status, best_value < 0.001 AS learned FROM pinnacle.runs WHERE id = :run;
SELECT round((pinnacle_predict('mean', '{1, 2, 6}'::real[]))[1]::numeric, 2) AS mean_of_3_values,
       round((pinnacle_predict('mean', '{2}'::real[]))[1]::numeric, 2) AS mean_of_1_value;
-- and in a batch, one request to its helper for many rows with their lengths
SELECT count(*) AS rows, max(abs(p.prediction[1] - (pinnacle_predict('mean', p.w))[1])) < 1e-5 AS same_as_predict
FROM pinnacle_predict_batch('mean', 'SELECT v, v AS w FROM readings') AS p(w float8[], prediction real[]);
-- by name, forward gets v= and v_lengths=; this one names them x and lengths, so it is refused
SELECT pinnacle_train('{
  "identifier": "mean_kw", "select": "SELECT v, mean FROM readings", "key": ["v", "mean"],
  "collate_fn": "pad", "model": {"torchscript": "masked_mean"}, "signature": "**kwargs",
  "objective": "mse", "max_iterations": 1
}', wait => true);

-- export: Python's torch.jit.load runs forward(padded inputs, lengths) with predict's output
\pset tuples_only on
\pset format unaligned
\o export.b64
SELECT encode(pinnacle_export('last_token'), 'base64');
\o expected.json
SELECT array_to_json(pinnacle_predict('last_token', '{2,2,3}'::int[]));
\o
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[2, 2, 3, 0, 0, 0, 0, 0]]' expected.json '[3]'
\pset tuples_only off
\pset format aligned

-- what pad cannot do, refused before any worker starts
SELECT pinnacle_train('{"identifier": "p", "select": "SELECT tokens, last_token FROM sequences",
  "key": ["tokens", "last_token"], "collate_fn": "pad", "in_memory": false,
  "model": {"layers": [{"type": "Linear", "out_features": 4}]}, "objective": "cross_entropy"}');
SELECT pinnacle_train('{"identifier": "p", "select": "SELECT v, mean FROM readings",
  "key": ["v", "mean"], "collate_fn": "pad", "signature": "singleton",
  "model": {"torchscript": "masked_mean"}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "p", "select": "SELECT tokens, tokens AS t2, last_token FROM sequences",
  "key": {"inputs": ["tokens", "t2"], "target": "last_token"}, "collate_fn": "pad",
  "model": {"layers": [{"type": "Linear", "out_features": 4}]}, "objective": "cross_entropy"}');
SELECT pinnacle_train('{"identifier": "p", "select": "SELECT v, mean FROM readings",
  "key": ["v", "mean"], "collate_fn": "pad", "transform": {"v": ["standardize"]},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
-- without pad, rows of different lengths are an error naming the row
SELECT pinnacle_train('{"identifier": "p", "select": "SELECT v, mean FROM readings ORDER BY i",
  "key": ["v", "mean"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
