-- Layout mutations: versioned base layouts per page and every version of every rule.
-- One rule-set revision sequence counts every change to either, so a neuron that holds
-- revision N can be sent exactly what changed after it.

-- Base layouts: one tree per page and version. A new version never replaces an old one.
CREATE TABLE layouts (
    page_slug  TEXT NOT NULL,
    version    BIGINT NOT NULL,
    tree_json  TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (page_slug, version)
);
CREATE INDEX layouts_revision ON layouts (revision);

-- Every version of every rule. The newest version of an id is the rule's current state; a
-- version with deleted = true removes the rule (restoring it writes a newer version).
CREATE TABLE layout_mutations (
    id            TEXT NOT NULL,
    version       BIGINT NOT NULL,
    page_slug     TEXT NOT NULL,
    layer         TEXT NOT NULL,
    mutation_type TEXT NOT NULL,
    is_active     BOOLEAN NOT NULL,
    deleted       BOOLEAN NOT NULL,
    rule_json     TEXT NOT NULL,
    revision      BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE INDEX layout_mutations_revision ON layout_mutations (revision);
