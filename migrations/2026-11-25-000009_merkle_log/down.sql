ALTER TABLE audit_checkpoints DROP COLUMN note;
ALTER TABLE audit_checkpoints DROP COLUMN root_hash;
ALTER TABLE audit_checkpoints DROP COLUMN tree_size;
DROP TABLE log_head;
DROP TABLE log_nodes;
DROP TABLE log_leaves;
DROP TRIGGER audit_events_enqueue ON audit_events;
DROP FUNCTION enqueue_for_log();
DROP TABLE log_queue;
