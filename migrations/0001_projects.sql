-- Projects: the tenant of every row. The token is public (SDKs, browsers); the secret key is not.
CREATE TABLE projects (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    token text NOT NULL UNIQUE,
    secret_key text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Facts about this installation that services read at start-up (for example the storage mode).
CREATE TABLE platform_info (
    key text PRIMARY KEY,
    value text NOT NULL
);
