-- Events and their hourly rollup. With TimescaleDB, `events` is a hypertable (1-day chunks,
-- compression segmented by project) and `events_hourly` a continuous aggregate. Without it, `events`
-- is range-partitioned by day (partitions created ahead by the service) and `events_hourly` a table
-- the writer keeps current in the same transaction as the insert. Queries are the same in both.
DO $migration$
DECLARE
    has_timescale boolean := EXISTS (
        SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'
    );
    columns text := $cols$
        project_id bigint NOT NULL,
        uuid uuid NOT NULL,
        event text NOT NULL,
        distinct_id text NOT NULL,
        person_id uuid,
        "timestamp" timestamptz NOT NULL,
        properties jsonb NOT NULL DEFAULT '{}'::jsonb,
        inserted_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (project_id, uuid, "timestamp")
    $cols$;
BEGIN
    IF has_timescale THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXECUTE format('CREATE TABLE events (%s)', columns);
        PERFORM create_hypertable('events', 'timestamp', chunk_time_interval => INTERVAL '1 day');
        ALTER TABLE events SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'project_id',
            timescaledb.compress_orderby = '"timestamp" DESC, uuid'
        );
        PERFORM add_compression_policy('events', INTERVAL '7 days');
        CREATE MATERIALIZED VIEW events_hourly
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT project_id, event, time_bucket(INTERVAL '1 hour', "timestamp") AS hour,
                   count(*)::bigint AS count
            FROM events
            GROUP BY project_id, event, time_bucket(INTERVAL '1 hour', "timestamp")
            WITH NO DATA;
        PERFORM add_continuous_aggregate_policy('events_hourly',
            start_offset => NULL,
            end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '5 minutes');
        INSERT INTO platform_info (key, value) VALUES ('storage_mode', 'timescaledb');
    ELSE
        EXECUTE format('CREATE TABLE events (%s) PARTITION BY RANGE ("timestamp")', columns);
        CREATE TABLE events_hourly (
            project_id bigint NOT NULL,
            event text NOT NULL,
            hour timestamptz NOT NULL,
            count bigint NOT NULL,
            PRIMARY KEY (project_id, event, hour)
        );
        INSERT INTO platform_info (key, value) VALUES ('storage_mode', 'partitioned');
    END IF;
END
$migration$;

CREATE INDEX events_project_time ON events (project_id, "timestamp" DESC, uuid DESC);
CREATE INDEX events_project_event_time ON events (project_id, event, "timestamp" DESC);
CREATE INDEX events_project_distinct_time ON events (project_id, distinct_id, "timestamp" DESC);
