-- The visitor's segment an event came with (e.g. `device:mobile,source:search`), set by the
-- hub from what it knew when it showed the page: the suggestion engine compares segments.
ALTER TABLE events ADD COLUMN segment TEXT;

-- Suggestions an editor accepted (turned into a draft rule) or dismissed, by their stable id.
CREATE TABLE suggestion_states (
    id       TEXT PRIMARY KEY,
    state    TEXT NOT NULL,
    actor    TEXT NOT NULL,
    at       BIGINT NOT NULL,
    rule_id  TEXT
);
