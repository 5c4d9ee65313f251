-- Exports Python can fine-tune: a layer list exports scripted, its model part with the
-- state_dict of the equivalent torch.nn.Sequential (every layer type: a conv net with BatchNorm,
-- recurrent layers, a padded model), its transform a submodule of its own; an imported module
-- exports scripted with its trained parameters and its control flow.
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
\! /usr/bin/python3 test/data/check_finetune.py export.b64 'nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1))' '[torch.linspace(-1, 1, 7).reshape(7, 1), torch.linspace(1, -1, 7).reshape(7, 1)]'

-- a fitted transform is the export's submodule "transform", its statistics buffers; the model
-- part keeps the Sequential's keys
SELECT pinnacle_train('{
  "identifier": "export_standardized", "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "transform": {"x1": ["standardize"], "x2": [{"scale": 2.5}, "min_max"]},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse", "max_iterations": 20
}', wait => true) IS NOT NULL AS trained;
\o export.b64
SELECT encode(pinnacle_export('export_standardized'), 'base64');
\o expected.json
SELECT array_to_json(pinnacle_predict('export_standardized', 0.3::real, -0.7::real));
\o
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[0.3], [-0.7]]' expected.json
\! /usr/bin/python3 test/data/check_finetune.py export.b64 'nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))' '[torch.rand(7, 1), torch.rand(7, 1)]'

-- a conv net with BatchNorm: its running statistics are buffers under the Sequential's keys
CREATE TABLE export_patches AS
SELECT i, ARRAY(SELECT ((i * 31 + j * 17) % 11)::real / 10 FROM generate_series(1, 16) j) AS x, i % 3 AS label
FROM generate_series(1, 200) i;
SELECT pinnacle_train('{
  "identifier": "export_conv", "select": "SELECT x, label FROM export_patches", "key": ["x", "label"],
  "model": {"layers": [{"type": "Unflatten", "dim": 1, "unflattened_size": [1, 4, 4]},
    {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "BatchNorm2d"},
    {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
    {"type": "Linear", "out_features": 3}, {"type": "LogSoftmax", "dim": 1}]},
  "objective": "nll", "max_iterations": 20
}', wait => true) IS NOT NULL AS trained;
\o export.b64
SELECT encode(pinnacle_export('export_conv'), 'base64');
\o expected.json
SELECT array_to_json(pinnacle_predict('export_conv', '{0.1,0.5,0.9,0.2,0,0.3,1,0.4,0.6,0.7,0.8,0.2,0.1,0,0.5,0.9}'::real[]));
\o
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[0.1, 0.5, 0.9, 0.2, 0, 0.3, 1, 0.4, 0.6, 0.7, 0.8, 0.2, 0.1, 0, 0.5, 0.9]]' expected.json
\! /usr/bin/python3 test/data/check_finetune.py export.b64 'nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3), nn.LogSoftmax(1))' '[torch.rand(7, 16)]'

-- recurrent layers: Embedding, a two-layer LSTM's every step, a bidirectional GRU's last step
CREATE TABLE export_tokens AS
SELECT i, ARRAY(SELECT 1 + (i * 7 + j * 13 + (i * j) % 5) % 4 FROM generate_series(1, 2 + i % 7) j)::int[] AS tokens
FROM generate_series(1, 200) i;
SELECT pinnacle_train('{
  "identifier": "export_rnn", "select": "SELECT tokens, tokens[1] - 1 AS first FROM export_tokens WHERE cardinality(tokens) = 8",
  "key": ["tokens", "first"],
  "model": {"layers": [{"type": "Embedding", "num_embeddings": 5, "embedding_dim": 4},
    {"type": "LSTM", "hidden_size": 6, "num_layers": 2, "output": "all"},
    {"type": "GRU", "hidden_size": 5, "bidirectional": true}, {"type": "Linear", "out_features": 4}]},
  "objective": "cross_entropy", "max_iterations": 20
}', wait => true) IS NOT NULL AS trained;
\o export.b64
SELECT encode(pinnacle_export('export_rnn'), 'base64');
\o expected.json
SELECT array_to_json(pinnacle_predict('export_rnn', '{2,2,3,1,4,4,1,2}'::int[]));
\o
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[2, 2, 3, 1, 4, 4, 1, 2]]' expected.json
\! /usr/bin/python3 test/data/check_finetune.py export.b64 'nn.Sequential(Ids(5, 4), AllLSTM(4, 6, num_layers=2), LastGRU(6, 5, bidirectional=True), nn.Linear(10, 4))' '[torch.randint(0, 5, (7, 8)).float()]'

-- collate_fn "pad": forward takes the padded inputs, then their lengths
SELECT pinnacle_train('{
  "identifier": "export_padded", "select": "SELECT tokens, tokens[cardinality(tokens)] - 1 AS last FROM export_tokens",
  "key": ["tokens", "last"], "collate_fn": "pad",
  "model": {"layers": [{"type": "Embedding", "num_embeddings": 5, "embedding_dim": 4, "padding_idx": 0},
    {"type": "LSTM", "hidden_size": 6}, {"type": "Linear", "out_features": 4}]},
  "objective": "cross_entropy", "max_iterations": 20
}', wait => true) IS NOT NULL AS trained;
\o export.b64
SELECT encode(pinnacle_export('export_padded'), 'base64');
\o expected.json
SELECT array_to_json(pinnacle_predict('export_padded', '{2,2,3}'::int[]));
\o
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[2, 2, 3, 0, 0, 0, 0, 0]]' expected.json '[3]'
-- (unpadded: forward pads to the stored width, as pinnacle_predict does)
\! /usr/bin/python3 test/data/check_export.py export.b64 '[[2, 2, 3]]' expected.json '[3]'
\! /usr/bin/python3 test/data/check_finetune.py export.b64 'nn.Sequential(Ids(5, 4, padding_idx=0), LastLSTM(4, 6), nn.Linear(6, 4))' '[torch.randint(1, 5, (7, 8)).float()]' '[torch.full((7,), 8)]'

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

-- a forged optimizer state (from an attack): a tensor declared far into its storage, and a
-- storage declared larger than its bytes; libtorch's loader trusts both, the import does not
\o export.b64
SELECT encode(pinnacle_export('linear@1'), 'base64');
\o
\! /usr/bin/python3 test/data/forge_archive.py export.b64 forged.b64 offset
\set forged `cat forged.b64`
SELECT pinnacle_import('forged', decode(:'forged', 'base64'));
\! /usr/bin/python3 test/data/forge_archive.py export.b64 forged.b64 short
\set forged `cat forged.b64`
SELECT pinnacle_import('forged', decode(:'forged', 'base64'));
SELECT count(*) AS forged_versions FROM pinnacle.models WHERE identifier = 'forged';
