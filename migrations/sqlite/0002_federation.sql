-- Federation: neuron kinds (a plugin point: rows, not code), neurons, and the nonces of
-- signed neuron requests (a nonce seen before is refused). Times are ms since the epoch.
CREATE TABLE neuron_kinds (
    name          TEXT PRIMARY KEY,
    transport     TEXT NOT NULL CHECK (transport IN ('server', 'browser')),
    description   TEXT NOT NULL,
    capabilities  TEXT NOT NULL,
    health_checks TEXT NOT NULL
);
INSERT INTO neuron_kinds (name, transport, description, capabilities, health_checks) VALUES
    ('web-app', 'browser', 'A web app in the browser (React, Next, Leptos ...)', '["layout-rules","analytics","config"]', '["render","hydrate"]'),
    ('api-service', 'server', 'An HTTP API service', '["layout-rules","analytics","config","hot-reload","probe"]', '["http","database","queue"]'),
    ('cli', 'server', 'A command-line tool run by people or scripts', '["analytics","config"]', '["run"]'),
    ('agent', 'server', 'A long-running agent', '["analytics","config","hot-reload"]', '["loop","tools"]'),
    ('ai-worker', 'server', 'An AI-only worker (inference, no UI)', '["analytics","config","hot-reload"]', '["model","queue"]');

CREATE TABLE neurons (
    id            TEXT PRIMARY KEY,
    slug          TEXT NOT NULL,
    kind          TEXT NOT NULL REFERENCES neuron_kinds(name),
    version       TEXT NOT NULL,
    capabilities  TEXT NOT NULL,
    tags          TEXT NOT NULL,
    region        TEXT,
    endpoint      TEXT,
    public_key    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'active', 'degraded', 'unhealthy', 'draining', 'retired')),
    pinned        BOOLEAN NOT NULL DEFAULT FALSE,
    registered_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    health        TEXT NOT NULL DEFAULT 'ok',
    checks_json   TEXT NOT NULL DEFAULT '[]',
    load_json     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX neurons_status_last_seen ON neurons (status, last_seen_at);

CREATE TABLE neuron_nonces (
    neuron_id  TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (neuron_id, nonce)
);
CREATE INDEX neuron_nonces_expires_at ON neuron_nonces (expires_at);
