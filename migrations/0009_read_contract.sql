-- The read contract of ingest's tables. Ingest owns events, persons, person_distinct_ids,
-- person_merges and groups; every other service reads them only through these views, so ingest
-- can change its storage (columns, partitioning, TimescaleDB or not) and keep the views the same.
-- A view is versioned by its name: a change that removes or redefines a column makes `_v2` and
-- keeps `_v1` until no reader uses it. The views are plain projections, inlined by the planner,
-- so partition pruning and indexes work through them exactly as on the tables.
CREATE SCHEMA IF NOT EXISTS analytics;

-- One row per stored event. person_id is the person when the event was written; when that person
-- was later merged, analytics.person_merges_v1 names the survivor. inserted_at is when the row
-- was stored (for readers that process new events incrementally).
CREATE VIEW analytics.events_v1 AS
SELECT project_id, uuid, event, distinct_id, person_id, "timestamp", properties, inserted_at
FROM events;

CREATE VIEW analytics.persons_v1 AS
SELECT project_id, id, properties, is_identified, created_at
FROM persons;

CREATE VIEW analytics.person_distinct_ids_v1 AS
SELECT project_id, distinct_id, person_id
FROM person_distinct_ids;

CREATE VIEW analytics.person_merges_v1 AS
SELECT project_id, source_person_id, target_person_id, merged_at
FROM person_merges;

CREATE VIEW analytics.groups_v1 AS
SELECT project_id, group_type, group_key, properties, created_at
FROM groups;
