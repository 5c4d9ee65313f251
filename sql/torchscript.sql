-- TorchScript in and out: a module scripted in Python trains here, and a trained model
-- exports to TorchScript that Python's torch.jit.load runs with predict's results.
SET client_min_messages = warning;
\set two_inputs `base64 -w0 test/data/two_inputs.pt`
\set one_input `base64 -w0 test/data/one_input.pt`
SELECT pinnacle_import('two_inputs', decode(:'two_inputs', 'base64'));
SELECT pinnacle_import('one_input', decode(:'one_input', 'base64'));
SELECT identifier, length(torchscript) > 0 AS stored FROM pinnacle.modules ORDER BY 1;

-- forward(x1, x2), inputs passed as *args
SELECT pinnacle_train('{
  "identifier": "ts_args", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "signature": "*args",
  "model": {"torchscript": "two_inputs"}, "objective": "mse", "optimizer_kwargs": {"lr": 0.01},
  "max_iterations": 800, "validation_interval": 200, "validation": {"split": 0.1, "metrics": ["mse"]}
}', wait => true) AS run \gset
SELECT status, best_value < 0.01 AS learned FROM pinnacle.runs WHERE id = :run;
SELECT abs((pinnacle_predict('ts_args', 1.0::real, 1.0::real))[1] - 2) < 0.15 AS predicts_2;
-- pinnacle_predict_batch sends its helper a batch of rows a request, and gets what predict gives
SELECT count(*) AS rows,
       max(abs(p.prediction[1] - (pinnacle_predict('ts_args', p.a, p.b))[1])) < 1e-5 AS same_as_predict
FROM pinnacle_predict_batch('ts_args', 'SELECT x1, x1 AS a, x2, x2 AS b FROM linear') AS p(a real, b real, prediction real[]);
-- the same module with its inputs passed by name
SELECT pinnacle_train('{
  "identifier": "ts_kwargs", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "signature": "**kwargs",
  "model": {"torchscript": "two_inputs"}, "objective": "mse", "optimizer_kwargs": {"lr": 0.01},
  "max_iterations": 800, "validation_interval": 200, "validation": {"split": 0.1, "metrics": ["mse"]}
}', wait => true) AS run \gset
SELECT status, best_value < 0.01 AS learned FROM pinnacle.runs WHERE id = :run;

-- export: Python loads the trained TorchScript module and gets predict's output
\pset tuples_only on
\pset format unaligned
\o export.b64
SELECT encode(pinnacle_export('ts_args'), 'base64');
\o expected.json
SELECT array_to_json(pinnacle_predict('ts_args', 0.3::real, -0.7::real));
\o
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[0.3], [-0.7]]' expected.json
-- a layer-list model with transforms exports with its transform
\o export.b64
SELECT encode(pinnacle_export('houses'), 'base64');
\o expected.json
SELECT array_to_json(pinnacle_predict('houses', 4, 1234.5::real, 3));
\o
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[4], [1234.5], [3]]' expected.json
\o export.b64
SELECT encode(pinnacle_export('blobs'), 'base64');
\o expected.json
SELECT array_to_json(pinnacle_predict('blobs', ARRAY[6, 6]::real[]));
\o
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[6, 6]]' expected.json
\pset tuples_only off
\pset format aligned

-- bytes that are not TorchScript: an error, and nothing stored
SELECT pinnacle_import('junk', '\x00010203'::bytea);
SELECT count(*) AS junk_stored FROM pinnacle.modules WHERE identifier = 'junk';
-- a forward that does not accept the inputs: an error before any worker starts
SELECT pinnacle_train('{
  "identifier": "ts_bad", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"torchscript": "one_input"}, "objective": "mse"
}');
SELECT pinnacle_train('{
  "identifier": "ts_bad", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"torchscript": "nothing_here"}, "objective": "mse"
}');
-- an output that does not fit the objective: the error names the module, not a layer list
SELECT pinnacle_train('{
  "identifier": "ts_bad", "select": "SELECT x1, x2, (y > 1)::int AS c FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "c"}, "model": {"torchscript": "two_inputs"}, "objective": "cross_entropy"
}');
SELECT count(*) AS bad_runs FROM pinnacle.runs WHERE identifier = 'ts_bad';
