-- A staged push names its audience (JSON: percent and/or tags; empty: everyone in the scope).
ALTER TABLE bundles ADD COLUMN audience_json TEXT NOT NULL DEFAULT '';
