-- Persons projection, maintained by the writer from the events it stores.
CREATE TABLE persons (
    id uuid PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    properties jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_identified boolean NOT NULL DEFAULT false,
    version bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX persons_project ON persons (project_id);

CREATE TABLE person_distinct_ids (
    project_id bigint NOT NULL,
    distinct_id text NOT NULL,
    person_id uuid NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, distinct_id)
);
CREATE INDEX person_distinct_ids_person ON person_distinct_ids (person_id);

-- When a person is merged into another, events already stored keep the old person_id; reads map
-- it through this table so that they always name the surviving person.
CREATE TABLE person_merges (
    project_id bigint NOT NULL,
    source_person_id uuid PRIMARY KEY,
    target_person_id uuid NOT NULL,
    merged_at timestamptz NOT NULL DEFAULT now()
);

-- Groups ($groupidentify): one row per (project, group type, key).
CREATE TABLE groups (
    project_id bigint NOT NULL,
    group_type text NOT NULL,
    group_key text NOT NULL,
    properties jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, group_type, group_key)
);
