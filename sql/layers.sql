-- A convolutional network written as a layer list learns 28x28 single-channel images stored
-- as bytea, scaled and reshaped by a transform.
SET client_min_messages = warning;
SELECT setseed(0.11);
-- three classes: a horizontal bar, a vertical bar, a diagonal, on noise
CREATE TABLE images AS
SELECT i, label,
       (SELECT decode(string_agg(lpad(to_hex(CASE
                  WHEN label = 0 AND r BETWEEN 12 AND 15 THEN 180 + (random() * 75)::int
                  WHEN label = 1 AND c BETWEEN 12 AND 15 THEN 180 + (random() * 75)::int
                  WHEN label = 2 AND abs(r - c) <= 1 THEN 180 + (random() * 75)::int
                  ELSE (random() * 90)::int END), 2, '0'), '' ORDER BY r, c), 'hex')
        FROM generate_series(0, 27) AS r, generate_series(0, 27) AS c) AS pixels
FROM (SELECT i, i % 3 AS label FROM generate_series(1, 900) AS i) AS s;
SELECT count(*), min(length(pixels)), max(length(pixels)) FROM images;

SELECT pinnacle_train('{
  "identifier": "conv",
  "select": "SELECT pixels, label FROM images",
  "key": ["pixels", "label"],
  "signature": "singleton",
  "transform": {"pixels": [{"scale": 0.00392156862745098}, {"reshape": [1, 28, 28]}]},
  "model": {"layers": [
    {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2d"},
    {"type": "ReLU"},
    {"type": "AdaptiveAvgPool2d", "output_size": 4},
    {"type": "Flatten"},
    {"type": "Dropout", "p": 0.1},
    {"type": "Linear", "out_features": 3}
  ]},
  "objective": {"name": "cross_entropy", "label_smoothing": 0.05},
  "loader_kwargs": {"batch_size": 32},
  "optimizer_kwargs": {"lr": 0.005},
  "max_iterations": 150,
  "validation_interval": 50,
  "listen": "accuracy",
  "validation": {"split": 0.2, "metrics": ["accuracy", "f1"]}
}', wait => true) AS run \gset
SELECT status, best_value > 0.95 AS accuracy_above_095 FROM pinnacle.runs WHERE id = :run;
SELECT label, pinnacle_classify('conv', pixels) = label AS right_class
FROM images WHERE i IN (3, 4, 5) ORDER BY label;

-- a bad layer names its index; an impossible shape is refused before any worker starts
SELECT pinnacle_train('{"identifier": "conv_bad", "select": "SELECT pixels, label FROM images", "key": ["pixels", "label"],
  "transform": {"pixels": [{"reshape": [1, 28, 28]}]},
  "model": {"layers": [{"type": "Conv2d", "out_channels": 4, "kernal_size": 3}]}, "objective": "cross_entropy"}');
SELECT pinnacle_train('{"identifier": "conv_bad", "select": "SELECT pixels, label FROM images", "key": ["pixels", "label"],
  "model": {"layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3}]}, "objective": "cross_entropy"}');
SELECT pinnacle_train('{"identifier": "conv_bad", "select": "SELECT pixels, label FROM images", "key": ["pixels", "label"],
  "transform": {"pixels": [{"reshape": [1, 28, 28]}]},
  "model": {"layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 40}]}, "objective": "cross_entropy"}');
SELECT count(*) AS bad_runs FROM pinnacle.runs WHERE identifier = 'conv_bad';
