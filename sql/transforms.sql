-- Transforms are fitted on the training rows, saved with the model, applied again by predict.
SET client_min_messages = warning;
-- run ids appear in messages below: make them independent of the tests before this one
SELECT setval('pinnacle.runs_id_seq', 200) IS NOT NULL AS ids_from_201;
SELECT setseed(0.7);
-- raw features on very different scales
CREATE TABLE houses AS
SELECT rooms, area, color, (0.05 * rooms + 0.0003 * area + 0.1 * color)::real AS price
FROM (SELECT (1 + floor(random() * 5))::int AS rooms, (500 + random() * 3000)::real AS area,
             floor(random() * 4)::int AS color
      FROM generate_series(1, 4000)) AS s;

SELECT pinnacle_train('{
  "identifier": "houses",
  "select": "SELECT rooms, area, color, price FROM houses",
  "key": {"inputs": ["rooms", "area", "color"], "target": "price"},
  "transform": {"area": ["standardize"], "rooms": [{"shift": -3}, {"scale": 0.5}], "color": [{"one_hot": 4}]},
  "model": {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "optimizer_kwargs": {"lr": 0.01},
  "max_iterations": 1500,
  "validation_interval": 250,
  "validation": {"split": 0.1, "metrics": ["mae"]}
}', wait => true) AS run \gset
SELECT status, best_value < 0.02 AS mae_below_002 FROM pinnacle.runs WHERE id = :run;
-- the fitted statistics are stored with the version
SELECT column_widths, jsonb_object_keys(transform) AS transformed FROM pinnacle.models WHERE identifier = 'houses' ORDER BY 2;
SELECT (transform -> 'area' -> 0 -> 'standardize' -> 'center' ->> 0)::float8 BETWEEN 1900 AND 2100 AS mean_area_fitted
FROM pinnacle.models WHERE identifier = 'houses';
-- predict takes the raw values and applies the same transform
SELECT abs((pinnacle_predict('houses', 3, 2000::real, 2))[1] - (0.15 + 0.6 + 0.2)) < 0.05 AS predicts_raw_inputs;
SELECT avg(abs((pinnacle_predict('houses', rooms, area, color))[1] - price)) < 0.03 AS table_mae FROM houses;
SELECT pinnacle_predict('houses', 3, 2000::real, 9);

-- a transform on a column that is not an input, or a step that does not exist
SELECT pinnacle_train('{"identifier": "t", "select": "SELECT rooms, price FROM houses", "key": ["rooms", "price"],
  "transform": {"area": ["standardize"]}, "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "t", "select": "SELECT rooms, price FROM houses", "key": ["rooms", "price"],
  "transform": {"price": ["standardize"]}, "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "t", "select": "SELECT rooms, price FROM houses", "key": ["rooms", "price"],
  "transform": {"rooms": ["normalise"]}, "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "t", "select": "SELECT area, price FROM houses", "key": ["area", "price"],
  "transform": {"area": [{"one_hot": 4}]}, "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}', wait => true);

-- the run's history as an SVG chart, the best step marked
SELECT left(pinnacle_report(:run), 38) AS svg_start,
       pinnacle_report(:run) LIKE '%best: step%' AS marks_best,
       pinnacle_report(:run) LIKE '%</svg>%' AS complete;
SELECT pinnacle_report(-5);
-- nothing is training now
SELECT count(*) AS training_now FROM pinnacle.progress;
