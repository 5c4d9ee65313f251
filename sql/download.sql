-- "download": true keeps exactly the rows a run is fed in snapshot tables of the run, and a run
-- that continues it trains on those same rows.
-- run ids name the snapshot tables: make them independent of the tests before this one
SELECT setval('pinnacle.runs_id_seq', 400) IS NOT NULL AS ids_from_401;
CREATE TABLE download_points AS
SELECT g AS id, CASE WHEN g % 10 = 0 THEN 'validation' ELSE 'train' END AS part,
       (g % 7)::real / 7 AS x1, (g % 5)::real / 5 AS x2, (3 * (g % 7)::real / 7 - 2 * (g % 5)::real / 5 + 1)::real AS y
FROM generate_series(1, 1000) AS g;

-- a run keeps its training and validation rows (the caller says where, before the worker starts)
SELECT pinnacle_train('{
  "identifier": "snapshotted",
  "select": "SELECT id, x1, x2, y FROM download_points WHERE part = ''train''",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 20,
  "validation_interval": 10,
  "validation": {"select": "SELECT x1, x2, y FROM download_points WHERE part = ''validation''", "metrics": ["mse"]},
  "download": true
}') AS run \gset
SELECT pinnacle_wait(:run);
-- the run records its snapshots
SELECT status, snapshot, validation_snapshot, train_rows, validation_rows FROM pinnacle.runs WHERE id = :run;
-- which hold exactly the rows of the selects, with their columns
SELECT count(*) AS kept FROM pinnacle.run_401_train;
SELECT count(*) AS missing FROM (SELECT id, x1, x2, y FROM download_points WHERE part = 'train'
                                 EXCEPT ALL TABLE pinnacle.run_401_train) AS d;
SELECT count(*) AS extra FROM (TABLE pinnacle.run_401_train
                               EXCEPT ALL SELECT id, x1, x2, y FROM download_points WHERE part = 'train') AS d;
SELECT count(*) AS validation_kept,
       count(*) FILTER (WHERE (x1, x2, y) NOT IN (SELECT x1, x2, y FROM download_points WHERE part = 'validation'))
         AS not_selected
FROM pinnacle.run_401_validation;
SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
WHERE attrelid = 'pinnacle.run_401_train'::regclass AND attnum > 0 ORDER BY attnum;
SELECT obj_description('pinnacle.run_401_train'::regclass, 'pg_class') AS comment;

-- new rows arrive after the run
INSERT INTO download_points
SELECT g, CASE WHEN g % 10 = 0 THEN 'validation' ELSE 'train' END, 0.5, 0.5, 2
FROM generate_series(1001, 1300) AS g;

-- continuing the run with "download": true trains on its rows again, not on the select's new ones
SELECT pinnacle_train('{
  "identifier": "snapshotted",
  "select": "SELECT id, x1, x2, y FROM download_points WHERE part = ''train''",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 20,
  "validation_interval": 10,
  "validation": {"select": "SELECT x1, x2, y FROM download_points WHERE part = ''validation''", "metrics": ["mse"]},
  "optimizer_state": 401,
  "download": true
}') AS resumed \gset
SELECT pinnacle_wait(:resumed);
SELECT status, snapshot, validation_snapshot, train_rows, validation_rows, iterations FROM pinnacle.runs WHERE id = :resumed;
SELECT (SELECT count(*) FROM (TABLE pinnacle.run_401_train EXCEPT ALL TABLE pinnacle.run_402_train) AS d)
     + (SELECT count(*) FROM (TABLE pinnacle.run_402_train EXCEPT ALL TABLE pinnacle.run_401_train) AS d) AS differences,
       (SELECT count(*) FROM download_points WHERE part = 'train') AS select_now_returns;

-- without "download" a continued run trains on the select's rows of now, and keeps none
-- (waited runs end with a summary NOTICE whose time varies: not shown here)
SET client_min_messages = warning;
SELECT pinnacle_train('{
  "identifier": "snapshotted",
  "select": "SELECT id, x1, x2, y FROM download_points WHERE part = ''train''",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 20,
  "init_from": "snapshotted"
}', wait => true) AS fresh \gset
RESET client_min_messages;
SELECT snapshot, validation_snapshot, train_rows FROM pinnacle.runs WHERE id = :fresh;

