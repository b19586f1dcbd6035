-- Releases: what each neuron kind should run. A release is described once per kind and
-- version (never changed afterwards) with the config bundle revision it goes with, the ids
-- of the migrations its neurons run before and after switching, and the schema and API
-- fingerprints they are expected to report. Each kind may have one expected release.
CREATE TABLE releases (
    kind               TEXT NOT NULL REFERENCES neuron_kinds(name),
    version            TEXT NOT NULL,
    bundle_scope       TEXT,
    bundle_revision    BIGINT,
    pre_migrations     TEXT NOT NULL,
    post_migrations    TEXT NOT NULL,
    schema_fingerprint TEXT,
    api_fingerprint    TEXT,
    notes              TEXT NOT NULL,
    created_by         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (kind, version)
);
CREATE TABLE expected_releases (
    kind    TEXT PRIMARY KEY REFERENCES neuron_kinds(name),
    version TEXT NOT NULL,
    set_by  TEXT NOT NULL,
    set_at  BIGINT NOT NULL,
    FOREIGN KEY (kind, version) REFERENCES releases(kind, version)
);
-- What each neuron reports about itself: fingerprints of its schema and API, and its last
-- migration (JSON: id, phase, state, time, the end of its output).
ALTER TABLE neurons ADD COLUMN schema_fingerprint TEXT;
ALTER TABLE neurons ADD COLUMN api_fingerprint TEXT;
ALTER TABLE neurons ADD COLUMN migration_json TEXT;
