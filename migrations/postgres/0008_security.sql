-- Revoked neurons: every neuron token issued to `neuron_id` at or before `revoked_at` (ms
-- since the epoch) is void. Shared by the hubs on one database; kept for a day (a token
-- lives minutes).
CREATE TABLE neuron_revocations (
    neuron_id  TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX neuron_revocations_revoked_at ON neuron_revocations (revoked_at);

-- The path the hub probes on a server neuron of this kind (on the origin of its endpoint:
-- never a path the neuron chose).
ALTER TABLE neuron_kinds ADD COLUMN health_path TEXT NOT NULL DEFAULT '/healthz';
