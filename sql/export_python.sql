-- Exports Python can fine-tune: a layer list exports scripted, its model part with the
-- state_dict of the equivalent torch.nn.Sequential; an imported module exports scripted with its
-- trained parameters and its control flow.
SET client_min_messages = warning;
\pset tuples_only on
\pset format unaligned
-- version 1 of "linear" (regression.sql): Linear(2, 32), Tanh, Linear(32, 1), no transform
\o export.b64
SELECT encode(pinnacle_export('linear@1'), 'base64');
\o expected.json
SELECT array_to_json(pinnacle_predict('linear@1', 0.3::real, -0.7::real));
\o
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[0.3], [-0.7]]' expected.json
\! /usr/bin/python3 test/data/check_finetune.py export.b64 'nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1))'

-- a module with an "if" on its input keeps both branches (a trace would keep one)
\! /usr/bin/python3 test/data/branchy.py branchy.pt
\set branchy `base64 -w0 branchy.pt`
SELECT pinnacle_import('branchy', decode(:'branchy', 'base64'));
SELECT pinnacle_train('{
  "identifier": "branchy", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"torchscript": "branchy"},
  "objective": "mse", "max_iterations": 20
}', wait => true) IS NOT NULL AS trained;
\o export.b64
SELECT encode(pinnacle_export('branchy'), 'base64');
\o
\! /usr/bin/python3 test/data/branchy.py --check export.b64
-- with its trained parameters
\o expected.json
SELECT array_to_json(pinnacle_predict('branchy', 0.3::real, -0.7::real));
\o
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[0.3], [-0.7]]' expected.json
