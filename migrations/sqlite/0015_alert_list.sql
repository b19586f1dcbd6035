-- The hub's list of alerts: every alert is kept and shown on the dashboard's Alerts page,
-- whether or not a webhook is configured (`deliver` says whether one waits to be sent), and
-- an operator acknowledges it there. Alerts older than 90 days that wait for nothing are
-- pruned.
ALTER TABLE alerts ADD COLUMN deliver BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE alerts ADD COLUMN acknowledged_at BIGINT;
ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT;
-- The webhook's queue leaves out alerts that were never meant for it.
DROP INDEX alerts_due;
CREATE INDEX alerts_due ON alerts (next_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL AND deliver;
