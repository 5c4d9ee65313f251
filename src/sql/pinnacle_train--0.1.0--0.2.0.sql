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
