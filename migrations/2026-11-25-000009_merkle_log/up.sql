-- The Merkle log over the audit trail (issue 10; RFC 6962). Writers only enqueue: each event's
-- seq goes into log_queue in the inserting transaction, so exactly the committed events are
-- queued, whatever order transactions commit in. One sequencer at a time (an advisory lock)
-- drains the queue after commit, gives each event the next log position, and stores its leaf
-- and every perfect subtree it completes, so that a proof reads O(log n) stored nodes.

CREATE TABLE log_queue (
    seq bigint PRIMARY KEY
);

CREATE FUNCTION enqueue_for_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO log_queue (seq) SELECT seq FROM new_events;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_events_enqueue AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION enqueue_for_log();

-- Events already in the trail join the log in seq order on the first run.
INSERT INTO log_queue (seq) SELECT seq FROM audit_events;

-- Log position → event.
CREATE TABLE log_leaves (
    idx       bigint PRIMARY KEY CHECK (idx >= 0),
    event_seq bigint NOT NULL UNIQUE REFERENCES audit_events (seq)
);

-- Perfect subtrees: (level, idx) is the root of leaves idx·2^level .. (idx+1)·2^level − 1;
-- level 0 holds the leaf hashes SHA-256(0x00 ‖ canonical event).
CREATE TABLE log_nodes (
    level smallint NOT NULL CHECK (level BETWEEN 0 AND 62),
    idx   bigint NOT NULL CHECK (idx >= 0),
    hash  bytea NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- The tree's current size and root (one row).
CREATE TABLE log_head (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    size       bigint NOT NULL CHECK (size >= 0),
    root       bytea NOT NULL CHECK (octet_length(root) = 32),
    updated_at timestamptz NOT NULL
);
INSERT INTO log_head (size, root, updated_at) VALUES (0, sha256(''::bytea), now());

CREATE TRIGGER log_leaves_append_only BEFORE UPDATE OR DELETE ON log_leaves
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER log_leaves_no_truncate BEFORE TRUNCATE ON log_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER log_nodes_append_only BEFORE UPDATE OR DELETE ON log_nodes
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER log_nodes_no_truncate BEFORE TRUNCATE ON log_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- A checkpoint now also signs the Merkle log's head: a C2SP tlog-checkpoint note.
ALTER TABLE audit_checkpoints ADD COLUMN tree_size bigint CHECK (tree_size >= 0);
ALTER TABLE audit_checkpoints ADD COLUMN root_hash text CHECK (octet_length(root_hash) = 64);
ALTER TABLE audit_checkpoints ADD COLUMN note text;
