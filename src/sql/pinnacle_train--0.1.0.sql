-- pinnacle_train: the SQL surface (DESIGN.md section 3).
\echo Use "CREATE EXTENSION pinnacle_train" to load this file. \quit

CREATE SCHEMA pinnacle;
GRANT USAGE ON SCHEMA pinnacle TO PUBLIC;

CREATE SEQUENCE pinnacle.runs_id_seq;

-- The snapshot table of a run with "download": true: part 'train' holds the rows of its select,
-- part 'validation' those of its validation.select. One name per run and part, so that what the
-- runs table records, and what deleting a run drops, can only ever be that run's own table.
CREATE FUNCTION pinnacle.snapshot_name(run_id bigint, part text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'pinnacle.run_' || run_id || '_' || part
$$;

CREATE TABLE pinnacle.runs (
    id              bigint PRIMARY KEY DEFAULT nextval('pinnacle.runs_id_seq'),
    identifier      text NOT NULL,
    version         integer,
    spec            jsonb NOT NULL,
    status          text NOT NULL
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    owner           name NOT NULL DEFAULT current_user,
    worker_pid      integer,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    iterations      bigint NOT NULL DEFAULT 0,
    best_iteration  bigint,
    best_value      double precision,
    stop_reason     text,
    error           text,
    metric_values   jsonb NOT NULL DEFAULT '{}',
    train_rows      bigint,
    validation_rows bigint,
    snapshot        text CHECK (snapshot = pinnacle.snapshot_name(id, 'train')),
    validation_snapshot text CHECK (validation_snapshot = pinnacle.snapshot_name(id, 'validation'))
);
ALTER SEQUENCE pinnacle.runs_id_seq OWNED BY pinnacle.runs.id;
CREATE INDEX ON pinnacle.runs (identifier);

COMMENT ON TABLE pinnacle.runs IS 'One row per pinnacle_train call: its spec, status, progress and metric history.';
COMMENT ON COLUMN pinnacle.runs.snapshot IS
    'With "download": true, the table that holds exactly the rows this run was fed (before a validation.split), owned by the run''s role. It is written in the caller''s transaction: if that rolls back, the table is gone (to_regclass(snapshot) IS NULL). Dropped with the run.';
COMMENT ON COLUMN pinnacle.runs.validation_snapshot IS
    'With "download": true and a validation.select, the table that holds exactly its validation rows. Dropped with the run.';

CREATE TABLE pinnacle.checkpoints (
    run_id          bigint NOT NULL REFERENCES pinnacle.runs (id) ON DELETE CASCADE,
    iteration       bigint NOT NULL,
    weights         bytea NOT NULL,
    optimizer_state bytea NOT NULL,
    is_best         boolean NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, iteration)
);
COMMENT ON TABLE pinnacle.checkpoints IS 'Weights and optimizer state (torch::save archives) of a run: its best and its latest.';

CREATE TABLE pinnacle.models (
    identifier      text NOT NULL,
    version         integer NOT NULL,
    run_id          bigint NOT NULL UNIQUE REFERENCES pinnacle.runs (id),
    uuid            uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    iteration       bigint NOT NULL,
    column_widths   bigint[] NOT NULL,
    transform       jsonb NOT NULL DEFAULT '{}',
    owner           name NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (identifier, version),
    FOREIGN KEY (run_id, iteration) REFERENCES pinnacle.checkpoints (run_id, iteration)
);
COMMENT ON TABLE pinnacle.models IS 'One row per successful run: a model version and the checkpoint that holds its weights.';

