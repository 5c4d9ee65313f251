-- A bad spec is an ERROR that names the field, raised before any worker starts.
SELECT pinnacle_train('[1, 2]');
SELECT pinnacle_train('{"select": "SELECT 1", "key": "x", "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "optimiser_cls": "SGD"}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "loader_kwargs": {"batch_size": "64"}}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "loader_kwargs": {"batch_size": 0}}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "msee"}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "optimizer_cls": "Adam", "optimizer_kwargs": {"momentum": 0.9}}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linera", "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_feature": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "in_features": 5, "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 3}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "validation": {"split": 1.5}}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "validation": {"split": 0.1, "metrics": ["accuracy"]}}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "listen": "r2"}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "uuid": "abc"}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "signature": "singleton"}');
-- out-of-range numbers and names are refused by the spec check, not by a worker that fails to start
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "compute_kwargs": {"threads": 2147483648}}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "compute_kwargs": {"threads": 4294967297}}');
SELECT pinnacle_train('{"identifier": "m", "select": "SELECT x1, x2, y FROM linear", "key": ["x1", "y"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "max_iterations": 18446744073709551615}');
SELECT pinnacle_train(jsonb_build_object('identifier', repeat('m', 10000), 'select', 'SELECT x1, y FROM linear', 'key', '["x1", "y"]'::jsonb, 'model', '{"layers": [{"type": "Linear", "out_features": 1}]}'::jsonb, 'objective', 'mse'));
-- nothing was recorded
SELECT count(*) AS runs FROM pinnacle.runs;
