-- pinnacle_search: grid, random and halving over spec paths, every trial a run on the same
-- rows, read once. (Waited runs end with NOTICEs whose times vary: not shown here.)
SET client_min_messages = warning;
-- run ids show in errors: make them independent of the tests before this one
SELECT setval('pinnacle.runs_id_seq', 2000) IS NOT NULL AS ids_from_2001;
CREATE TABLE search_points AS SELECT x1, x2, y FROM linear LIMIT 2000;

-- every trial's spec is checked before anything starts; errors name the path and the value
SELECT count(*) AS runs_before FROM pinnacle.runs \gset
SELECT pinnacle_search('{"identifier": "s_bad", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse"}', '{"method": "grid", "space": {"optimizer_kwargs.lr": [0.01, -1]}}');
SELECT pinnacle_search('{"identifier": "s_bad", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse"}', '{"method": "grid", "space": {"model.layers.3.out_features": [2]}}');
SELECT pinnacle_search('{"identifier": "s_bad", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse"}', '{"method": "grid", "space": {"optimizer_kwargs.momentum": [0.9]}}');
SELECT pinnacle_search('{"identifier": "s_bad", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse"}', '{"method": "grid", "space": {"select": ["SELECT 1"]}}');
SELECT pinnacle_search('{"identifier": "s_bad", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse"}', '{"method": "grid", "space": {"deploy": ["always", "manual"]}}');
SELECT pinnacle_search('{"identifier": "s_bad", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse"}', '{"method": "grid", "space": {"optimizer_kwargs.lr": {"log_uniform": [0.001, 0.1]}}}');
SELECT pinnacle_search('{"identifier": "s_bad", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse"}', '{"method": "random", "trials": 2, "spaces": {}}');
-- a model a trial's value breaks is caught too, before any trial starts
SELECT pinnacle_search('{"identifier": "s_bad", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 4}, {"type": "Linear", "in_features": 4, "out_features": 1}]},
  "objective": "mse"}', '{"method": "grid", "space": {"model.layers.0.out_features": [4, 3]}}');
-- the trials share one read of the rows, so they must read them alike
SELECT pinnacle_search('{"identifier": "s_bad", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse"}', '{"method": "grid", "space": {"objective": ["mse", "cross_entropy"]}}');
SELECT count(*) - :runs_before AS runs_started, (SELECT count(*) FROM pinnacle.searches) AS searches
FROM pinnacle.runs;

-- grid: every point of the space is a trial, each a run of the search, on the same rows
-- and the same validation split
SELECT pinnacle_search('{"identifier": "s_grid", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse", "max_iterations": 60, "validation_interval": 20, "no_improve_then_stop": 100,
  "validation": {"split": 0.2}}',
  '{"method": "grid", "space": {"optimizer_kwargs.lr": [0.05, 0.001], "model.layers.0.out_features": [8, 2]}}',
  wait => true) AS grid \gset
SELECT method, status, trials, rungs, listen, space FROM pinnacle.searches WHERE id = :grid;
SELECT t.trial, t.params, t.status, r.status AS run_status, r.search_id = :grid AS run_of_search,
       r.train_rows, r.validation_rows, r.spec -> 'model' -> 'layers' -> 0 -> 'out_features' AS width,
       r.spec -> 'optimizer_kwargs' -> 'lr' AS lr, r.spec -> 'download' AS download
FROM pinnacle.search_trials t JOIN pinnacle.runs r ON r.id = t.run_id WHERE t.search_id = :grid ORDER BY t.trial;
-- the best trial is the one with the lowest validation objective, and its value is the search's
SELECT s.best_run_id = (SELECT t.run_id FROM pinnacle.search_trials t WHERE t.search_id = s.id
                        ORDER BY t.best_value LIMIT 1) AS best_is_lowest,
       s.best_value = (SELECT min(r.best_value) FROM pinnacle.runs r WHERE r.search_id = s.id) AS best_value_kept
FROM pinnacle.searches s WHERE s.id = :grid;
-- the rows were read once: into the first trial's snapshot, which holds exactly the rows
-- every trial trained and validated on
SELECT snapshot AS grid_snapshot FROM pinnacle.runs WHERE search_id = :grid AND snapshot IS NOT NULL \gset
SELECT count(*) AS kept, (SELECT count(*) FROM pinnacle.runs WHERE search_id = :grid AND snapshot IS NOT NULL) AS snapshots,
       bool_and(r.train_rows + r.validation_rows = (SELECT count(*) FROM :grid_snapshot)) AS every_trial_saw_them
