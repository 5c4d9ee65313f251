-- Training across servers (compute_kwargs.servers): what cannot work is refused before any
-- run starts, naming the field. (test/t/015_servers.pl trains across three servers.)
SET client_min_messages = warning;
CREATE EXTENSION postgres_fdw;
CREATE FUNCTION pg_temp.spec(servers jsonb, extra jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'identifier', 'sv', 'select', 'SELECT x1, x2, y FROM linear',
    'key', jsonb_build_object('inputs', jsonb_build_array('x1', 'x2'), 'target', 'y'),
    'model', '{"layers": [{"type": "Linear", "out_features": 1}]}'::jsonb, 'objective', 'mse',
    'max_iterations', 5, 'compute_kwargs', jsonb_build_object('servers', servers, 'timeout', 5)) || extra
$$;
\set VERBOSITY terse

-- values that name no server
SELECT pinnacle_train(pg_temp.spec('[]'));
SELECT pinnacle_train(pg_temp.spec('"shard_a"'));
SELECT pinnacle_train(pg_temp.spec('[1]'));
SELECT pinnacle_train(pg_temp.spec('["shard_a", "shard_a"]'));
SELECT pinnacle_train(pg_temp.spec('["a", "b", "c"]', '{"compute_kwargs": {"workers": 20, "servers": ["a", "b", "c"]}}'));

-- a server that does not exist, or is not postgres_fdw's
SELECT pinnacle_train(pg_temp.spec('["no_such_server"]'));
CREATE FOREIGN DATA WRAPPER other_wrapper;
CREATE SERVER other_kind FOREIGN DATA WRAPPER other_wrapper;
SELECT pinnacle_train(pg_temp.spec('["other_kind"]'));
CREATE SERVER shard_a FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '1', dbname 'postgres');

-- a role needs USAGE on the server and a user mapping; one other than a superuser needs a
-- password in its mapping
CREATE ROLE sv_user LOGIN;
GRANT SELECT ON linear TO sv_user;
SET ROLE sv_user;
SELECT pinnacle_train(pg_temp.spec('["shard_a"]'));
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER shard_a TO sv_user;
SET ROLE sv_user;
SELECT pinnacle_train(pg_temp.spec('["shard_a"]'));
RESET ROLE;
CREATE USER MAPPING FOR sv_user SERVER shard_a OPTIONS (user 'sv_user');
SET ROLE sv_user;
SELECT pinnacle_train(pg_temp.spec('["shard_a"]'));
RESET ROLE;

-- combinations that cannot work across servers
CREATE USER MAPPING FOR CURRENT_USER SERVER shard_a OPTIONS (user 'nobody');
SELECT pinnacle_train(pg_temp.spec('["shard_a"]', '{"download": true}'));
SELECT pinnacle_train(pg_temp.spec('["shard_a"]', '{"in_memory": false}'));
SELECT pinnacle_train(pg_temp.spec('["shard_a"]', '{"validation": {"select": "SELECT x1, x2, y FROM linear"}}'));
SELECT pinnacle_train(pg_temp.spec('["shard_a"]', '{"model": {"torchscript": "m"}}'));

-- a server that cannot be reached: the run fails, saying which and why
SELECT pinnacle_train(pg_temp.spec('["shard_a"]')) AS unreachable \gset
SELECT pinnacle_wait(:unreachable) IS NOT NULL AS waited;
SELECT status, error LIKE 'could not connect to server "shard_a" (compute_kwargs.servers):%' AS says_why
FROM pinnacle.runs WHERE id = :unreachable;
-- no password went into the run's record
SELECT count(*) AS runs_with_the_mapping FROM pinnacle.runs WHERE spec::text LIKE '%nobody%' OR error LIKE '%nobody%';

-- the remote entry is not for every role, and checks what it is given
SELECT has_function_privilege('sv_user', 'pinnacle.train_shard(jsonb, jsonb)', 'EXECUTE') AS sv_user_may_call;
SELECT pinnacle.train_shard(pg_temp.spec('["shard_a"]'), '{"world": 2}');
SELECT pinnacle.train_shard(pg_temp.spec('["shard_a"]'), '{"world": 3, "first_rank": 1, "store_port": 5000, "coordinator_run": 1, "store_host": "127.0.0.1", "run_key": "00000000000000000000000000000000"}');
SELECT pinnacle.train_shard(pg_temp.spec('["shard_a"]'), '{"world": 2, "first_rank": 1, "store_port": 5000, "coordinator_run": 1, "store_host": "127.0.0.1", "run_key": "not a key"}');
SELECT pinnacle.train_shard(pg_temp.spec('["shard_a"]'), '{"world": 2, "first_rank": 1, "store_port": 0, "coordinator_run": 1, "store_host": "127.0.0.1", "run_key": "00000000000000000000000000000000"}');

DROP USER MAPPING FOR CURRENT_USER SERVER shard_a;
DROP USER MAPPING FOR sv_user SERVER shard_a;
DROP SERVER shard_a;
DROP SERVER other_kind;
DROP FOREIGN DATA WRAPPER other_wrapper;
REVOKE SELECT ON linear FROM sv_user;
DROP ROLE sv_user;
DROP EXTENSION postgres_fdw;
