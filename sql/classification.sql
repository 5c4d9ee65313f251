-- Three well-separated classes in a real[] column with an integer label.
SET client_min_messages = warning;
SELECT pinnacle_train('{
  "identifier": "blobs",
  "select": "SELECT features, label FROM blobs",
  "key": ["features", "label"],
  "model": {"layers": [{"type": "Linear", "out_features": 16}, {"type": "BatchNorm1d"}, {"type": "ReLU"},
                       {"type": "Dropout", "p": 0.1}, {"type": "Linear", "out_features": 3}]},
  "objective": "cross_entropy",
  "loader_kwargs": {"batch_size": 32},
  "optimizer_kwargs": {"lr": 0.01},
  "max_iterations": 400,
  "validation_interval": 100,
  "listen": "accuracy",
  "validation": {"split": 0.2, "metrics": ["accuracy", "f1"]}
}', wait => true) AS run \gset
SELECT status, stop_reason, iterations, validation_rows FROM pinnacle.runs WHERE id = :run;
SELECT best_value > 0.95 AS accuracy_above_095 FROM pinnacle.runs WHERE id = :run;
SELECT pinnacle_classify('blobs', ARRAY[0, 0]::real[]) AS centre_0,
       pinnacle_classify('blobs', ARRAY[6, 6]::real[]) AS centre_1,
       pinnacle_classify('blobs', ARRAY[-6, 6]::float8[]) AS centre_2;
SELECT array_length(pinnacle_predict('blobs', ARRAY[0, 0]::real[]), 1) AS outputs;
-- accuracy over the whole table
SELECT avg((pinnacle_classify('blobs', features) = label)::int) > 0.95 AS table_accuracy FROM blobs;

-- binary classification with bce_with_logits on an autoencoder-free key, with Sigmoid/Flatten layers
SELECT pinnacle_train('{
  "identifier": "upper",
  "select": "SELECT features, (features[2] > 3)::int::real AS upper FROM blobs",
  "key": ["features", "upper"],
  "model": {"layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 8}, {"type": "Sigmoid"},
                       {"type": "Linear", "out_features": 1}]},
  "objective": "bce_with_logits",
  "optimizer_kwargs": {"lr": 0.05},
  "max_iterations": 300,
  "validation_interval": 100,
  "validation": {"split": 0.2, "metrics": ["accuracy", "precision", "recall"]}
}', wait => true) AS run2 \gset
SELECT status, (metric_values -> 'accuracy' ->> -1)::float8 > 0.95 AS accuracy_above_095
FROM pinnacle.runs WHERE id = :run2;
SELECT pinnacle_classify('upper', ARRAY[0, 0]::real[]) AS lower_class,
       pinnacle_classify('upper', ARRAY[6, 6]::real[]) AS upper_class;

-- input errors at predict time name the input
SELECT pinnacle_classify('blobs', ARRAY[0, 0, 0]::real[]);
SELECT pinnacle_classify('blobs', ARRAY[0, 0]::real[], 1);
SELECT pinnacle_classify('nosuchmodel', ARRAY[0, 0]::real[]);
SELECT pinnacle_classify('blobs@9', ARRAY[0, 0]::real[]);
SELECT pinnacle_classify('blobs', NULL::real[]) IS NULL AS null_in_null_out;

-- pinnacle_predict_batch over an array column agrees with pinnacle_classify row by row
SELECT count(*) AS rows,
       bool_and((SELECT i - 1 FROM generate_subscripts(p.prediction, 1) i ORDER BY p.prediction[i] DESC LIMIT 1)
                = pinnacle_classify('blobs', p.f)) AS same_classes
FROM pinnacle_predict_batch('blobs', 'SELECT features, features AS f FROM blobs') AS p(f real[], prediction real[]);
-- a NULL array gets a NULL prediction; an array with a NULL, or of another width, is an error
-- that names its row
SELECT n, prediction IS NULL AS no_prediction
FROM pinnacle_predict_batch('blobs', 'SELECT n, features FROM (VALUES (1, ARRAY[0, 0]::real[]), (2, NULL)) v(n, features)')
     AS p(n integer, prediction real[]) ORDER BY n;
SELECT * FROM pinnacle_predict_batch('blobs', 'SELECT features FROM (VALUES (ARRAY[0, 0]::real[]), (ARRAY[1, NULL])) v(features)')
    AS p(prediction real[]);
SELECT * FROM pinnacle_predict_batch('blobs', 'SELECT features FROM (VALUES (ARRAY[0, 0]::real[]), (ARRAY[1, 2, 3])) v(features)')
    AS p(prediction real[]);
