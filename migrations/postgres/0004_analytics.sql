-- Analytics events from neurons, written by the spool writer in large batches, and the
-- batch ids already counted (a resent batch is counted once per neuron).
CREATE TABLE event_batches (
    neuron_id   TEXT NOT NULL,
    batch_id    TEXT NOT NULL,
    events      INTEGER NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (neuron_id, batch_id)
);

CREATE TABLE events (
    neuron_id   TEXT NOT NULL,
    batch_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    unit        TEXT,
    page_slug   TEXT,
    mutation_id TEXT,
    variant     TEXT,
    name        TEXT,
    value       DOUBLE PRECISION,
    message     TEXT
);
-- Logs and errors neurons report are listed and searched on the dashboard; the bulk of
-- events (exposures, clicks) stays out of these indexes.
CREATE INDEX events_reported ON events (at) WHERE kind IN ('error', 'log');
CREATE INDEX events_reported_by_neuron ON events (neuron_id, at) WHERE kind IN ('error', 'log');

-- Operator commands (hot reload, sync) sent to a scope, and each neuron's answer.
CREATE TABLE commands (
    id         TEXT PRIMARY KEY,
    command    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    targeted   BIGINT NOT NULL,
    sent       BIGINT NOT NULL
);
CREATE INDEX commands_created_at ON commands (created_at);

CREATE TABLE command_reports (
    command_id TEXT NOT NULL REFERENCES commands (id) ON DELETE CASCADE,
    neuron_id  TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    message    TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (command_id, neuron_id)
);
