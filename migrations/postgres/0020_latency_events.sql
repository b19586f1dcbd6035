-- Latency samples neurons report (events of kind `latency`, milliseconds in `value`): the
-- automatic rollback compares their mean before and after a change, per neuron.
CREATE INDEX events_latency_by_neuron ON events (neuron_id, at) WHERE kind = 'latency';
