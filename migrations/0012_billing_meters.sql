-- Usage metering: meters per project, and every usage report sent to Stripe's meter events.

CREATE TABLE billing_meters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    -- The captured event counted or summed, and the numeric property summed.
    event text NOT NULL,
    aggregation text NOT NULL CHECK (aggregation IN ('count', 'sum')),
    property text,
    stripe_event_name text NOT NULL,
    window_s integer NOT NULL CHECK (window_s IN (60, 3600, 86400)),
    -- Usage is reported from this time on (default: when the meter was made).
    starts_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((aggregation = 'sum') = (property IS NOT NULL))
);
CREATE INDEX billing_meters_project ON billing_meters (project_id, id);

-- One row per meter event sent (or to send) to Stripe: the first report of a customer's window
-- (seq 1) and any correction once late events changed its total (seq 2, 3, ...: the
-- difference). A row is written, with its identifier, before Stripe is called; Stripe refuses a
-- second event with the same identifier, so a retry after a crash never counts twice.
CREATE TABLE usage_reports (
    project_id bigint NOT NULL REFERENCES projects (id),
    meter_id bigint NOT NULL REFERENCES billing_meters (id),
    customer_id text NOT NULL,
    window_start timestamptz NOT NULL,
    seq integer NOT NULL,
    value double precision NOT NULL,
    identifier text NOT NULL UNIQUE,
    status text NOT NULL CHECK (status IN ('pending', 'reported', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    reported_at timestamptz,
    PRIMARY KEY (meter_id, customer_id, window_start, seq)
);
CREATE INDEX usage_reports_pending ON usage_reports (project_id, meter_id) WHERE status = 'pending';
