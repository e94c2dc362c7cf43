-- Feature flags, event-sourced: flag_changes is the log (append-only), feature_flags its projection.

CREATE TABLE feature_flags (
    id bigint PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    key text NOT NULL,
    name text NOT NULL DEFAULT '',
    active boolean NOT NULL,
    archived boolean NOT NULL DEFAULT false,
    filters jsonb NOT NULL,
    ensure_experience_continuity boolean NOT NULL DEFAULT false,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (project_id, key)
);

-- Flag ids come from here, not from the projection, so that a rebuild never reuses one.
CREATE SEQUENCE feature_flag_ids;

CREATE TABLE flag_changes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    flag_id bigint NOT NULL,
    key text NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    kind text NOT NULL CHECK (kind IN ('create', 'update', 'archive', 'restore', 'rollout')),
    actor text NOT NULL,
    reason text NOT NULL DEFAULT '',
    -- The whole definition after the change: {key, name, active, archived, filters,
    -- ensure_experience_continuity}.
    definition jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (flag_id, version)
);
CREATE INDEX flag_changes_project_key ON flag_changes (project_id, key, version);
CREATE INDEX flag_changes_project_time ON flag_changes (project_id, created_at);

-- The log is immutable: history and as_of reads depend on it.
CREATE FUNCTION flag_changes_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'flag_changes is append-only';
END
$$;
CREATE TRIGGER flag_changes_no_update BEFORE UPDATE OR DELETE ON flag_changes
    FOR EACH STATEMENT EXECUTE FUNCTION flag_changes_immutable();

-- Changes committed but not yet confirmed published on flags.changed.<project> (an outbox):
-- the API publishes right after commit, and a periodic relay retries what is left.
CREATE TABLE flag_outbox (
    change_id bigint PRIMARY KEY REFERENCES flag_changes (id),
    project_id bigint NOT NULL,
    subject text NOT NULL,
    payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Changes to apply at a given time; applied by the flags.apply_schedule job.
CREATE TABLE flag_schedules (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    flag_id bigint NOT NULL REFERENCES feature_flags (id) DEFERRABLE INITIALLY DEFERRED,
    run_at timestamptz NOT NULL,
    change jsonb NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'applied', 'cancelled', 'failed')),
    applied_version integer,
    error text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz
);
CREATE INDEX flag_schedules_due ON flag_schedules (run_at) WHERE status = 'pending';
CREATE INDEX flag_schedules_flag ON flag_schedules (flag_id, id);

-- Cohorts: static (a list of distinct ids) or dynamic (nested AND/OR property groups).
CREATE TABLE cohorts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    is_static boolean NOT NULL,
    filters jsonb,
    deleted boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX cohorts_project ON cohorts (project_id);

CREATE TABLE cohort_members (
    project_id bigint NOT NULL,
    cohort_id bigint NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
    distinct_id text NOT NULL,
    PRIMARY KEY (project_id, distinct_id, cohort_id)
);
CREATE INDEX cohort_members_cohort ON cohort_members (cohort_id);

-- PostHog's group type indexes (aggregation_group_type_index) per project.
CREATE TABLE group_type_mapping (
    project_id bigint NOT NULL REFERENCES projects (id),
    group_type_index smallint NOT NULL CHECK (group_type_index BETWEEN 0 AND 4),
    group_type text NOT NULL,
    PRIMARY KEY (project_id, group_type_index),
    UNIQUE (project_id, group_type)
);

-- One number per project that moves on every change to what evaluation depends on (flags,
-- cohorts, group types): caches and the definitions ETag are keyed by it.
CREATE TABLE flag_revisions (
    project_id bigint PRIMARY KEY REFERENCES projects (id),
    revision bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Traits other services publish about people and groups, exposed to flags as properties
-- `$plan` (billing.> messages) and `churn_risk` (churn.> messages). subject_kind is 'person'
-- (subject_key = distinct id, group_type = '') or 'group' (subject_key = group key).
CREATE TABLE flag_traits (
    project_id bigint NOT NULL,
    subject_kind text NOT NULL CHECK (subject_kind IN ('person', 'group')),
    group_type text NOT NULL DEFAULT '',
    subject_key text NOT NULL,
    plan text,
    plan_at timestamptz,
    churn_risk double precision,
    churn_at timestamptz,
    PRIMARY KEY (project_id, subject_kind, group_type, subject_key)
);
