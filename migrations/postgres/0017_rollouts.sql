-- Rollouts: moving the neurons of a kind (all, a tag's, or one) to one of its releases,
-- staged like a push (audience: a percentage and/or tags), paused, resumed or aborted. At
-- most one rollout per kind is running or paused at a time. Each neuron sent the update
-- order has a row with how it last reported.
CREATE TABLE rollouts (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    version       TEXT NOT NULL,
    previous      TEXT,
    scope         TEXT NOT NULL,
    audience_json TEXT NOT NULL,
    state         TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    FOREIGN KEY (kind, version) REFERENCES releases(kind, version)
);
CREATE INDEX rollouts_kind ON rollouts (kind, created_at);
-- One running or paused rollout per kind, whichever hub starts it.
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (kind) WHERE state IN ('running', 'paused');
CREATE TABLE rollout_neurons (
    rollout_id TEXT NOT NULL REFERENCES rollouts(id),
    neuron_id  TEXT NOT NULL,
    state      TEXT NOT NULL,
    step       TEXT NOT NULL,
    message    TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (rollout_id, neuron_id)
);
