-- Conflicts between editors and manual overrides: the revision a push was made from and, for a stale push applied
-- under last-write-wins, the revision it overwrote; pushes held for review as change requests
-- (diff, comments, approval by another editor or an admin, or rejection kept in history).
ALTER TABLE bundles ADD COLUMN base_revision BIGINT;
ALTER TABLE bundles ADD COLUMN overwrote BIGINT;
CREATE TABLE change_requests (
    id               TEXT PRIMARY KEY,
    scope            TEXT NOT NULL,
    kind             TEXT NOT NULL,
    body             TEXT NOT NULL,
    audience_json    TEXT NOT NULL,
    base_revision    BIGINT,
    reason           TEXT NOT NULL,
    state            TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    decided_by       TEXT,
    decided_at       BIGINT,
    applied_revision BIGINT,
    decision_note    TEXT NOT NULL,
    comments_json    TEXT NOT NULL
);
CREATE INDEX change_requests_state ON change_requests (state, created_at);
-- A manual override of one neuron's config: pinned to a revision of one of its scopes and/or
-- keys set over its config, until an optional expiry.
CREATE TABLE neuron_overrides (
    neuron_id    TEXT PRIMARY KEY,
    pin_scope    TEXT,
    pin_revision BIGINT,
    keys_json    TEXT NOT NULL,
    expires_at   BIGINT,
    reason       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
