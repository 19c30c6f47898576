-- The money spine: funds, a double-entry ledger, the hash-chained audit trail, idempotency keys.
-- Lock order for every write (also at the top of src/db/write.rs): idempotency key → business rows
-- (orgs, funds by id, then items) → ledger accounts (touched by the posting trigger, always after
-- the fund row they belong to is locked) → audit stream heads, last, in stream-name order.

-- Shared guard: rows of the ledger and of the trail are facts; they are never changed or removed.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

---------------------------------------------------------------------------------------------------
-- Funds: an earmarked fund for a year. Its budget and its balances live in the ledger.
CREATE TABLE funds (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('hardship', 'township_grant', 'union_fee')),
    year        integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    org_id      uuid NOT NULL REFERENCES orgs (id),
    version     integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX funds_year_kind_idx ON funds (year, kind);

-- Where a fund's money comes from. An upper-level allocation may require local matching
-- (地方财政配套): local_matching sources must reach matching_ratio × the upper allocation.
CREATE TABLE fund_sources (
    id             uuid PRIMARY KEY,
    fund_id        uuid NOT NULL REFERENCES funds (id),
    kind           text NOT NULL CHECK (kind IN ('upper_allocation', 'local_matching',
                                                 'finance_appropriation', 'other')),
    amount         numeric(18, 2) NOT NULL CHECK (amount > 0),
    matching_ratio numeric(12, 6) CHECK (matching_ratio >= 0),
    description    text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    entry_id       uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT matching_only_on_upper_allocations
        CHECK (matching_ratio IS NULL OR kind = 'upper_allocation')
);
CREATE INDEX fund_sources_fund_idx ON fund_sources (fund_id, id);

---------------------------------------------------------------------------------------------------
-- The ledger. Amounts are signed: a debit is positive, a credit negative, so that an entry
-- balances exactly when its postings sum to zero.
CREATE TABLE accounts (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fund_id  uuid REFERENCES funds (id),
    code     text NOT NULL CHECK (code ~ '^[a-z_:]{1,64}$'),
    -- Maintained by the posting trigger in the transaction that posts; recomputed by the
    -- reconciliation check (sum of postings), so it cannot drift unnoticed.
    balance  numeric(18, 2) NOT NULL DEFAULT 0
);
-- One account per (fund, code); accounts outside any fund count as fund "nil". An expression
-- index rather than NULLS NOT DISTINCT, so that the posting statement's join can use it.
CREATE UNIQUE INDEX accounts_fund_code_key
    ON accounts ((coalesce(fund_id, '00000000-0000-0000-0000-000000000000'::uuid)), code);

