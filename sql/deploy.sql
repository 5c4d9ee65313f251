-- Deployed versions: a bare identifier means the deployed version, chosen by each run's
-- "deploy" policy or by pinnacle_deploy, with a rollback to the one deployed before.
SET client_min_messages = warning;
CREATE FUNCTION deploy_run(deploy text, lr float8, steps int) RETURNS bigint LANGUAGE sql AS $$
  SELECT pinnacle_train(jsonb_build_object(
    'identifier', 'deployed',
    'select', 'SELECT x1, x2, y FROM linear',
    'key', jsonb_build_object('inputs', jsonb_build_array('x1', 'x2'), 'target', 'y'),
    'model', '{"layers": [{"type": "Linear", "out_features": 1}]}'::jsonb,
    'objective', 'mse',
    'optimizer_kwargs', jsonb_build_object('lr', lr),
    'loader_kwargs', '{"shuffle": false}'::jsonb,
    'max_iterations', steps,
    'validation_interval', steps,
    'validation', '{"select": "SELECT x1, x2, y FROM linear_holdout", "metrics": ["mse"]}'::jsonb)
    || CASE WHEN deploy IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('deploy', deploy) END, wait => true)
$$;
CREATE VIEW deployed_now AS
SELECT version FROM pinnacle.models WHERE identifier = 'deployed' AND deployed;
-- what a bare identifier predicts is what the deployed version predicts
CREATE FUNCTION bare_is(version int) RETURNS boolean LANGUAGE sql AS $$
  SELECT pinnacle_predict('deployed', 0.3::real, -0.7::real) = pinnacle_predict('deployed@' || version, 0.3::real, -0.7::real)
$$;

-- an identifier's first version deploys, whatever its policy
SELECT deploy_run('manual', 0.05, 200) IS NOT NULL AS trained;
SELECT version FROM deployed_now;
-- "always" (the default) deploys each new version
SELECT deploy_run(NULL, 0.05, 300) IS NOT NULL AS trained;
SELECT version FROM deployed_now;
SELECT bare_is(2);
-- "manual" leaves the deployed version
SELECT deploy_run('manual', 0.05, 400) IS NOT NULL AS trained;
SELECT version FROM deployed_now;
SELECT bare_is(2);
-- "if_better" deploys only a version whose best listen value beats the deployed one's
SELECT deploy_run('if_better', 0.000001, 1) IS NOT NULL AS trained_worse;
SELECT version FROM deployed_now;
SELECT deploy_run('if_better', 0.05, 600) IS NOT NULL AS trained_better;
SELECT (SELECT best_value FROM pinnacle.runs r JOIN pinnacle.models m ON m.run_id = r.id WHERE m.identifier = 'deployed' AND m.version = 5)
     < (SELECT best_value FROM pinnacle.runs r JOIN pinnacle.models m ON m.run_id = r.id WHERE m.identifier = 'deployed' AND m.version = 2)
       AS five_beats_two;
SELECT version FROM deployed_now;
SELECT bare_is(5);

\set VERBOSITY terse
-- a version, used from this backend's next statement on (its cache holds version 5)
SELECT pinnacle_deploy('deployed', '3');
SELECT bare_is(3);
SELECT pinnacle_deploy('deployed', 'latest');
SELECT pinnacle_deploy('deployed', '1');
-- 'rollback' goes back through the versions deployed before, one at a time: 5, 3, 5
SELECT pinnacle_deploy('deployed', 'rollback') AS rolled_back_to;
SELECT pinnacle_deploy('deployed', 'rollback') AS rolled_back_to;
SELECT bare_is(3);
SELECT pinnacle_deploy('deployed', 'rollback') AS rolled_back_to;
SELECT version, reason FROM pinnacle.deployments WHERE identifier = 'deployed' ORDER BY id;
-- init_from with a bare identifier continues from the deployed version
SELECT pinnacle_train('{
  "identifier": "deployed",
  "select": "SELECT x1, x2, y FROM linear",
  "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]},
  "objective": "mse",
  "max_iterations": 5,
  "init_from": "deployed",
  "deploy": "manual"
}', wait => true) AS resumed \gset
-- (version 3 trained 400 steps, version 5 600)
SELECT iterations FROM pinnacle.runs WHERE id = :resumed;
-- 'best' is the version with the best listen value (its validation mse here)
SELECT pinnacle_deploy('deployed', 'best') = (
  SELECT m.version FROM pinnacle.models m JOIN pinnacle.runs r ON r.id = m.run_id
  WHERE m.identifier = 'deployed' ORDER BY r.best_value LIMIT 1) AS best_is_lowest_mse;
-- exactly one deployed version per identifier
SELECT count(*) > 0 AS some, count(*) FILTER (WHERE deployed <> 1) AS not_exactly_one
FROM (SELECT count(*) FILTER (WHERE deployed) AS deployed FROM pinnacle.models GROUP BY identifier) AS i;

-- errors
\set VERBOSITY terse
SELECT pinnacle_deploy('deployed', '99');
SELECT pinnacle_deploy('deployed', 'newest');
SELECT pinnacle_deploy('no_such_model', 'latest');
-- rolling back past the first deployment
DO $$ BEGIN LOOP PERFORM pinnacle_deploy('deployed', 'rollback'); END LOOP; END $$;
SELECT pinnacle_train('{"identifier": "x", "select": "SELECT x1, x2, y FROM linear", "key": {"inputs": ["x1", "x2"], "target": "y"},
  "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse", "deploy": "sometimes"}');
-- only the identifier's owner deploys, and no role writes the deployments itself
CREATE ROLE regress_deploy_other;
SET ROLE regress_deploy_other;
SELECT pinnacle_deploy('deployed', '1');
INSERT INTO pinnacle.deployments (identifier, version, reason, owner) VALUES ('deployed', 1, 'forged', 'regress_deploy_other');
SELECT count(*) AS others_see FROM pinnacle.deployments;
RESET ROLE;
DROP ROLE regress_deploy_other;
