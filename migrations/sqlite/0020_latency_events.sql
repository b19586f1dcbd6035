-- Latency samples neurons report (events of kind `latency`, milliseconds in `value`): the
-- automatic rollback compares their mean before and after a change, over a range of time.
CREATE INDEX events_latency ON events (at) WHERE kind = 'latency';