CREATE TABLE journal_entries (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    fund_id     uuid REFERENCES funds (id),
    entity_type text NOT NULL,
    entity_id   uuid NOT NULL,
    memo        text NOT NULL DEFAULT '',
    request_id  text NOT NULL,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX journal_entries_fund_idx ON journal_entries (fund_id, kind);
CREATE INDEX journal_entries_entity_idx ON journal_entries (entity_type, entity_id);

CREATE TABLE postings (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id   uuid NOT NULL REFERENCES journal_entries (id),
    account_id bigint NOT NULL REFERENCES accounts (id),
    amount     numeric(18, 2) NOT NULL CHECK (amount <> 0)
);
CREATE INDEX postings_entry_idx ON postings (entry_id);
CREATE INDEX postings_account_idx ON postings (account_id);

-- An entry must balance and have at least two postings. Two guards: every INSERT into postings
-- refuses, at the end of the statement, legs that do not sum to zero per entry (the write path
-- inserts all legs of an entry in one statement; legs added later to an old, balanced entry must
-- balance among themselves, so the entry stays balanced); and a deferred constraint trigger
-- checks each new entry at commit — its sum and its count — which also catches an entry with no
-- postings at all.
-- PL/pgSQL rather than a SQL-language function: its query plan is cached per session, where a
-- SQL function's body would be parsed and planned again on every call.
CREATE FUNCTION check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
    n bigint;
BEGIN
    SELECT coalesce(sum(amount), 0), count(*) INTO total, n FROM postings WHERE entry_id = NEW.id;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'journal entry % does not balance (% postings, sum %)', NEW.id, n, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_entry_balanced();

-- Balances move with postings, in the same statement, so no code path can post without them.
CREATE FUNCTION apply_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    problem text;
BEGIN
    SELECT format('journal entry %s does not balance (legs sum to %s)', entry_id, sum(amount)) INTO problem
    FROM new_postings GROUP BY entry_id HAVING sum(amount) <> 0 LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = 'check_violation';
    END IF;
    UPDATE accounts a SET balance = a.balance + s.total
    FROM (SELECT account_id, sum(amount) AS total FROM new_postings GROUP BY account_id) s
    WHERE a.id = s.account_id;
    RETURN NULL;
END $$;
CREATE TRIGGER postings_apply AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT EXECUTE FUNCTION apply_postings();

CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

---------------------------------------------------------------------------------------------------
-- The audit trail: one hash chain per stream (a fund, an organisation, …), so that writes to
-- unrelated streams never wait on one head row. `seq` orders the whole trail for queries.
CREATE SEQUENCE audit_seq AS bigint;

-- Hashes are checked for length only: a regular expression per row cost a third of a batch's
-- insert time, and verification recomputes every hash anyway.
CREATE TABLE audit_events (
    seq          bigint PRIMARY KEY,
    stream       text NOT NULL CHECK (length(stream) BETWEEN 1 AND 100),
    stream_seq   bigint NOT NULL CHECK (stream_seq > 0),
    occurred_at  timestamptz NOT NULL,
    actor        text NOT NULL,
    actor_role   text NOT NULL,
    org_id       uuid,
    request_id   text NOT NULL,
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    uuid NOT NULL,
    fund_id      uuid,
    stage        text,
    amount       numeric(18, 2),
    entry_id     uuid REFERENCES journal_entries (id),
    -- Kept as the exact JSON text that was hashed (jsonb would reorder and re-space it).
    before_json  text,
    after_json   text,
    prev_hash    text NOT NULL CHECK (octet_length(prev_hash) = 64),
    hash         text NOT NULL CHECK (octet_length(hash) = 64),
    CONSTRAINT audit_events_stream_seq_key UNIQUE (stream, stream_seq)
);
CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id, seq);
CREATE INDEX audit_events_fund_idx ON audit_events (fund_id, seq) WHERE fund_id IS NOT NULL;
CREATE INDEX audit_events_org_idx ON audit_events (org_id, seq) WHERE org_id IS NOT NULL;
CREATE INDEX audit_events_actor_idx ON audit_events (actor, seq);
-- The head of each stream: its last stream_seq and hash. Locked last in every write.
CREATE TABLE audit_heads (
    stream     text PRIMARY KEY,
    stream_seq bigint NOT NULL,
    hash       text NOT NULL CHECK (octet_length(hash) = 64)
);

CREATE INDEX audit_events_time_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_entry_idx ON audit_events (entry_id) WHERE entry_id IS NOT NULL;

-- Each stream's head follows its newest event, moved by the same statement that appends it.
CREATE FUNCTION advance_audit_heads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_heads h SET stream_seq = n.stream_seq, hash = n.hash
    FROM (SELECT DISTINCT ON (stream) stream, stream_seq, hash FROM new_events ORDER BY stream, stream_seq DESC) n
    WHERE h.stream = n.stream;
    RETURN NULL;
END $$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_events_advance_heads AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION advance_audit_heads();


-- Checkpoints commit to every stream's head at one moment, and chain to each other. An auditor
-- who keeps a checkpoint's hash can later prove the trail was not cut back before it.
CREATE TABLE audit_checkpoints (
    id          bigint PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    -- canonical text: one line per stream "stream stream_seq hash\n", sorted by stream
    heads       text NOT NULL,
    streams     bigint NOT NULL,
    events      bigint NOT NULL,
    prev_hash   text NOT NULL CHECK (octet_length(prev_hash) = 64),
    hash        text NOT NULL CHECK (octet_length(hash) = 64)
);
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

---------------------------------------------------------------------------------------------------
-- Idempotency keys (Stripe's semantics). The row is claimed inside the transaction that does the
-- work, so a concurrent request with the same key waits on it and then replays the stored answer.
CREATE TABLE idempotency_keys (
    caller          text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    text NOT NULL,
    response_status smallint,
    response_etag   text,
    response_body   bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