CREATE TABLE pinnacle.modules (
    identifier      text PRIMARY KEY,
    owner           name NOT NULL DEFAULT current_user,
    torchscript     bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE pinnacle.modules IS 'TorchScript modules imported with pinnacle_import, for specs with "model": {"torchscript": ...}.';

CREATE TABLE pinnacle.metrics (
    run_id          bigint NOT NULL REFERENCES pinnacle.runs (id) ON DELETE CASCADE,
    iteration       bigint NOT NULL,
    split           text NOT NULL CHECK (split IN ('train', 'validation')),
    name            text NOT NULL,
    value           double precision,
    PRIMARY KEY (run_id, iteration, split, name)
);
COMMENT ON TABLE pinnacle.metrics IS 'One row per metric per validation of a run.';

GRANT SELECT, INSERT, UPDATE ON pinnacle.runs, pinnacle.models TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON pinnacle.checkpoints TO PUBLIC;
GRANT SELECT, INSERT ON pinnacle.metrics TO PUBLIC;
GRANT SELECT, INSERT, UPDATE ON pinnacle.modules TO PUBLIC;
GRANT USAGE ON SEQUENCE pinnacle.runs_id_seq TO PUBLIC;

-- Runs, models, checkpoints and metrics belong to their owner: other roles (but superusers)
-- neither see nor change them.
ALTER TABLE pinnacle.runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE pinnacle.models ENABLE ROW LEVEL SECURITY;
ALTER TABLE pinnacle.checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE pinnacle.metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE pinnacle.modules ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON pinnacle.modules USING (owner = current_user) WITH CHECK (owner = current_user);
CREATE POLICY owner_only ON pinnacle.runs USING (owner = current_user) WITH CHECK (owner = current_user);
CREATE POLICY owner_only ON pinnacle.models USING (owner = current_user) WITH CHECK (owner = current_user);
CREATE POLICY owner_only ON pinnacle.checkpoints
    USING (EXISTS (SELECT 1 FROM pinnacle.runs r WHERE r.id = run_id));
CREATE POLICY owner_only ON pinnacle.metrics
    USING (EXISTS (SELECT 1 FROM pinnacle.runs r WHERE r.id = run_id));

-- The role that owns a model identifier (the first to train it), or NULL for a new one.
CREATE FUNCTION pinnacle.identifier_owner(identifier text) RETURNS name
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT m.owner FROM pinnacle.models m WHERE m.identifier = identifier_owner.identifier LIMIT 1
$$;

-- The next version of a model, for the worker of a successful run. Versions are numbered one
-- after another across concurrent runs; an identifier belongs to the role that trained it first.
CREATE FUNCTION pinnacle.next_version(identifier text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owner name;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('pinnacle.models'), hashtext(identifier));
    owner := pinnacle.identifier_owner(identifier);
    IF owner IS NOT NULL AND owner <> session_user THEN
        RAISE EXCEPTION 'model "%" belongs to role %', identifier, owner
            USING ERRCODE = 'insufficient_privilege', HINT = 'Choose another identifier.';
    END IF;
    RETURN (SELECT coalesce(max(m.version), 0) + 1 FROM pinnacle.models m WHERE m.identifier = next_version.identifier);
END $$;

-- Creates the empty snapshot table `part` of run `run_id`, owned by `owner`, with the columns
-- of the select it will hold (the calling backend fills it with that role's privileges).
-- No role may run it: pinnacle_train runs it as the extension's owner, for the calling role,
-- so a role cannot create tables in schema pinnacle by calling it itself.
CREATE FUNCTION pinnacle.create_snapshot(run_id bigint, part text, owner name, columns text[],
                                         types regtype[], typmods integer[]) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET default_tablespace = '' AS $$
DECLARE
    snapshot text := pinnacle.snapshot_name(run_id, part);
BEGIN
    IF part NOT IN ('train', 'validation') THEN
        RAISE EXCEPTION 'a snapshot is of part train or validation, not %', part;
    END IF;
    EXECUTE format('CREATE TABLE %s (%s)', snapshot,
                   (SELECT string_agg(format('%I %s', c.name, format_type(c.type, c.typmod)), ', ' ORDER BY c.n)
                    FROM unnest(columns, types, typmods) WITH ORDINALITY AS c(name, type, typmod, n)));
    EXECUTE format('ALTER TABLE %s OWNER TO %I', snapshot, owner);
    EXECUTE format('COMMENT ON TABLE %s IS %L', snapshot,
                   format('The %s rows of pinnacle_train run %s ("download": true); dropped with the run.',
                          CASE part WHEN 'train' THEN 'training' ELSE 'validation' END, run_id));
    RETURN snapshot;
END $$;

REVOKE EXECUTE ON FUNCTION pinnacle.create_snapshot(bigint, text, name, text[], regtype[], integer[]) FROM PUBLIC;

-- A deleted run takes its snapshot tables with it.
CREATE FUNCTION pinnacle.drop_snapshots() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %s, %s', pinnacle.snapshot_name(old.id, 'train'),
                   pinnacle.snapshot_name(old.id, 'validation'));
    RETURN old;
END $$;
CREATE TRIGGER drop_snapshots AFTER DELETE ON pinnacle.runs
    FOR EACH ROW EXECUTE FUNCTION pinnacle.drop_snapshots();

-- Runs whose worker is gone (killed, or the server crashed) without ending them become
-- 'interrupted'. A live worker shows in pg_stat_activity as "pinnacle_train run <id>"; every
-- pinnacle call that cares looks, so a run never stays 'running' forever.
CREATE FUNCTION pinnacle.mark_lost_runs() RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH lost AS (
        UPDATE pinnacle.runs r
        SET status = 'interrupted', finished_at = clock_timestamp(), worker_pid = NULL,
            error = 'the training worker stopped without ending the run (killed, or the server crashed)'
        WHERE r.id IN (SELECT l.id FROM pinnacle.runs l
                       WHERE l.status IN ('queued', 'running')
                         AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                         WHERE a.application_name = 'pinnacle_train run ' || l.id)
                       FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*)::integer FROM lost
$$;

-- pg_dump keeps the models, their runs and their weights.
SELECT pg_catalog.pg_extension_config_dump('pinnacle.runs', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.models', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.metrics', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.modules', '');

CREATE FUNCTION pinnacle_train(spec jsonb, wait boolean DEFAULT false) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pinnacle_train' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pinnacle_train(jsonb, boolean) IS
    'Trains a model on the rows of spec.select in a background worker; returns the run id.';

CREATE FUNCTION pinnacle_wait(run_id bigint, timeout interval DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'pinnacle_wait' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pinnacle_wait(bigint, interval) IS
    'Waits for a run to end (or the timeout to pass) and returns its status.';

CREATE FUNCTION pinnacle_predict(identifier text, VARIADIC inputs "any") RETURNS real[]
    AS 'MODULE_PATHNAME', 'pinnacle_predict' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pinnacle_predict(text, "any") IS
    'The output of model identifier[@version] for one row of inputs, in key order.';

CREATE FUNCTION pinnacle_classify(identifier text, VARIADIC inputs "any") RETURNS bigint
    AS 'MODULE_PATHNAME', 'pinnacle_classify' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pinnacle_classify(text, "any") IS
    'The class (argmax of pinnacle_predict) for one row of inputs.';

CREATE FUNCTION pinnacle_cancel(run_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    run pinnacle.runs;
BEGIN
    PERFORM pinnacle.mark_lost_runs();
    SELECT * INTO run FROM pinnacle.runs r WHERE r.id = run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % does not exist', run_id USING ERRCODE = 'undefined_object';
    END IF;
    IF run.status NOT IN ('queued', 'running') THEN
        RETURN false;
    END IF;
    -- the worker stops at its next batch and ends the run 'cancelled'
    RETURN coalesce((SELECT pg_cancel_backend(a.pid) FROM pg_stat_activity a
                     WHERE a.pid = run.worker_pid AND a.application_name = 'pinnacle_train run ' || run.id),
                    false);
END $$;
COMMENT ON FUNCTION pinnacle_cancel(bigint) IS
    'Stops a queued or running run at its next batch; it ends ''cancelled'' and keeps its checkpoints.';

-- The running runs, live: each worker publishes its progress as JSON in its pg_stat_activity
-- entry (shared memory), which only its own role (and superusers) can read.
CREATE VIEW pinnacle.progress AS
SELECT r.id AS run_id, r.identifier, a.pid AS worker_pid, r.started_at,
       (p ->> 'iteration')::bigint AS iteration,
       (p ->> 'max_iterations')::bigint AS max_iterations,
       (p ->> 'train_loss')::double precision AS last_loss,
       (p ->> 'rows_per_second')::double precision AS rows_per_second,
       make_interval(secs => (p ->> 'eta_seconds')::double precision) AS eta,
       p -> 'validation' AS last_validation
FROM pg_stat_activity a
CROSS JOIN LATERAL (SELECT CASE WHEN a.query LIKE '{"run_id":%' THEN a.query::jsonb END AS p) AS published
JOIN pinnacle.runs r ON r.id = (p ->> 'run_id')::bigint
WHERE a.backend_type = 'pinnacle_train worker' AND a.query LIKE '{"run_id":%';
GRANT SELECT ON pinnacle.progress TO PUBLIC;

CREATE FUNCTION pinnacle_report(run_id bigint) RETURNS text
    AS 'MODULE_PATHNAME', 'pinnacle_report' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION pinnacle_report(bigint) IS
    'An SVG chart of the run''s metric history: training and validation curves, the best step marked.';

CREATE FUNCTION pinnacle_import(identifier text, torchscript bytea) RETURNS void
    AS 'MODULE_PATHNAME', 'pinnacle_import' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pinnacle_import(text, bytea) IS
    'Stores a TorchScript module (torch.jit.script + torch.jit.save) for specs with "model": {"torchscript": identifier}.';

CREATE FUNCTION pinnacle_export(identifier text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pinnacle_export' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION pinnacle_export(text) IS
    'Model identifier[@version] with its transform as TorchScript that torch.jit.load reads; forward takes one tensor per input column.';
