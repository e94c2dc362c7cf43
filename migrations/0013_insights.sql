-- Insights: the project-level settings of the query engine. Insights reads events, persons and
-- merges only through ingest's read contract (analytics.*_v1, 0009_read_contract.sql).
CREATE TABLE insights_settings (
    project_id bigint PRIMARY KEY REFERENCES projects (id),
    -- IANA name; day, week and month boundaries of every query follow it.
    timezone text NOT NULL DEFAULT 'UTC',
    -- 0 Sunday (PostHog's default), 1 Monday.
    week_start_day smallint NOT NULL DEFAULT 0 CHECK (week_start_day IN (0, 1)),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Ingest's hourly rollup joins the read contract: one row per project, event and UTC hour with
-- the number of events stored. Without TimescaleDB ingest keeps it in the transaction that
-- inserts the events, so it is exact; with TimescaleDB it is a continuous aggregate refreshed
-- behind real time, and insights does not read it (see docs/insights.md).
CREATE VIEW analytics.events_hourly_v1 AS
SELECT project_id, event, hour, count
FROM events_hourly;
