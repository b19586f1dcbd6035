-- Bundles pushed to neurons (one monotonic revision sequence per scope) and what each
-- neuron has acknowledged (the highest revision per scope).
CREATE TABLE bundles (
    scope      TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, revision)
);
CREATE INDEX bundles_created_at ON bundles (created_at);

CREATE TABLE bundle_acks (
    neuron_id TEXT NOT NULL,
    scope     TEXT NOT NULL,
    revision  BIGINT NOT NULL,
    acked_at  BIGINT NOT NULL,
    PRIMARY KEY (neuron_id, scope)
);
CREATE INDEX bundle_acks_scope_revision ON bundle_acks (scope, revision);