FROM :grid_snapshot, pinnacle.runs r WHERE r.search_id = :grid;
-- each succeeded trial made a model version; trials run with "deploy": "manual", and the
-- search deployed the best trial's version (the spec's policy: "always" by default)
SELECT count(*) AS versions, count(*) FILTER (WHERE m.deployed) AS deployed,
       bool_and(m.deployed = (r.id = s.best_run_id)) AS best_is_deployed,
       bool_and(r.spec ->> 'deploy' = 'manual') AS trials_manual
FROM pinnacle.models m JOIN pinnacle.runs r ON r.id = m.run_id JOIN pinnacle.searches s ON s.id = r.search_id
WHERE r.search_id = :grid;
-- the spec's deploy policy is the search's: "if_better" leaves a better deployed version in
-- place, "always" deploys the best trial
SELECT pinnacle_search('{"identifier": "s_grid", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse", "max_iterations": 20, "validation_interval": 20, "validation": {"split": 0.2},
  "deploy": "if_better"}', '{"method": "grid", "space": {"optimizer_kwargs.lr": [0.0001, 0.00005]}}', wait => true)
  AS if_better \gset
SELECT r.search_id = :grid AS deployed_from_first_search FROM pinnacle.models m JOIN pinnacle.runs r ON r.id = m.run_id
WHERE m.identifier = 's_grid' AND m.deployed;
SELECT pinnacle_search('{"identifier": "s_grid", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse", "max_iterations": 20, "validation_interval": 20, "validation": {"split": 0.2}}',
  '{"method": "grid", "space": {"optimizer_kwargs.lr": [0.0001, 0.00005]}}', wait => true) AS always \gset
SELECT r.id = s.best_run_id AS deployed_best_of_last_search, d.reason = 'search ' || :always || ': best trial' AS reason_names_it
FROM pinnacle.models m JOIN pinnacle.runs r ON r.id = m.run_id JOIN pinnacle.searches s ON s.id = :always
JOIN LATERAL (SELECT reason FROM pinnacle.deployments WHERE identifier = 's_grid' ORDER BY id DESC LIMIT 1) AS d ON true
WHERE m.identifier = 's_grid' AND m.deployed;

-- random: seeded samples of distributions and lists; wait => false returns at once
SELECT pinnacle_search('{"identifier": "s_random", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse", "max_iterations": 40, "validation_interval": 20, "validation": {"split": 0.2}}',
  '{"method": "random", "trials": 3, "seed": 11, "space": {"optimizer_kwargs.lr": {"log_uniform": [0.0001, 0.1]},
    "loader_kwargs.batch_size": {"int_uniform": [16, 64]}, "optimizer_cls": ["Adam", "AdamW"]}}') AS random \gset
SELECT pinnacle_wait_search(:random);
SELECT t.trial, round((t.params ->> 'optimizer_kwargs.lr')::numeric, 6) AS lr,
       t.params -> 'loader_kwargs.batch_size' AS batch_size, t.params -> 'optimizer_cls' AS optimizer, t.status
FROM pinnacle.search_trials t WHERE t.search_id = :random ORDER BY t.trial;
SELECT status, best_run_id IS NOT NULL AS has_best FROM pinnacle.searches WHERE id = :random;

-- cancelling a search cancels its trials, queued ones included (pinnacle.max_workers is 2)
SELECT pinnacle_search('{"identifier": "s_cancel", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse", "max_iterations": 10000000, "validation_interval": 1000}',
  '{"method": "grid", "space": {"optimizer_kwargs.lr": [0.1, 0.01, 0.001]}}') AS cancelled \gset
SELECT pinnacle_cancel_search(:cancelled);
SELECT pinnacle_wait_search(:cancelled);
SELECT t.trial, t.status, r.status AS run_status FROM pinnacle.search_trials t JOIN pinnacle.runs r ON r.id = t.run_id
WHERE t.search_id = :cancelled ORDER BY t.trial;
SELECT status, best_run_id FROM pinnacle.searches WHERE id = :cancelled;
SELECT pinnacle_cancel_search(:cancelled) AS cancelled_again;
SELECT pinnacle_cancel_search(-1);
SELECT pinnacle_wait_search(-1);

-- halving: at each rung (a number of validations) the better half continues; the rest stop
-- 'cancelled' with stop_reason search_halving. When the best trial leads at every rung,
-- halving picks what grid picks.
SELECT pinnacle_search('{"identifier": "s_halving", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse", "max_iterations": 400, "validation_interval": 20, "no_improve_then_stop": 100,
  "validation": {"split": 0.2}}',
  '{"method": "halving", "rungs": [1, 3], "space": {"optimizer_kwargs.lr": [0.03, 0.003, 0.0003, 0.00003]}}',
  wait => true) AS halving \gset
