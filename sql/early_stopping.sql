-- Early stopping, exact max_iterations, the best weights kept, reproducible runs.
SET client_min_messages = warning;
-- max_iterations is exact: 37 steps, validated at 10, 20, 30 and at the end
SELECT pinnacle_train('{"identifier": "exact", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse", "max_iterations": 37, "validation_interval": 10}', wait => true) AS run \gset
SELECT iterations, stop_reason, metric_values -> 'iteration' AS validated_at FROM pinnacle.runs WHERE id = :run;

-- listen "accuracy": the best is the highest accuracy, and the model version holds it
SELECT pinnacle_train('{"identifier": "listen_accuracy", "select": "SELECT features, label FROM blobs",
  "key": ["features", "label"], "model": {"layers": [{"type": "Linear", "out_features": 3}]},
  "objective": "cross_entropy", "optimizer_kwargs": {"lr": 0.002}, "loader_kwargs": {"batch_size": 8},
  "max_iterations": 60, "validation_interval": 10, "listen": "accuracy", "no_improve_then_stop": 100,
  "validation": {"split": 0.2, "metrics": ["accuracy"]}}', wait => true) AS run \gset
SELECT r.best_value = (SELECT max(v::float8) FROM jsonb_array_elements_text(r.metric_values -> 'accuracy') v) AS best_is_highest,
       r.best_iteration = (SELECT iteration FROM pinnacle.checkpoints WHERE run_id = r.id AND is_best) AS best_checkpoint,
       r.best_iteration = m.iteration AS model_is_best
FROM pinnacle.runs r JOIN pinnacle.models m ON m.run_id = r.id WHERE r.id = :run;
-- listen "objective": the best is the lowest validation loss
SELECT pinnacle_train('{"identifier": "listen_objective", "select": "SELECT features, label FROM blobs",
  "key": ["features", "label"], "model": {"layers": [{"type": "Linear", "out_features": 3}]},
  "objective": "cross_entropy", "optimizer_cls": "SGD", "optimizer_kwargs": {"lr": 0.5}, "max_iterations": 60,
  "validation_interval": 10, "no_improve_then_stop": 100, "validation": {"split": 0.2}}', wait => true) AS run \gset
SELECT best_value = (SELECT min(v::float8) FROM jsonb_array_elements_text(metric_values -> 'objective') v) AS best_is_lowest
FROM pinnacle.runs WHERE id = :run;

-- no_improve_then_stop 2: with nothing to learn (lr 0) it stops two validations after the first
SELECT pinnacle_train('{"identifier": "patience", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse", "optimizer_cls": "SGD", "optimizer_kwargs": {"lr": 0}, "validation_interval": 10,
  "no_improve_then_stop": 2, "validation": {"split": 0.1}}', wait => true) AS run \gset
SELECT iterations, best_iteration, stop_reason FROM pinnacle.runs WHERE id = :run;

-- the same spec and seed give byte-identical weights
SELECT pinnacle_train('{"identifier": "seeded", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "Dropout", "p": 0.2}, {"type": "Linear", "out_features": 1}]},
  "objective": "huber", "optimizer_cls": "AdamW", "max_iterations": 50, "validation_interval": 50,
  "compute_kwargs": {"seed": 7, "deterministic": true, "threads": 1}, "loader_kwargs": {"seed": 3}}', wait => true) AS a \gset
SELECT pinnacle_train('{"identifier": "seeded", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "Dropout", "p": 0.2}, {"type": "Linear", "out_features": 1}]},
  "objective": "huber", "optimizer_cls": "AdamW", "max_iterations": 50, "validation_interval": 50,
  "compute_kwargs": {"seed": 7, "deterministic": true, "threads": 1}, "loader_kwargs": {"seed": 3}}', wait => true) AS b \gset
SELECT (SELECT weights FROM pinnacle.checkpoints WHERE run_id = :a AND iteration = 50)
     = (SELECT weights FROM pinnacle.checkpoints WHERE run_id = :b AND iteration = 50) AS identical_weights;
-- another seed gives other weights
SELECT pinnacle_train('{"identifier": "seeded", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "Dropout", "p": 0.2}, {"type": "Linear", "out_features": 1}]},
  "objective": "huber", "optimizer_cls": "AdamW", "max_iterations": 50, "validation_interval": 50,
  "compute_kwargs": {"seed": 8, "deterministic": true, "threads": 1}, "loader_kwargs": {"seed": 3}}', wait => true) AS c \gset
SELECT (SELECT weights FROM pinnacle.checkpoints WHERE run_id = :a AND iteration = 50)
     = (SELECT weights FROM pinnacle.checkpoints WHERE run_id = :c AND iteration = 50) AS same_as_other_seed;
