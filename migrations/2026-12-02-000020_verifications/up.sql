-- What the trail has been verified to, run after run (issue 18). Each run extends the last
-- sound one with only the events the Merkle log took since: their hashes and chains, the new
-- leaves pushed onto the stored frontier (the O(log n) peaks of the verified tree), the root
-- compared with the log's head and with every checkpoint signed since. Append-only: the
-- history of verifications is itself evidence.
CREATE TABLE audit_verifications (
    id                 bigint PRIMARY KEY,
    verified_at        timestamptz NOT NULL,
    -- The tree verified: its size and root, and the peaks of its frontier (32 bytes each, left
    -- to right), from which the next run goes on.
    tree_size          bigint NOT NULL CHECK (tree_size >= 0),
    root               bytea NOT NULL CHECK (octet_length(root) = 32),
    frontier           bytea NOT NULL CHECK (octet_length(frontier) % 32 = 0),
    -- The last signed checkpoint checked (0: none yet).
    last_checkpoint_id bigint NOT NULL CHECK (last_checkpoint_id >= 0),
    -- Events this run checked, and all runs together.
    run_events         bigint NOT NULL CHECK (run_events >= 0),
    checked            bigint NOT NULL CHECK (checked >= 0),
    ok                 boolean NOT NULL,
    first_broken_seq   bigint,
    reason             text CHECK (reason IN ('hash_mismatch', 'chain_broken', 'head_mismatch', 'log_mismatch')),
    CHECK (ok = (first_broken_seq IS NULL)),
    CHECK ((reason IS NULL) = (first_broken_seq IS NULL))
);

CREATE TRIGGER audit_verifications_append_only BEFORE UPDATE OR DELETE ON audit_verifications
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_verifications_no_truncate BEFORE TRUNCATE ON audit_verifications
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
