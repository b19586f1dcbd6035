-- The hub's last HTTP probe of a server neuron's endpoint (JSON; empty: never probed).
ALTER TABLE neurons ADD COLUMN probe_json TEXT NOT NULL DEFAULT '';
