-- Experiments: every exposed person's metric values, kept current incrementally.

-- One row per person counted by an experiment: the variant, the first exposure and the person's
-- value of every metric column (the layout is the experiment's plan, see services/experiments).
-- Results are sums over these rows; a refresh recomputes only the people whose events arrived
-- since the last one.
CREATE TABLE experiment_people (
    experiment_id bigint NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    person_id uuid NOT NULL,
    variant text NOT NULL,
    first_at timestamptz NOT NULL,
    vals float8[] NOT NULL,
    PRIMARY KEY (experiment_id, person_id)
);

-- The sums over experiment_people's rows per variant and UTC day of first exposure, kept in step
-- with the rows (a refresh subtracts the moments of the rows it replaces and adds the new ones):
-- k = 0 is the count, then the sum and sum of squares of each column, then the plan's cross
-- products. Results add up the days; the dashboard charts them.
CREATE TABLE experiment_sums (
    experiment_id bigint NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    variant text NOT NULL,
    day date NOT NULL,
    k integer NOT NULL,
    value float8 NOT NULL,
    PRIMARY KEY (experiment_id, variant, day, k)
);

-- What experiment_people holds: computed for `layout` (the plan's fingerprint), with every event
-- inserted before `watermark` seen, over event times before `data_until`; `people` rows.
CREATE TABLE experiment_people_state (
    experiment_id bigint PRIMARY KEY REFERENCES experiments (id) ON DELETE CASCADE,
    layout text NOT NULL,
    watermark timestamptz NOT NULL,
    data_until timestamptz NOT NULL,
    people bigint NOT NULL,
    built_at timestamptz NOT NULL,
    refreshed_at timestamptz NOT NULL
);

-- Finds the events inserted since a refresh. Rows are appended in insertion order, so a BRIN
-- index is a few pages per partition and costs the writer next to nothing.
CREATE INDEX events_inserted_at ON events USING brin (inserted_at);

-- 1 when `seq` (a person's event names in time order, within the funnel's window) contains the
-- funnel's steps in order, else 0. Taking each step at its earliest chance is optimal.
CREATE FUNCTION experiment_funnel_done(seq text[], steps text[]) RETURNS float8
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    at integer := 1;
    wanted integer := cardinality(steps);
    name text;
BEGIN
    IF seq IS NULL OR wanted = 0 THEN
        RETURN 0;
    END IF;
    FOREACH name IN ARRAY seq LOOP
        IF name = steps[at] THEN
            at := at + 1;
            IF at > wanted THEN
                RETURN 1;
            END IF;
        END IF;
    END LOOP;
    RETURN 0;
END
$$;
