-- The overview's events-per-minute chart sums recent batches by arrival time.
CREATE INDEX event_batches_received_at ON event_batches (received_at);