SELECT pinnacle_search('{"identifier": "s_halving_grid", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"}, {"type": "Linear", "out_features": 1}]},
  "objective": "mse", "max_iterations": 400, "validation_interval": 20, "no_improve_then_stop": 100,
  "validation": {"split": 0.2}}',
  '{"method": "grid", "space": {"optimizer_kwargs.lr": [0.03, 0.003, 0.0003, 0.00003]}}',
  wait => true) AS halving_grid \gset
SELECT method, status, rungs FROM pinnacle.searches WHERE id = :halving;
-- (which trials stop, and where, depends on which got a training slot first: see README)
SELECT count(*) FILTER (WHERE t.halted_at_rung IS NOT NULL) > 0 AS some_halted,
       bool_and((t.halted_at_rung IS NOT NULL) = (r.status = 'cancelled' AND r.stop_reason IS NOT DISTINCT FROM 'search_halving'))
         AS halted_end_cancelled_by_halving,
       bool_and(t.halted_at_rung IS NULL OR r.version IS NULL) AS halted_make_no_version,
       bool_and(r.error LIKE 'stopped by successive halving at rung _ of search%' OR t.halted_at_rung IS NULL) AS error_says_so
FROM pinnacle.search_trials t JOIN pinnacle.runs r ON r.id = t.run_id WHERE t.search_id = :halving;
-- the best trial led at every rung it reached, and halving picked the trial grid picked
SELECT bool_and(NOT EXISTS (SELECT 1 FROM pinnacle.search_rungs o WHERE o.search_id = b.search_id AND o.rung = b.rung
                             AND o.value < b.value)) AS best_led_every_rung
FROM pinnacle.search_rungs b JOIN pinnacle.searches s ON s.best_run_id = b.run_id WHERE s.id = :halving;
SELECT (SELECT t.params FROM pinnacle.search_trials t JOIN pinnacle.searches s ON s.best_run_id = t.run_id WHERE s.id = :halving)
     = (SELECT t.params FROM pinnacle.search_trials t JOIN pinnacle.searches s ON s.best_run_id = t.run_id WHERE s.id = :halving_grid)
       AS same_pick;
-- the best trial ran every rung
SELECT array_agg(g.rung ORDER BY g.rung) AS best_reached
FROM pinnacle.search_rungs g JOIN pinnacle.searches s ON s.best_run_id = g.run_id WHERE s.id = :halving;

-- a role sees only its own searches
CREATE ROLE regress_pinnacle_searcher LOGIN;
SET ROLE regress_pinnacle_searcher;
SELECT count(*) AS searches_seen, (SELECT count(*) FROM pinnacle.search_trials) AS trials_seen FROM pinnacle.searches;
SELECT pinnacle.record_search('{}', 'regress_pinnacle_searcher');
RESET ROLE;
DROP ROLE regress_pinnacle_searcher;

-- the search's chart: every trial's curve, the best one marked
SELECT left(svg, 38) AS svg_start,
       (length(svg) - length(replace(svg, '<polyline', ''))) / length('<polyline') AS curves,
       (length(svg) - length(replace(svg, 'class="best"', ''))) / length('class="best"') AS best_marked
FROM pinnacle_report_search(:grid) AS svg;
SELECT pinnacle_report_search(-1);

-- a trial's version dropped while its search runs: the search goes on without it, and ends
SELECT pinnacle_search('{"identifier": "s_drop", "select": "SELECT x1, x2, y FROM search_points",
  "key": {"inputs": ["x1", "x2"], "target": "y"}, "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse", "validation_interval": 10, "no_improve_then_stop": 1000000}',
  '{"method": "grid", "space": {"max_iterations": [10, 10000000]}}') AS drop_search \gset
SELECT pinnacle_wait(run_id) AS first_trial FROM pinnacle.search_trials WHERE search_id = :drop_search AND trial = 0;
SELECT pinnacle_drop_model('s_drop', r.version) AS dropped
FROM pinnacle.search_trials t JOIN pinnacle.runs r ON r.id = t.run_id WHERE t.search_id = :drop_search AND t.trial = 0;
SELECT pinnacle_cancel_search(:drop_search) AS cancelled, pinnacle_wait_search(:drop_search) AS search_status;
SELECT count(*) AS trials_left FROM pinnacle.search_trials WHERE search_id = :drop_search;
SELECT pinnacle.mark_lost_runs() >= 0 AS lost_runs_still_swept;
