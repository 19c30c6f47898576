-- Witnesses' cosignatures of the signed checkpoints (issue 18; C2SP tlog-witness and
-- tlog-cosignature v1). A checkpoint signed by the service alone proves nothing to someone who
-- does not trust the service: it could show different trees to different auditors. Each witness
-- (the finance bureau, the funds-review committee) checks a new checkpoint against the last one
-- it cosigned and cosigns it only if it extends it; the note the service serves carries these
-- lines. Append-only: a cosignature, once received and verified, is evidence.
CREATE TABLE checkpoint_cosignatures (
    checkpoint_id bigint NOT NULL REFERENCES audit_checkpoints (id),
    -- The witness's key name, as in its verifier key and its signature line.
    witness       text NOT NULL CHECK (length(witness) BETWEEN 1 AND 200 AND witness !~ '[[:space:]+]'),
    -- The checkpoint's tree size (the next request to this witness proves consistency from it).
    tree_size     bigint NOT NULL CHECK (tree_size >= 0),
    -- The witness's timestamp (POSIX seconds, inside the signature).
    cosigned_at   timestamptz NOT NULL,
    -- The signature line, verified against the witness's key before it was stored.
    line          text NOT NULL CHECK (line LIKE '— % %' AND line NOT LIKE '%' || chr(10) || '%'),
    received_at   timestamptz NOT NULL,
    PRIMARY KEY (checkpoint_id, witness)
);
CREATE INDEX checkpoint_cosignatures_by_witness ON checkpoint_cosignatures (witness, tree_size DESC);

CREATE TRIGGER checkpoint_cosignatures_append_only BEFORE UPDATE OR DELETE ON checkpoint_cosignatures
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER checkpoint_cosignatures_no_truncate BEFORE TRUNCATE ON checkpoint_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
