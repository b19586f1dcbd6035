-- Which database this is: one row, written by this migration with a random id. A hub keeps
-- the id it last saw (in its data dir); a database without this row, or with another id, was
-- replaced, and the hub restores its control state into it.
CREATE TABLE database_identity (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
INSERT INTO database_identity (id, created_at)
VALUES (lower(hex(randomblob(16))), CAST(strftime('%s', 'now') AS INTEGER) * 1000);