-- "download": true continuing a run that kept no rows snapshots the select's rows of now
SELECT pinnacle_train('{
  "identifier": "snapshotted",
  "select": "SELECT id, x1, x2, y FROM download_points WHERE part = ''train''",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 20,
  "init_from": "snapshotted@3",
  "download": true
}') AS continued \gset
SELECT pinnacle_wait(:continued);
SELECT snapshot, train_rows, (SELECT count(*) FROM pinnacle.run_404_train) AS kept FROM pinnacle.runs WHERE id = :continued;

-- the snapshot is written in the caller's transaction: rolled back, it is gone, and continuing
-- that run on the same rows is refused rather than trained on other rows
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT pinnacle_train('{
  "identifier": "rolled_back",
  "select": "SELECT id, x1, x2, y FROM download_points WHERE part = ''train''",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 5,
  "download": true
}', wait => true) AS rolled_back \gset
SELECT to_regclass('pinnacle.run_405_train') IS NOT NULL AS exists_in_transaction;
ROLLBACK;
SELECT status, snapshot, to_regclass(snapshot) AS table_now FROM pinnacle.runs WHERE id = :rolled_back;
SELECT pinnacle_train('{
  "identifier": "rolled_back",
  "select": "SELECT id, x1, x2, y FROM download_points WHERE part = ''train''",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 5,
  "init_from": "rolled_back",
  "download": true
}');

-- errors name the field
SELECT pinnacle_train('{
  "identifier": "bad_download",
  "select": "SELECT x1, x2, y FROM download_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "download": "yes"
}');
SELECT pinnacle_train('{
  "identifier": "bad_download",
  "select": "SELECT x1, x2, y, x1 FROM download_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "download": true
}');
-- a select with a trailing semicolon and comment is kept as it is run
SELECT pinnacle_train('{
  "identifier": "semicolon",
  "select": "SELECT x1, x2, y FROM download_points WHERE id <= 100; -- the first hundred",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 5,
  "download": true
}') AS semicolon \gset
SELECT pinnacle_wait(:semicolon);
SELECT train_rows, (SELECT count(*) FROM pinnacle.run_408_train) AS kept FROM pinnacle.runs WHERE id = :semicolon;

-- a role with no privilege on schema pinnacle but USAGE keeps its rows, as it sees them
-- (row-level security applies), in a table it owns
CREATE ROLE regress_pinnacle_analyst LOGIN;
GRANT SELECT ON download_points TO regress_pinnacle_analyst;
ALTER TABLE download_points ENABLE ROW LEVEL SECURITY;
CREATE POLICY even_only ON download_points TO regress_pinnacle_analyst USING (id % 2 = 0);
SET ROLE regress_pinnacle_analyst;
SELECT pinnacle_train('{
  "identifier": "analyst_model",
  "select": "SELECT id, x1, x2, y FROM download_points WHERE part = ''train''",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 5,
  "download": true
}') AS analyst \gset
SELECT pinnacle_wait(:analyst);
SELECT status, snapshot, train_rows FROM pinnacle.runs WHERE id = :analyst;
SELECT count(*) AS kept, bool_and(id % 2 = 0) AS only_visible_rows FROM pinnacle.run_409_train;
-- no role may call the helper that creates snapshot tables, not even for a run id it drew
SELECT pinnacle.create_snapshot(currval('pinnacle.runs_id_seq'), 'train', 'regress_pinnacle_analyst', '{a}', '{int4}', '{-1}');
RESET ROLE;
SELECT tableowner FROM pg_tables WHERE schemaname = 'pinnacle' AND tablename = 'run_409_train';

-- deleting a run drops its snapshots
DELETE FROM pinnacle.models WHERE run_id = :run;
DELETE FROM pinnacle.runs WHERE id = :run;
SELECT to_regclass('pinnacle.run_401_train') AS train_table, to_regclass('pinnacle.run_401_validation') AS validation_table;
