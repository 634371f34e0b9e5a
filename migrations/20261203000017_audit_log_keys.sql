-- The audit log keeps one key: the event's global position. Its event id
-- and its (aggregate, sequence) identify the same event and are unique in
-- the store already; the projector applies each event once (ADR 0007), and
-- a second row for an event would collide on the position. The two extra
-- unique indexes were never read by a query and cost every row written
-- (a rebuild writes one per event).
ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_event_id_key;
ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_aggregate_type_aggregate_id_sequence_key;
