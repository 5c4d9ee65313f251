-- pinnacle_drop_model drops versions with everything they keep; TRUNCATE pinnacle.runs leaves
-- no snapshot table behind.
SET client_min_messages = warning;
\set VERBOSITY terse
-- run ids name the snapshot tables: make them independent of the tests before this one
SELECT setval('pinnacle.runs_id_seq', 800) IS NOT NULL AS ids_from_801;
CREATE FUNCTION drop_run(download boolean) RETURNS bigint LANGUAGE sql AS $$
  SELECT pinnacle_train(jsonb_build_object(
    'identifier', 'dropped',
    'select', 'SELECT x1, x2, y FROM linear',
    'key', jsonb_build_object('inputs', jsonb_build_array('x1', 'x2'), 'target', 'y'),
    'model', '{"layers": [{"type": "Linear", "out_features": 1}]}'::jsonb,
    'objective', 'mse',
    'max_iterations', 30,
    'validation_interval', 10,
    'validation', '{"split": 0.1, "metrics": ["mse"]}'::jsonb,
    'download', download), wait => true)
$$;
SELECT drop_run(true) AS run1, drop_run(false) AS run2, drop_run(false) AS run3 \gset
SELECT version, deployed FROM pinnacle.models WHERE identifier = 'dropped' ORDER BY version;
SELECT to_regclass('pinnacle.run_801_train') IS NOT NULL AS snapshot_kept;

-- the deployed version 3 dropped: version 2, deployed before it, takes its place
SELECT pinnacle_drop_model('dropped', 3);
SELECT version, deployed FROM pinnacle.models WHERE identifier = 'dropped' ORDER BY version;
SELECT pinnacle_predict('dropped', 0.5::real, 0.5::real) = pinnacle_predict('dropped@2', 0.5::real, 0.5::real) AS bare_is_2;
SELECT pinnacle_predict('dropped@3', 0.5::real, 0.5::real);
-- with its run, checkpoints and metrics
SELECT (SELECT count(*) FROM pinnacle.runs WHERE id = :run3) AS runs,
       (SELECT count(*) FROM pinnacle.checkpoints WHERE run_id = :run3) AS checkpoints,
       (SELECT count(*) FROM pinnacle.metrics WHERE run_id = :run3) AS metrics;
-- version 1 takes its snapshot table with it
SELECT pinnacle_drop_model('dropped', 1);
SELECT to_regclass('pinnacle.run_801_train') IS NULL AS snapshot_dropped;
SELECT pinnacle_drop_model('dropped', 1);
-- only the owner drops
CREATE ROLE regress_drop_other;
SET ROLE regress_drop_other;
SELECT pinnacle_drop_model('dropped');
SELECT pinnacle_drop_model('dropped', 2);
RESET ROLE;
DROP ROLE regress_drop_other;
-- every version at once: the identifier is free again, a new run starts at version 1
SELECT drop_run(false) IS NOT NULL AS trained;
SELECT pinnacle_drop_model('dropped');
SELECT count(*) AS models, (SELECT count(*) FROM pinnacle.runs WHERE identifier = 'dropped') AS runs,
       (SELECT count(*) FROM pinnacle.identifiers WHERE identifier = 'dropped') AS claims,
       (SELECT count(*) FROM pinnacle.deployments WHERE identifier = 'dropped') AS deployments
FROM pinnacle.models WHERE identifier = 'dropped';
SELECT pinnacle_predict('dropped', 0.5::real, 0.5::real);
SELECT pinnacle_drop_model('dropped');
SELECT drop_run(false) IS NOT NULL AS trained;
SELECT version, deployed FROM pinnacle.models WHERE identifier = 'dropped';

-- TRUNCATE takes every run's snapshot tables with it
SELECT drop_run(true) AS run_with_snapshot \gset
SELECT count(*) > 0 AS snapshots FROM pg_tables WHERE schemaname = 'pinnacle' AND tablename ~ '^run_[0-9]+_(train|validation)$';
TRUNCATE pinnacle.runs CASCADE;
SELECT count(*) > 0 AS snapshots FROM pg_tables WHERE schemaname = 'pinnacle' AND tablename ~ '^run_[0-9]+_(train|validation)$';
SELECT count(*) AS models FROM pinnacle.models;
