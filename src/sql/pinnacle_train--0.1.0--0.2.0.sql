-- pinnacle_train 0.1.0 -> 0.2.0: trainer processes and true statuses (DESIGN.md section 7).
\echo Use "ALTER EXTENSION pinnacle_train UPDATE TO '0.2.0'" to load this file. \quit

ALTER TABLE pinnacle.runs ADD COLUMN trainer_pid integer;
COMMENT ON COLUMN pinnacle.runs.worker_pid IS
    'The run''s supervisor (a background worker) while the run is queued or running; NULL once it ended.';
COMMENT ON COLUMN pinnacle.runs.trainer_pid IS
    'The trainer process (rank 0), which runs libtorch outside PostgreSQL''s processes, while the run trains; NULL once it ended.';

-- Whether a run's supervisor is alive: it holds a lock that no SQL function can take from the
-- moment its run is on record until its process exits. Read live, never through a snapshot.
CREATE FUNCTION pinnacle.run_is_live(run_id bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'pinnacle_run_is_live' LANGUAGE C STRICT VOLATILE;
REVOKE EXECUTE ON FUNCTION pinnacle.run_is_live(bigint) FROM PUBLIC;

-- Runs whose supervisor is gone without ending them (the server crashed or stopped
-- immediately) become 'interrupted'. The preloaded monitor calls it in every database at each
-- start; pinnacle_train calls it before a run starts.
CREATE OR REPLACE FUNCTION pinnacle.mark_lost_runs() RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH lost AS (
        UPDATE pinnacle.runs r
        SET status = 'interrupted', finished_at = clock_timestamp(), worker_pid = NULL, trainer_pid = NULL,
            error = 'the run''s supervisor stopped without ending the run (the server crashed or stopped immediately)'
        WHERE r.id IN (SELECT l.id FROM pinnacle.runs l
                       WHERE l.status IN ('queued', 'running') AND NOT pinnacle.run_is_live(l.id)
                       FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*)::integer FROM lost
$$;

-- Signals the run's supervisor, found through its liveness lock; writes nothing, so it works in
-- read-only transactions.
CREATE OR REPLACE FUNCTION pinnacle_cancel(run_id bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'pinnacle_cancel' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pinnacle_cancel(bigint) IS
    'Stops a queued or running run at once; it ends ''cancelled'' and keeps its checkpoints.';

-- The running runs, live, now with their trainer processes.
CREATE OR REPLACE VIEW pinnacle.progress AS
SELECT r.id AS run_id, r.identifier, a.pid AS worker_pid, r.started_at,
       (p ->> 'iteration')::bigint AS iteration,
       (p ->> 'max_iterations')::bigint AS max_iterations,
       (p ->> 'train_loss')::double precision AS last_loss,
       (p ->> 'rows_per_second')::double precision AS rows_per_second,
       make_interval(secs => (p ->> 'eta_seconds')::double precision) AS eta,
       p -> 'validation' AS last_validation,
       ARRAY(SELECT t::integer FROM jsonb_array_elements_text(p -> 'trainer_pids') AS t) AS trainer_pids,
       -- data-parallel runs (compute_kwargs.workers): the ranks, each one's rows/s over its
       -- own rows, and the time rank 0 spent waiting for the gradient sums
       (p ->> 'world_size')::integer AS world_size,
       ARRAY(SELECT t::double precision FROM jsonb_array_elements_text(p -> 'rank_rows_per_second') AS t)
           AS rank_rows_per_second,
       (p ->> 'allreduce_seconds')::double precision AS allreduce_seconds,
       (p ->> 'allreduce_bytes_per_step')::bigint AS allreduce_bytes_per_step
FROM pg_stat_activity a
CROSS JOIN LATERAL (SELECT CASE WHEN a.query LIKE '{"run_id":%' THEN a.query::jsonb END AS p) AS published
JOIN pinnacle.runs r ON r.id = (p ->> 'run_id')::bigint
WHERE a.backend_type = 'pinnacle_train worker' AND a.query LIKE '{"run_id":%'
  -- a run that has ended trains no more, though its worker may not have exited yet
  AND r.status IN ('queued', 'running');

-- The catalog belongs to the extension (DESIGN.md section 7): roles read their own rows
-- (row-level security), and every change goes through the extension's code, which writes as
-- the extension's owner for the role it acts for. No role can insert, fake or edit a run, a
-- model, a checkpoint, a metric or a module.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON pinnacle.runs, pinnacle.models, pinnacle.checkpoints,
    pinnacle.metrics, pinnacle.modules FROM PUBLIC;
GRANT SELECT ON pinnacle.runs, pinnacle.models, pinnacle.checkpoints, pinnacle.metrics, pinnacle.modules TO PUBLIC;

-- An identifier belongs to the role that first claimed it, when its first pinnacle_train was
-- called (not when a model was first recorded), so that a second role learns at once.
CREATE TABLE pinnacle.identifiers (
    identifier      text PRIMARY KEY,
    owner           name NOT NULL,
    claimed_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE pinnacle.identifiers IS 'The role each model identifier belongs to: the first that trained it.';
INSERT INTO pinnacle.identifiers (identifier, owner, claimed_at)
SELECT DISTINCT ON (m.identifier) m.identifier, m.owner, m.created_at
FROM pinnacle.models m ORDER BY m.identifier, m.created_at, m.version;
GRANT SELECT ON pinnacle.identifiers TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pinnacle.identifiers', '');

CREATE OR REPLACE FUNCTION pinnacle.identifier_owner(identifier text) RETURNS name
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT i.owner FROM pinnacle.identifiers i WHERE i.identifier = identifier_owner.identifier
$$;

-- The next version of a model, for the supervisor of a successful run (which calls it as the
-- extension's owner). The identifier's row serializes concurrent runs of one identifier; no
-- advisory lock that another role could hold is involved.
DROP FUNCTION pinnacle.next_version(text);
CREATE FUNCTION pinnacle.next_version(identifier text, owner name) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    claimed_by name;
BEGIN
    INSERT INTO pinnacle.identifiers AS i (identifier, owner) VALUES (next_version.identifier, next_version.owner)
        ON CONFLICT ON CONSTRAINT identifiers_pkey DO NOTHING;
    SELECT i.owner INTO claimed_by FROM pinnacle.identifiers i WHERE i.identifier = next_version.identifier FOR UPDATE;
    IF claimed_by <> next_version.owner THEN
        RAISE EXCEPTION 'model "%" belongs to role %', identifier, claimed_by
            USING ERRCODE = 'insufficient_privilege', HINT = 'Choose another identifier.';
    END IF;
    RETURN (SELECT coalesce(max(m.version), 0) + 1 FROM pinnacle.models m WHERE m.identifier = next_version.identifier);
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.next_version(text, name) FROM PUBLIC;

-- An imported module is code that trainers run: a DBA grants pinnacle_import to the roles it
-- trusts, as with untrusted languages.
REVOKE EXECUTE ON FUNCTION pinnacle_import(text, bytea) FROM PUBLIC;

-- Progress is read with the reader's own privileges: row-level security on pinnacle.runs shows
-- each role its own runs only, members of pg_read_all_stats included.
ALTER VIEW pinnacle.progress SET (security_invoker = true);

-- Run ids are drawn by the extension's code only, and each role sees only its own identifiers
-- (pinnacle.identifier_owner() still tells the owner of a name, for the error that refuses it).
REVOKE USAGE ON SEQUENCE pinnacle.runs_id_seq FROM PUBLIC;
ALTER TABLE pinnacle.identifiers ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON pinnacle.identifiers USING (owner = current_user);

-- Batch prediction (DESIGN.md section 9): the select's rows stream through the model; the
-- select's columns that are not the model's inputs pass through, then prediction real[].
CREATE FUNCTION pinnacle_predict_batch(identifier text, "select" text) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'pinnacle_predict_batch' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION pinnacle_predict_batch(text, text) IS
    'The output of model identifier[@version] for every row of a read-only select, in the caller''s snapshot and privileges: SELECT * FROM pinnacle_predict_batch(''m'', ''SELECT id, features FROM items'') AS p(id integer, prediction real[]).';

-- Deployed versions (DESIGN.md section 10). A bare identifier means its deployed version:
-- exactly one per identifier, the top of the identifier's deployment stack. A deploy pushes a
-- version onto the stack; a rollback pops it, and so does dropping a deployed version.
ALTER TABLE pinnacle.models ADD COLUMN deployed boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN pinnacle.models.deployed IS
    'The version a bare identifier means (pinnacle_predict(''m'', ...)): exactly one per identifier, set by the run''s "deploy" policy or pinnacle_deploy.';
CREATE UNIQUE INDEX models_one_deployed ON pinnacle.models (identifier) WHERE deployed;

CREATE SEQUENCE pinnacle.deployments_id_seq;
CREATE TABLE pinnacle.deployments (
    id              bigint PRIMARY KEY DEFAULT nextval('pinnacle.deployments_id_seq'),
    identifier      text NOT NULL,
    version         integer NOT NULL,
    reason          text NOT NULL,
    owner           name NOT NULL,
    deployed_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (identifier, version) REFERENCES pinnacle.models (identifier, version) ON DELETE CASCADE
);
ALTER SEQUENCE pinnacle.deployments_id_seq OWNED BY pinnacle.deployments.id;
CREATE INDEX ON pinnacle.deployments (identifier, id);
COMMENT ON TABLE pinnacle.deployments IS
    'Each identifier''s deployment stack: its newest row is the deployed version; a rollback removes that row and deploys the one below.';
GRANT SELECT ON pinnacle.deployments TO PUBLIC;
ALTER TABLE pinnacle.deployments ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON pinnacle.deployments USING (owner = current_user);
SELECT pg_catalog.pg_extension_config_dump('pinnacle.deployments', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.deployments_id_seq', '');

-- Models of 0.1.0 kept their newest version as the one a bare identifier named.
INSERT INTO pinnacle.deployments (identifier, version, reason, owner, deployed_at)
SELECT DISTINCT ON (m.identifier) m.identifier, m.version, 'upgrade', m.owner, m.created_at
FROM pinnacle.models m ORDER BY m.identifier, m.version DESC;
UPDATE pinnacle.models m SET deployed = true
FROM pinnacle.deployments d WHERE d.identifier = m.identifier AND d.version = m.version;

-- Whether run `candidate`'s best value beats run `incumbent`'s, in the direction of the metric
-- their specs listen to. A run without a best value beats none; any beats a run without one, and
-- a run that listens to another metric than the incumbent cannot be compared with it: it wins.
CREATE FUNCTION pinnacle.run_is_better(candidate bigint, incumbent bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.best_value IS NOT NULL
       AND (i.best_value IS NULL
            OR coalesce(c.spec ->> 'listen', 'objective') IS DISTINCT FROM coalesce(i.spec ->> 'listen', 'objective')
            OR CASE WHEN coalesce(c.spec ->> 'listen', 'objective') IN ('accuracy', 'precision', 'recall', 'f1', 'r2')
                    THEN c.best_value > i.best_value ELSE c.best_value < i.best_value END)
    FROM pinnacle.runs c, pinnacle.runs i WHERE c.id = candidate AND i.id = incumbent
$$;

-- Sets models.deployed on `version` of `identifier` alone (the old flag is cleared first: the
-- unique index is checked row by row).
CREATE FUNCTION pinnacle.mark_deployed(identifier text, version integer) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE pinnacle.models m SET deployed = false
    WHERE m.identifier = mark_deployed.identifier AND m.deployed AND m.version <> mark_deployed.version;
    UPDATE pinnacle.models m SET deployed = true
    WHERE m.identifier = mark_deployed.identifier AND m.version = mark_deployed.version AND NOT m.deployed;
$$;
REVOKE EXECUTE ON FUNCTION pinnacle.mark_deployed(text, integer) FROM PUBLIC;

-- Makes `version` the deployed one, pushing it onto the stack (unless it is already on top).
CREATE FUNCTION pinnacle.push_deployment(identifier text, version integer, reason text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pinnacle.mark_deployed(identifier, version);
    INSERT INTO pinnacle.deployments (identifier, version, reason, owner)
    SELECT m.identifier, m.version, reason, m.owner FROM pinnacle.models m
    WHERE m.identifier = push_deployment.identifier AND m.version = push_deployment.version
      AND m.version IS DISTINCT FROM (SELECT d.version FROM pinnacle.deployments d
                                      WHERE d.identifier = push_deployment.identifier ORDER BY d.id DESC LIMIT 1);
    RETURN version;
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.push_deployment(text, integer, text) FROM PUBLIC;

-- Deploys what the stack's top now says after rows were removed from it: the version deployed
-- before, or, with an empty stack, the newest version. NULL when no version is left.
CREATE FUNCTION pinnacle.redeploy_top(identifier text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    top integer := (SELECT d.version FROM pinnacle.deployments d
                    WHERE d.identifier = redeploy_top.identifier ORDER BY d.id DESC LIMIT 1);
BEGIN
    IF top IS NULL THEN
        top := (SELECT max(m.version) FROM pinnacle.models m WHERE m.identifier = redeploy_top.identifier);
        IF top IS NULL THEN
            RETURN NULL;
        END IF;
        RETURN pinnacle.push_deployment(identifier, top, 'fallback');
    END IF;
    PERFORM pinnacle.mark_deployed(identifier, top);
    RETURN top;
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.redeploy_top(text) FROM PUBLIC;

-- A new version deploys by its run's "deploy" policy; an identifier's first version always
-- does, so that a bare identifier names a version as soon as one exists.
CREATE FUNCTION pinnacle.deploy_by_policy(run_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    run pinnacle.runs := (SELECT r FROM pinnacle.runs r WHERE r.id = deploy_by_policy.run_id);
    policy text := coalesce(run.spec ->> 'deploy', 'always');
    current_run bigint := (SELECT m.run_id FROM pinnacle.models m WHERE m.identifier = run.identifier AND m.deployed);
BEGIN
    IF current_run IS NULL OR policy = 'always'
       OR (policy = 'if_better' AND pinnacle.run_is_better(run.id, current_run)) THEN
        PERFORM pinnacle.push_deployment(run.identifier, run.version, 'deploy: ' || policy);
    END IF;
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.deploy_by_policy(bigint) FROM PUBLIC;

-- A run deploys when it succeeds (on the run's update, not on the model's insert: pg_restore
-- inserts models, and must not deploy anything while it does).
CREATE FUNCTION pinnacle.deploy_new_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pinnacle.deploy_by_policy(new.id);
    RETURN NULL;
END $$;
CREATE TRIGGER deploy_new_version AFTER UPDATE OF status ON pinnacle.runs
    FOR EACH ROW WHEN (new.status = 'succeeded' AND old.status <> 'succeeded' AND new.version IS NOT NULL)
    EXECUTE FUNCTION pinnacle.deploy_new_version();

-- The identifier's row, locked: deploys and drops of one identifier happen one at a time, and
-- only its owner (or a superuser) makes them.
CREATE FUNCTION pinnacle.lock_owned_identifier(identifier text, role name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    claimed_by name;
BEGIN
    SELECT i.owner INTO claimed_by FROM pinnacle.identifiers i WHERE i.identifier = lock_owned_identifier.identifier FOR UPDATE;
    IF claimed_by IS NULL OR NOT EXISTS (SELECT 1 FROM pinnacle.models m WHERE m.identifier = lock_owned_identifier.identifier) THEN
        RAISE EXCEPTION 'model "%" does not exist', identifier
            USING ERRCODE = 'undefined_object', HINT = 'pinnacle.models lists the trained models.';
    END IF;
    IF claimed_by <> role AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = role) THEN
        RAISE EXCEPTION 'model "%" belongs to role %', identifier, claimed_by USING ERRCODE = 'insufficient_privilege';
    END IF;
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.lock_owned_identifier(text, name) FROM PUBLIC;

-- pinnacle_deploy for `role` (the C function passes the caller's role and runs this as the
-- extension's owner). Target: a version number, 'latest', 'best' (by the newest version's
-- listen, among the versions that listen to it) or 'rollback'. Returns the deployed version.
CREATE FUNCTION pinnacle.deploy(identifier text, target text, role name) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    chosen integer;
    current integer;
BEGIN
    PERFORM pinnacle.lock_owned_identifier(identifier, role);
    current := (SELECT m.version FROM pinnacle.models m WHERE m.identifier = deploy.identifier AND m.deployed);
    IF target = 'rollback' THEN
        -- pop the current version (with copies of it right below, left there by drops)
        DELETE FROM pinnacle.deployments d WHERE d.identifier = deploy.identifier
            AND d.id > coalesce((SELECT max(y.id) FROM pinnacle.deployments y
                                 WHERE y.identifier = deploy.identifier AND y.version <> current), 0);
        IF NOT EXISTS (SELECT 1 FROM pinnacle.deployments d WHERE d.identifier = deploy.identifier) THEN
            RAISE EXCEPTION 'model "%" has no version deployed before version %', identifier, current
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'pinnacle.deployments lists the deployments; pinnacle_deploy(identifier, version) deploys any version.';
        END IF;
        RETURN pinnacle.redeploy_top(identifier);
    ELSIF target = 'latest' THEN
        chosen := (SELECT max(m.version) FROM pinnacle.models m WHERE m.identifier = deploy.identifier);
    ELSIF target = 'best' THEN
        SELECT m.version INTO chosen
        FROM pinnacle.models m JOIN pinnacle.runs r ON r.id = m.run_id
        WHERE m.identifier = deploy.identifier AND r.best_value IS NOT NULL
          AND coalesce(r.spec ->> 'listen', 'objective') =
              (SELECT coalesce(n.spec ->> 'listen', 'objective') FROM pinnacle.models l JOIN pinnacle.runs n ON n.id = l.run_id
               WHERE l.identifier = deploy.identifier ORDER BY l.version DESC LIMIT 1)
        ORDER BY CASE WHEN coalesce(r.spec ->> 'listen', 'objective') IN ('accuracy', 'precision', 'recall', 'f1', 'r2')
                      THEN -r.best_value ELSE r.best_value END, m.version DESC
        LIMIT 1;
        IF chosen IS NULL THEN
            RAISE EXCEPTION 'no version of model "%" has a best value to compare', identifier
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    ELSIF target ~ '^\s*[0-9]+\s*$' THEN
        chosen := target::integer;
        IF NOT EXISTS (SELECT 1 FROM pinnacle.models m WHERE m.identifier = deploy.identifier AND m.version = chosen) THEN
            RAISE EXCEPTION 'model "%" has no version %', identifier, chosen USING ERRCODE = 'undefined_object';
        END IF;
    ELSE
        RAISE EXCEPTION 'pinnacle_deploy: target must be a version number, ''latest'', ''best'' or ''rollback'', not "%"', target
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN pinnacle.push_deployment(identifier, chosen, 'pinnacle_deploy: ' || target);
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.deploy(text, text, name) FROM PUBLIC;

CREATE FUNCTION pinnacle_deploy(identifier text, target text) RETURNS integer
    AS 'MODULE_PATHNAME', 'pinnacle_deploy' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pinnacle_deploy(text, text) IS
    'Deploys a version of model identifier (the one a bare identifier means from the next statement on): a version number, ''latest'', ''best'' or ''rollback'' (the version deployed before the current one). Returns the deployed version.';

-- pinnacle_drop_model for `role`: drops one version, or every version and run of the identifier
-- (which then belongs to no role), with their checkpoints, metrics and snapshot tables. A
-- dropped deployed version gives way to the one deployed before it. Returns the versions dropped.
CREATE FUNCTION pinnacle.drop_model(identifier text, version integer, role name) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dropped integer;
    was_deployed boolean;
    dropped_run bigint;
BEGIN
    PERFORM pinnacle.lock_owned_identifier(identifier, role);
    IF version IS NULL THEN
        IF EXISTS (SELECT 1 FROM pinnacle.runs r WHERE r.identifier = drop_model.identifier AND r.status IN ('queued', 'running')) THEN
            RAISE EXCEPTION 'model "%" has a run in progress', identifier
                USING ERRCODE = 'object_in_use', HINT = 'pinnacle_cancel(run_id) stops it; pinnacle.progress lists it.';
        END IF;
        DELETE FROM pinnacle.models m WHERE m.identifier = drop_model.identifier;
        GET DIAGNOSTICS dropped = ROW_COUNT;
        -- the runs' delete trigger drops their snapshot tables; checkpoints and metrics cascade
        DELETE FROM pinnacle.runs r WHERE r.identifier = drop_model.identifier;
        DELETE FROM pinnacle.identifiers i WHERE i.identifier = drop_model.identifier;
        RETURN dropped;
    END IF;
    DELETE FROM pinnacle.models m WHERE m.identifier = drop_model.identifier AND m.version = drop_model.version
        RETURNING m.deployed, m.run_id INTO was_deployed, dropped_run;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%" has no version %', identifier, version USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM pinnacle.runs r WHERE r.id = dropped_run;
    IF was_deployed THEN
        PERFORM pinnacle.redeploy_top(identifier);
    END IF;
    RETURN 1;
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.drop_model(text, integer, name) FROM PUBLIC;

CREATE FUNCTION pinnacle_drop_model(identifier text, version integer DEFAULT NULL) RETURNS integer
    AS 'MODULE_PATHNAME', 'pinnacle_drop_model' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pinnacle_drop_model(text, integer) IS
    'Drops version `version` of model identifier, or with NULL every version and run of it, with their checkpoints, metrics and snapshot tables; the owner only. Returns the versions dropped.';

-- TRUNCATE pinnacle.runs (a superuser's, CASCADE) takes every snapshot table with it, as
-- deleting a run takes its own: none is left behind without a run.
CREATE FUNCTION pinnacle.drop_all_snapshots() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    snapshot regclass;
BEGIN
    FOR snapshot IN SELECT c.oid::regclass FROM pg_class c
                    WHERE c.relnamespace = 'pinnacle'::regnamespace AND c.relkind = 'r'
                      AND c.relname ~ '^run_[0-9]+_(train|validation)$' LOOP
        EXECUTE format('DROP TABLE %s', snapshot);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER drop_all_snapshots AFTER TRUNCATE ON pinnacle.runs
    FOR EACH STATEMENT EXECUTE FUNCTION pinnacle.drop_all_snapshots();

-- pinnacle_import of an archive that pinnacle_export wrote (its metadata and weights checked by
-- the caller, for `role`): the next version of `identifier`, recorded as a succeeded run of the
-- archive's spec under this identifier, with the archive's metrics and its weights as the
-- version's checkpoint (without optimizer state), deployed by the spec's policy.
CREATE FUNCTION pinnacle.import_version(identifier text, metadata jsonb, weights bytea, optimizer_state bytea,
                                        role name) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    version integer := pinnacle.next_version(identifier, role);
    iteration bigint := coalesce((metadata ->> 'iteration')::bigint, 0);
    run_id bigint;
BEGIN
    INSERT INTO pinnacle.runs AS r (identifier, version, spec, status, owner, finished_at, iterations,
                                   best_iteration, best_value, stop_reason, metric_values)
    VALUES (identifier, version, jsonb_set(metadata -> 'spec', '{identifier}', to_jsonb(identifier)), 'succeeded',
            role, clock_timestamp(), coalesce((metadata ->> 'iterations')::bigint, iteration),
            (metadata ->> 'best_iteration')::bigint, (metadata ->> 'best_value')::double precision,
            'imported', coalesce(metadata -> 'metric_values', '{}'))
    RETURNING r.id INTO run_id;
    INSERT INTO pinnacle.checkpoints (run_id, iteration, weights, optimizer_state, is_best)
    VALUES (run_id, iteration, weights, optimizer_state, true);
    INSERT INTO pinnacle.models (identifier, version, run_id, iteration, column_widths, transform, owner)
    VALUES (identifier, version, run_id, iteration,
            ARRAY(SELECT w::bigint FROM jsonb_array_elements_text(metadata -> 'column_widths') AS w),
            coalesce(metadata -> 'transform', '{}'), role);
    PERFORM pinnacle.deploy_by_policy(run_id);
    RETURN version;
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.import_version(text, jsonb, bytea, bytea, name) FROM PUBLIC;

COMMENT ON FUNCTION pinnacle_import(text, bytea) IS
    'Stores a TorchScript module (torch.jit.script + torch.jit.save) for specs with "model": {"torchscript": identifier}; an archive of pinnacle_export (which carries its model version''s metadata) becomes the next version of model identifier instead.';
COMMENT ON FUNCTION pinnacle_export(text) IS
    'Model identifier[@version] with its transform as TorchScript that torch.jit.load reads (forward takes one tensor per input column); the archive carries the version''s metadata, weights and optimizer state (extra files pinnacle/metadata.json, pinnacle/weights and pinnacle/optimizer_state) for pinnacle_import in another database.';

-- ---------------------------------------------------------------------------------------------
-- Hyperparameter search (DESIGN.md section 11). A search is a set of trials; each trial is a
-- run (pinnacle.runs.search_id). pinnacle_search records the search once every trial's
-- supervisor has recorded its run, through a short-lived worker that commits on its own (the
-- trials' supervisors must see the search while the caller's transaction is still open). The
-- trials' ends, written by their supervisors, finish the search (pinnacle.search_trial_ended).

CREATE SEQUENCE pinnacle.searches_id_seq;
CREATE TABLE pinnacle.searches (
    id              bigint PRIMARY KEY DEFAULT nextval('pinnacle.searches_id_seq'),
    identifier      text NOT NULL,
    spec            jsonb NOT NULL,
    search          jsonb NOT NULL,
    method          text NOT NULL CHECK (method IN ('grid', 'random', 'halving')),
    space           jsonb NOT NULL,
    rungs           integer[],
    listen          text NOT NULL,
    higher_is_better boolean NOT NULL,
    trials          integer NOT NULL,
    status          text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    best_run_id     bigint REFERENCES pinnacle.runs (id) ON DELETE SET NULL,
    best_value      double precision,
    owner           name NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz
);
ALTER SEQUENCE pinnacle.searches_id_seq OWNED BY pinnacle.searches.id;
COMMENT ON TABLE pinnacle.searches IS
    'One row per pinnacle_search call: its method, space, status and best trial (best_run_id); its trials are in pinnacle.search_trials.';
COMMENT ON COLUMN pinnacle.searches.rungs IS
    'Halving only: the numbers of validations at which trials are ranked; at each, the better half by listen continues.';

CREATE TABLE pinnacle.search_trials (
    search_id       bigint NOT NULL REFERENCES pinnacle.searches (id) ON DELETE CASCADE,
    trial           integer NOT NULL,
    -- a trial's version dropped (pinnacle_drop_model) leaves the search, which goes on without it
    run_id          bigint NOT NULL UNIQUE REFERENCES pinnacle.runs (id) ON DELETE CASCADE,
    params          jsonb NOT NULL,
    status          text,
    best_value      double precision,
    halted_at_rung  integer,
    PRIMARY KEY (search_id, trial)
);
COMMENT ON TABLE pinnacle.search_trials IS
    'The trials of a search: each one''s run, the values of its search paths (params), and once it ended its status and best listen value; halted_at_rung for a trial that halving stopped.';

-- Halving: each trial's listen value at each rung it reached.
CREATE TABLE pinnacle.search_rungs (
    search_id       bigint NOT NULL REFERENCES pinnacle.searches (id) ON DELETE CASCADE,
    run_id          bigint NOT NULL REFERENCES pinnacle.runs (id) ON DELETE CASCADE,
    rung            integer NOT NULL,
    value           double precision NOT NULL,
    reached_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, rung)
);

ALTER TABLE pinnacle.runs ADD COLUMN search_id bigint REFERENCES pinnacle.searches (id) ON DELETE SET NULL;
COMMENT ON COLUMN pinnacle.runs.search_id IS 'The search this run is a trial of (pinnacle_search), or NULL.';
CREATE INDEX ON pinnacle.runs (search_id) WHERE search_id IS NOT NULL;

REVOKE ALL ON pinnacle.searches, pinnacle.search_trials, pinnacle.search_rungs FROM PUBLIC;
GRANT SELECT ON pinnacle.searches, pinnacle.search_trials, pinnacle.search_rungs TO PUBLIC;
ALTER TABLE pinnacle.searches ENABLE ROW LEVEL SECURITY;
ALTER TABLE pinnacle.search_trials ENABLE ROW LEVEL SECURITY;
ALTER TABLE pinnacle.search_rungs ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON pinnacle.searches USING (owner = current_user);
CREATE POLICY owner_only ON pinnacle.search_trials
    USING (EXISTS (SELECT 1 FROM pinnacle.searches s WHERE s.id = search_id));
CREATE POLICY owner_only ON pinnacle.search_rungs
    USING (EXISTS (SELECT 1 FROM pinnacle.searches s WHERE s.id = search_id));
SELECT pg_catalog.pg_extension_config_dump('pinnacle.searches', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.searches_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.search_trials', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.search_rungs', '');

-- Records a search whose trials' runs are on record, for pinnacle_search's recorder worker
-- (which calls it as the extension's owner). `plan` is the core's plan plus the run ids.
CREATE FUNCTION pinnacle.record_search(plan jsonb, owner name) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO pinnacle.searches (identifier, spec, search, method, space, rungs, listen, higher_is_better,
                                   trials, owner)
    VALUES (plan ->> 'identifier', plan -> 'spec', plan -> 'search', plan ->> 'method', plan -> 'search' -> 'space',
            CASE WHEN plan ->> 'method' = 'halving'
                 THEN ARRAY(SELECT jsonb_array_elements_text(plan -> 'rungs')::integer) END,
            plan ->> 'listen', (plan ->> 'higher_is_better')::boolean, jsonb_array_length(plan -> 'trials'), owner)
    RETURNING id INTO new_id;
    INSERT INTO pinnacle.search_trials (search_id, trial, run_id, params)
    SELECT new_id, (t.n - 1)::integer, (t.value ->> 'run_id')::bigint, t.value -> 'params'
    FROM jsonb_array_elements(plan -> 'trials') WITH ORDINALITY AS t(value, n);
    -- only the caller's own runs, which its supervisors have just recorded
    UPDATE pinnacle.runs r SET search_id = new_id
    FROM pinnacle.search_trials t
    WHERE t.search_id = new_id AND r.id = t.run_id AND r.owner = record_search.owner;
    IF NOT FOUND OR (SELECT count(*) FROM pinnacle.runs WHERE runs.search_id = new_id)
                    <> jsonb_array_length(plan -> 'trials') THEN
        RAISE EXCEPTION 'the runs of search trials are not all on record';
    END IF;
    RETURN new_id;
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.record_search(jsonb, name) FROM PUBLIC;

-- The trial with the best listen value among those that ran to their end (halving's stopped
-- trials never do); ties go to the earlier trial.
CREATE FUNCTION pinnacle.search_best_trial(search_id bigint) RETURNS pinnacle.search_trials
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.* FROM pinnacle.search_trials t JOIN pinnacle.searches s ON s.id = t.search_id
    WHERE t.search_id = search_best_trial.search_id AND t.status = 'succeeded' AND t.best_value IS NOT NULL
    ORDER BY CASE WHEN s.higher_is_better THEN -t.best_value ELSE t.best_value END, t.trial
    LIMIT 1
$$;
REVOKE EXECUTE ON FUNCTION pinnacle.search_best_trial(bigint) FROM PUBLIC;

-- Trials run with "deploy": "manual"; the search deploys its best trial's version by the
-- spec's own policy: "always" (the default), "if_better" (than the version deployed now) or
-- "manual". A trial that was deployed only as the identifier's first version gives way to the
-- best trial whatever the policy: no search leaves an arbitrary trial deployed.
CREATE FUNCTION pinnacle.deploy_best_trial(search_id bigint, best_run bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s pinnacle.searches := (SELECT x FROM pinnacle.searches x WHERE x.id = deploy_best_trial.search_id);
    policy text := coalesce(s.spec ->> 'deploy', 'always');
    deployed_run bigint := (SELECT m.run_id FROM pinnacle.models m WHERE m.identifier = s.identifier AND m.deployed);
BEGIN
    IF policy = 'always' OR deployed_run IS NULL
       OR deployed_run IN (SELECT t.run_id FROM pinnacle.search_trials t WHERE t.search_id = s.id)
       OR (policy = 'if_better' AND pinnacle.run_is_better(best_run, deployed_run)) THEN
        PERFORM pinnacle.push_deployment(s.identifier, (SELECT r.version FROM pinnacle.runs r WHERE r.id = best_run),
                                         format('search %s: best trial', s.id));
    END IF;
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.deploy_best_trial(bigint, bigint) FROM PUBLIC;

-- The search ends with its last trial: succeeded with a best trial, else cancelled when a
-- trial was cancelled (not by halving), interrupted when one was interrupted, or failed.
CREATE FUNCTION pinnacle.finish_search(search_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    best pinnacle.search_trials := pinnacle.search_best_trial(search_id);
    user_cancelled boolean;
    interrupted boolean;
BEGIN
    SELECT bool_or(t.status = 'cancelled' AND t.halted_at_rung IS NULL), bool_or(t.status = 'interrupted')
    INTO user_cancelled, interrupted
    FROM pinnacle.search_trials t WHERE t.search_id = finish_search.search_id;
    UPDATE pinnacle.searches s
    SET status = CASE WHEN user_cancelled THEN 'cancelled' WHEN best.run_id IS NOT NULL THEN 'succeeded'
                      WHEN interrupted THEN 'interrupted' ELSE 'failed' END,
        best_run_id = best.run_id, best_value = best.best_value, finished_at = clock_timestamp()
    WHERE s.id = finish_search.search_id;
    IF best.run_id IS NOT NULL AND NOT user_cancelled THEN
        PERFORM pinnacle.deploy_best_trial(search_id, best.run_id);
    END IF;
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.finish_search(bigint) FROM PUBLIC;

-- A trial's run ended (its supervisor, or mark_lost_runs, wrote its final status): its trial
-- takes the status and best value, a trial that halving stopped says so on its run, and the
-- last trial's end finishes the search. The search's row is locked first, as the rung
-- decisions lock it, so that trials ending at once see each other.
CREATE FUNCTION pinnacle.search_trial_ended() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    halted integer;
BEGIN
    PERFORM 1 FROM pinnacle.searches s WHERE s.id = new.search_id FOR UPDATE;
    UPDATE pinnacle.search_trials t SET status = new.status, best_value = new.best_value
    WHERE t.run_id = new.id RETURNING t.halted_at_rung INTO halted;
    IF halted IS NOT NULL AND new.status = 'cancelled' THEN
        UPDATE pinnacle.runs r SET stop_reason = 'search_halving',
            error = format('stopped by successive halving at rung %s of search %s: not among the better half by %s',
                           halted, new.search_id, (SELECT s.listen FROM pinnacle.searches s WHERE s.id = new.search_id))
        WHERE r.id = new.id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pinnacle.search_trials t WHERE t.search_id = new.search_id AND t.status IS NULL) THEN
        PERFORM pinnacle.finish_search(new.search_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER search_trial_ended AFTER UPDATE OF status ON pinnacle.runs
    FOR EACH ROW WHEN (new.search_id IS NOT NULL AND old.status IN ('queued', 'running')
                       AND new.status NOT IN ('queued', 'running'))
    EXECUTE FUNCTION pinnacle.search_trial_ended();

-- Successive halving, decided as trials arrive at a rung so that no trial ever waits for
-- another (a trial waiting at a rung while holding a training slot would deadlock with the
-- trials queued behind pinnacle.max_workers). At rung k, ceil(n / 2^k) of the search's n
-- trials continue: a trial arriving at rung k stops when that many trials still in the
-- running are already better there; and a trial that continued but is now outranked by that
-- many stops too, if it still runs. Once every contender has arrived, the survivors are the
-- better half exactly; a trial better than every other at every rung always survives.
-- Called by a trial's supervisor after each validation (supervisor/search_rung.c): NULL when
-- the run is not a halving trial, else whether the run must stop now.
CREATE FUNCTION pinnacle.search_rung(run_id bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s pinnacle.searches;
    validations integer;
    at_rung integer;
    keep integer;
    stop_self boolean := false;
    loser record;
BEGIN
    SELECT * INTO s FROM pinnacle.searches
    WHERE id = (SELECT t.search_id FROM pinnacle.search_trials t WHERE t.run_id = search_rung.run_id)
      AND method = 'halving'
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO validations FROM pinnacle.metrics m
    WHERE m.run_id = search_rung.run_id AND m.split = 'validation' AND m.name = s.listen;
    at_rung := array_position(s.rungs, validations);
    IF at_rung IS NULL THEN
        RETURN false;
    END IF;
    INSERT INTO pinnacle.search_rungs (search_id, run_id, rung, value)
    SELECT s.id, search_rung.run_id, at_rung, m.value FROM pinnacle.metrics m
    WHERE m.run_id = search_rung.run_id AND m.split = 'validation' AND m.name = s.listen
    ORDER BY m.iteration DESC LIMIT 1;
    keep := ceil(s.trials / 2.0 ^ at_rung)::integer;
    FOR loser IN
        WITH contenders AS (
            SELECT r.run_id, t.halted_at_rung, t.status,
                   row_number() OVER (ORDER BY CASE WHEN s.higher_is_better THEN -r.value ELSE r.value END,
                                      r.reached_at, t.trial) AS place
            FROM pinnacle.search_rungs r JOIN pinnacle.search_trials t ON t.run_id = r.run_id
            WHERE r.search_id = s.id AND r.rung = at_rung
              AND (t.halted_at_rung IS NULL OR t.halted_at_rung >= at_rung))
        SELECT c.run_id FROM contenders c
        WHERE c.place > keep AND c.halted_at_rung IS NULL AND c.status IS NULL
    LOOP
        UPDATE pinnacle.search_trials t SET halted_at_rung = at_rung WHERE t.run_id = loser.run_id;
        IF loser.run_id = search_rung.run_id THEN
            stop_self := true;
        ELSE
            PERFORM @extschema@.pinnacle_cancel(loser.run_id);
        END IF;
    END LOOP;
    RETURN stop_self;
END $$;
REVOKE EXECUTE ON FUNCTION pinnacle.search_rung(bigint) FROM PUBLIC;

CREATE FUNCTION pinnacle_search(spec jsonb, search jsonb, wait boolean DEFAULT false) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pinnacle_search' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pinnacle_search(jsonb, jsonb, boolean) IS
    'Runs one trial (a run) per point of the search''s space over spec, every trial on the same rows, read once; returns the search id.';

-- Waits for every trial to end (or the timeout) and returns the search's status. A search
-- whose trials have all ended without finishing it lost them in a crash: it reads interrupted.
CREATE FUNCTION pinnacle_wait_search(search_id bigint, timeout interval DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout;
    search_status text;
BEGIN
    LOOP
        SELECT s.status INTO search_status FROM pinnacle.searches s WHERE s.id = search_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'search % does not exist', search_id USING ERRCODE = 'undefined_object';
        END IF;
        IF search_status <> 'running' OR clock_timestamp() >= deadline THEN
            RETURN search_status;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pinnacle.search_trials t
                       WHERE t.search_id = pinnacle_wait_search.search_id
                         AND @extschema@.pinnacle_wait(t.run_id, interval '0') IN ('queued', 'running')) THEN
            -- the last trial's end commits the search's: read it once more before calling it lost
            SELECT s.status INTO search_status FROM pinnacle.searches s WHERE s.id = search_id;
            RETURN CASE search_status WHEN 'running' THEN 'interrupted' ELSE search_status END;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
COMMENT ON FUNCTION pinnacle_wait_search(bigint, interval) IS
    'Waits for a search''s trials to end (or the timeout to pass) and returns the search''s status.';

-- Cancels every queued or running trial; the search ends 'cancelled'. Writes nothing itself.
CREATE FUNCTION pinnacle_cancel_search(search_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pinnacle.searches s WHERE s.id = search_id) THEN
        RAISE EXCEPTION 'search % does not exist', search_id USING ERRCODE = 'undefined_object';
    END IF;
    RETURN coalesce((SELECT bool_or(@extschema@.pinnacle_cancel(t.run_id)) FROM pinnacle.search_trials t
                     WHERE t.search_id = pinnacle_cancel_search.search_id), false);
END $$;
COMMENT ON FUNCTION pinnacle_cancel_search(bigint) IS
    'Stops every queued or running trial of a search; they and the search end ''cancelled''.';

-- Progress of every running run, as above, with the search it is a trial of. (A view replaced
-- takes the options given here: a role reads its own runs' progress only.)
CREATE OR REPLACE VIEW pinnacle.progress WITH (security_invoker = true) AS
SELECT r.id AS run_id, r.identifier, a.pid AS worker_pid, r.started_at,
       (p ->> 'iteration')::bigint AS iteration,
       (p ->> 'max_iterations')::bigint AS max_iterations,
       (p ->> 'train_loss')::double precision AS last_loss,
       (p ->> 'rows_per_second')::double precision AS rows_per_second,
       make_interval(secs => (p ->> 'eta_seconds')::double precision) AS eta,
       p -> 'validation' AS last_validation,
       ARRAY(SELECT t::integer FROM jsonb_array_elements_text(p -> 'trainer_pids') AS t) AS trainer_pids,
       (p ->> 'world_size')::integer AS world_size,
       ARRAY(SELECT t::double precision FROM jsonb_array_elements_text(p -> 'rank_rows_per_second') AS t)
           AS rank_rows_per_second,
       (p ->> 'allreduce_seconds')::double precision AS allreduce_seconds,
       (p ->> 'allreduce_bytes_per_step')::bigint AS allreduce_bytes_per_step,
       r.search_id
FROM pg_stat_activity a
CROSS JOIN LATERAL (SELECT CASE WHEN a.query LIKE '{"run_id":%' THEN a.query::jsonb END AS p) AS published
JOIN pinnacle.runs r ON r.id = (p ->> 'run_id')::bigint
WHERE a.backend_type = 'pinnacle_train worker' AND a.query LIKE '{"run_id":%'
  AND r.status IN ('queued', 'running');

CREATE FUNCTION pinnacle_report_search(search_id bigint) RETURNS text
    AS 'MODULE_PATHNAME', 'pinnacle_report_search' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION pinnacle_report_search(bigint) IS
    'An SVG chart of every trial''s validation listen curve in one panel, the best trial marked.';

-- Training across servers (compute_kwargs.servers). A listed server records its part of a
-- run as a run of its own that points to the coordinating run, so that its DBA sees what
-- runs there; such a run makes no model version (the calling server's run does).
ALTER TABLE pinnacle.runs ADD COLUMN coordinator text, ADD COLUMN coordinator_run bigint,
    ADD COLUMN first_rank integer, ADD COLUMN world_size integer;
COMMENT ON COLUMN pinnacle.runs.coordinator IS
    'Of this server''s part of a run across servers: the coordinating run, as "run <id> at <host>:<port>" (its id on the calling server, and the address of its rendezvous). NULL for a run of this server''s own.';
COMMENT ON COLUMN pinnacle.runs.coordinator_run IS 'The coordinating run''s id on the calling server (see coordinator).';
COMMENT ON COLUMN pinnacle.runs.first_rank IS 'The first of this server''s ranks in the run across servers (its ranks are first_rank .. first_rank + compute_kwargs.workers - 1).';
COMMENT ON COLUMN pinnacle.runs.world_size IS 'The ranks of every server of the run across servers.';

-- The remote entry of a run across servers: the calling server's supervisor calls it over
-- libpq as the role of the caller's user mapping. It runs the spec's select with that role's
-- privileges (and row-level security), and returns when the run ends. It makes this server's
-- trainers connect to the address the caller names, so no role runs it unless granted:
--   GRANT EXECUTE ON FUNCTION pinnacle.train_shard(jsonb, jsonb) TO <the mapped role>;
CREATE FUNCTION pinnacle.train_shard(spec jsonb, shard jsonb) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pinnacle_train_shard' LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION pinnacle.train_shard(jsonb, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION pinnacle.train_shard(jsonb, jsonb) IS
    'This server''s part of a run across servers (compute_kwargs.servers), called by the calling server''s supervisor; not for direct use. Granted by a DBA to the roles that user mappings of calling servers log in as.';
