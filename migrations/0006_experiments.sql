-- Experiments: a multivariate flag plus metrics and analysis settings.

-- The flag log as the experiments service receives it on flags.changed.>: the variants in
-- force over an experiment come from here (as_of), not from today's flag.
CREATE TABLE experiment_flag_versions (
    project_id bigint NOT NULL,
    flag_id bigint NOT NULL,
    key text NOT NULL,
    version integer NOT NULL,
    definition jsonb NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (flag_id, version)
);
CREATE INDEX experiment_flag_versions_key ON experiment_flag_versions (project_id, key, changed_at);

CREATE TABLE experiments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    feature_flag_key text NOT NULL,
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'running', 'stopped')),
    start_at timestamptz,
    end_at timestamptz,
    metrics jsonb NOT NULL,
    analysis jsonb NOT NULL,
    exposure jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX experiments_project ON experiments (project_id, id);

-- Computed results, reused until new events could change them (see services/experiments).
CREATE TABLE experiment_results (
    experiment_id bigint PRIMARY KEY REFERENCES experiments (id) ON DELETE CASCADE,
    computed_at timestamptz NOT NULL,
    body jsonb NOT NULL
);
