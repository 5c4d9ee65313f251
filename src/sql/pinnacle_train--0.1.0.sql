-- pinnacle_train: the SQL surface (DESIGN.md section 3).
\echo Use "CREATE EXTENSION pinnacle_train" to load this file. \quit

CREATE SCHEMA pinnacle;
GRANT USAGE ON SCHEMA pinnacle TO PUBLIC;

CREATE SEQUENCE pinnacle.runs_id_seq;

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
    validation_rows bigint
);
ALTER SEQUENCE pinnacle.runs_id_seq OWNED BY pinnacle.runs.id;
CREATE INDEX ON pinnacle.runs (identifier);

COMMENT ON TABLE pinnacle.runs IS 'One row per pinnacle_train call: its spec, status, progress and metric history.';

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
    owner           name NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (identifier, version),
    FOREIGN KEY (run_id, iteration) REFERENCES pinnacle.checkpoints (run_id, iteration)
);
COMMENT ON TABLE pinnacle.models IS 'One row per successful run: a model version and the checkpoint that holds its weights.';

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
GRANT USAGE ON SEQUENCE pinnacle.runs_id_seq TO PUBLIC;

-- pg_dump keeps the models, their runs and their weights.
SELECT pg_catalog.pg_extension_config_dump('pinnacle.runs', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.models', '');
SELECT pg_catalog.pg_extension_config_dump('pinnacle.metrics', '');

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
