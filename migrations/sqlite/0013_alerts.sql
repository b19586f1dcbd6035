-- Alerts to the webhook, kept until delivered: a hub that stops with alerts undelivered (or
-- a receiver that is down for hours) delivers them when it can. Any hub sharing the
-- database may deliver one; `next_at` is when it is due (or, while a hub is sending it,
-- when that hub's claim lapses).
CREATE TABLE alerts (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    rule_id      TEXT NOT NULL,
    at           BIGINT NOT NULL,
    body         TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    delivered_at BIGINT,
    failed_at    BIGINT,
    last_error   TEXT
);
CREATE INDEX alerts_due ON alerts (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX alerts_at ON alerts (at);
