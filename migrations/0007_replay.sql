-- Session replay: recordings stored as ordered, zstd-compressed chunks, a metadata row per
-- session derived from the chunks' summaries, quarantined chunks, per-project retention.

-- One row per recorded session, recomputed from its chunks in the transaction that adds them.
CREATE TABLE replay_sessions (
    project_id bigint NOT NULL REFERENCES projects (id),
    session_id text NOT NULL,
    distinct_id text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    duration_ms bigint NOT NULL,
    active_ms bigint NOT NULL,
    first_url text,
    urls text[] NOT NULL DEFAULT '{}',
    click_count integer NOT NULL DEFAULT 0,
    keypress_count integer NOT NULL DEFAULT 0,
    console_error_count integer NOT NULL DEFAULT 0,
    size_bytes bigint NOT NULL DEFAULT 0,
    raw_bytes bigint NOT NULL DEFAULT 0,
    chunk_count integer NOT NULL DEFAULT 0,
    event_count bigint NOT NULL DEFAULT 0,
    quarantined_chunks integer NOT NULL DEFAULT 0,
    window_ids text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, session_id)
);
CREATE INDEX replay_sessions_recent ON replay_sessions (project_id, start_time DESC, session_id DESC);
CREATE INDEX replay_sessions_distinct ON replay_sessions (project_id, distinct_id, start_time DESC);
-- Retention deletes by end time across projects.
CREATE INDEX replay_sessions_end ON replay_sessions (end_time);

-- Every $snapshot event stored, by its uuid: a redelivered message or a client's retry finds its
-- events here and stores nothing twice.
CREATE TABLE replay_snapshot_ids (
    project_id bigint NOT NULL,
    session_id text NOT NULL,
    uuid text NOT NULL,
    PRIMARY KEY (project_id, session_id, uuid)
);

-- The recording itself. `data` is a zstd frame holding a JSON array of rrweb events sorted by
-- timestamp; the other columns summarise it so that metadata never needs the data back.
CREATE TABLE replay_chunks (
    project_id bigint NOT NULL,
    session_id text NOT NULL,
    chunk_id text NOT NULL,
    window_id text,
    distinct_id text NOT NULL,
    first_ms bigint NOT NULL,
    last_ms bigint NOT NULL,
    event_count integer NOT NULL,
    raw_bytes integer NOT NULL,
    size_bytes integer NOT NULL,
    -- First and last user-activity timestamps, and the active time between them.
    first_active_ms bigint,
    last_active_ms bigint,
    active_ms bigint NOT NULL DEFAULT 0,
    click_count integer NOT NULL DEFAULT 0,
    keypress_count integer NOT NULL DEFAULT 0,
    console_error_count integer NOT NULL DEFAULT 0,
    has_full_snapshot boolean NOT NULL DEFAULT false,
    -- Distinct URLs in the order the chunk first shows them (at most 100).
    urls text[] NOT NULL DEFAULT '{}',
    data bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, session_id, chunk_id)
);
CREATE INDEX replay_chunks_order ON replay_chunks (project_id, session_id, first_ms, chunk_id);
-- The data is compressed already: keep PostgreSQL from trying again (out of line, uncompressed).
ALTER TABLE replay_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- Snapshots whose data could not be decoded (bad base64/gzip/JSON, not rrweb events). The raw
-- `$snapshot_data` is kept (zstd) for inspection; the player skips it.
CREATE TABLE replay_quarantine (
    project_id bigint NOT NULL,
    session_id text NOT NULL,
    chunk_id text NOT NULL,
    distinct_id text NOT NULL,
    "timestamp" timestamptz NOT NULL,
    reason text NOT NULL,
    data bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, session_id, chunk_id)
);
ALTER TABLE replay_quarantine ALTER COLUMN data SET STORAGE EXTERNAL;

-- Retention per project; projects without a row keep recordings for the service's default.
CREATE TABLE replay_settings (
    project_id bigint PRIMARY KEY REFERENCES projects (id),
    retention_days integer NOT NULL CHECK (retention_days BETWEEN 1 AND 3650),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The player's timeline reads a session's analytics events. On the native partitioned table the
-- index is created on every partition, present and future. A TimescaleDB hypertable with
-- compression refuses new indexes on some versions; there the read is bounded by the session's
-- time range, which prunes chunks, and does without.
DO $migration$
BEGIN
    CREATE INDEX events_session ON events (project_id, (properties ->> '$session_id'), "timestamp")
        WHERE properties ? '$session_id';
EXCEPTION WHEN feature_not_supported OR object_not_in_prerequisite_state THEN
    RAISE NOTICE 'events_session index not created: %', SQLERRM;
END
$migration$;
