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
       ARRAY(SELECT t::integer FROM jsonb_array_elements_text(p -> 'trainer_pids') AS t) AS trainer_pids
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
    run_id          bigint NOT NULL UNIQUE,
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
    run_id          bigint NOT NULL,
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

-- Progress of every queued and running run, with the search it is a trial of.
CREATE OR REPLACE VIEW pinnacle.progress AS
SELECT r.id AS run_id, r.identifier, a.pid AS worker_pid, r.started_at,
       (p ->> 'iteration')::bigint AS iteration,
       (p ->> 'max_iterations')::bigint AS max_iterations,
       (p ->> 'train_loss')::double precision AS last_loss,
       (p ->> 'rows_per_second')::double precision AS rows_per_second,
       make_interval(secs => (p ->> 'eta_seconds')::double precision) AS eta,
       p -> 'validation' AS last_validation,
       ARRAY(SELECT t::integer FROM jsonb_array_elements_text(p -> 'trainer_pids') AS t) AS trainer_pids,
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
