-- Layout migrations: before a page's base layout is replaced (a save or an import), a copy of
-- the layout and the page's rules in the export format, so the change can be undone whole.
-- The newest 20 per page are kept.
CREATE TABLE layout_backups (
    id             TEXT PRIMARY KEY,
    page_slug      TEXT NOT NULL,
    layout_version BIGINT NOT NULL,
    rules          BIGINT NOT NULL,
    reason         TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    body           TEXT NOT NULL
);
CREATE INDEX layout_backups_page ON layout_backups (page_slug, created_at);
