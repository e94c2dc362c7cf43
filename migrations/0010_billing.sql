-- Billing: per-project Stripe settings, the append-only log of verified Stripe webhook events,
-- and the projection built from it (customers, products, prices, subscriptions, invoices,
-- active entitlements, checkout links). Billing reads ingest's data only through analytics.*_v1.

-- One row per project that connected Stripe. Secrets are AES-GCM ciphertexts (key from
-- DEVFLOW_BILLING_ENCRYPTION_KEY) bound to the project and field; *_prefix is what the API shows.
CREATE TABLE billing_settings (
    project_id bigint PRIMARY KEY REFERENCES projects (id),
    stripe_secret_key bytea,
    stripe_secret_key_prefix text,
    webhook_secret bytea,
    webhook_secret_prefix text,
    -- Customer -> person: metadata key holding the distinct id; optionally a Checkout Session's
    -- client_reference_id; for B2B a group type whose key is in metadata[group_key_field].
    distinct_id_field text NOT NULL DEFAULT 'distinct_id',
    use_client_reference_id boolean NOT NULL DEFAULT false,
    group_type text,
    group_key_field text NOT NULL DEFAULT 'group_key',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The facts: every verified webhook event, once (a redelivery is a no-op). Never updated.
CREATE TABLE stripe_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    event_id text NOT NULL,
    type text NOT NULL,
    -- Stripe's `created` (seconds since the epoch): the order the projection applies.
    created bigint NOT NULL,
    livemode boolean NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, event_id)
);
CREATE INDEX stripe_events_recent ON stripe_events (project_id, seq DESC);

-- Projection rows. Each remembers the (created, event id) of the last event applied to it: an
-- event that is not newer never overwrites it, so late and redelivered events change nothing.
CREATE TABLE billing_customers (
    project_id bigint NOT NULL REFERENCES projects (id),
    id text NOT NULL,
    email text,
    name text,
    metadata jsonb NOT NULL DEFAULT '{}',
    deleted boolean NOT NULL DEFAULT false,
    event_created bigint NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE billing_products (
    project_id bigint NOT NULL REFERENCES projects (id),
    id text NOT NULL,
    name text,
    active boolean NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    event_created bigint NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE billing_prices (
    project_id bigint NOT NULL REFERENCES projects (id),
    id text NOT NULL,
    product_id text,
    lookup_key text,
    unit_amount bigint,
    currency text,
    recurring_interval text,
    interval_count integer,
    active boolean NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    event_created bigint NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE billing_subscriptions (
    project_id bigint NOT NULL REFERENCES projects (id),
    id text NOT NULL,
    customer_id text NOT NULL,
    status text NOT NULL,
    -- [{id, price, product, lookup_key, quantity, unit_amount, currency, interval,
    --   interval_count}] in Stripe's order.
    items jsonb NOT NULL,
    price_ids text[] NOT NULL,
    product_ids text[] NOT NULL,
    trial_start bigint,
    trial_end bigint,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    current_period_start bigint,
    current_period_end bigint,
    created bigint NOT NULL,
    event_created bigint NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX billing_subscriptions_customer ON billing_subscriptions (project_id, customer_id);

CREATE TABLE billing_invoices (
    project_id bigint NOT NULL REFERENCES projects (id),
    id text NOT NULL,
    customer_id text,
    subscription_id text,
    status text,
    paid boolean NOT NULL,
    payment_failed boolean NOT NULL,
    amount_due bigint,
    amount_paid bigint,
    currency text,
    event_created bigint NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX billing_invoices_customer ON billing_invoices (project_id, customer_id);

-- A customer's active entitlements (from entitlements.active_entitlement_summary.updated).
CREATE TABLE billing_entitlements (
    project_id bigint NOT NULL REFERENCES projects (id),
    customer_id text NOT NULL,
    lookup_keys text[] NOT NULL,
    event_created bigint NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (project_id, customer_id)
);

-- The client_reference_id of a customer's latest completed Checkout Session.
CREATE TABLE billing_checkout_links (
    project_id bigint NOT NULL REFERENCES projects (id),
    customer_id text NOT NULL,
    client_reference_id text NOT NULL,
    event_created bigint NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (project_id, customer_id)
);
