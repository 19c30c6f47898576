-- Back to the posting trigger of 000012 — with the owner's rights and the fixed search_path that
-- 000013 (the runtime role) gives it, which this migration kept — and to 000002's head trigger,
-- without the fee CHECKs.
ALTER TABLE fee_declarations
    DROP CONSTRAINT fee_declarations_fee_due_rounded,
    DROP CONSTRAINT fee_declarations_remit_due_rounded;

CREATE OR REPLACE FUNCTION apply_postings() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    problem text;
BEGIN
    SELECT format('journal entry %s does not balance (legs sum to %s)', entry_id, sum(amount)) INTO problem
    FROM new_postings GROUP BY entry_id HAVING sum(amount) <> 0 LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM accounts a
        JOIN (SELECT account_id, sum(amount) AS total FROM new_postings GROUP BY account_id) s
          ON a.id = s.account_id
        WHERE abs(a.balance + s.total) > 9999999999999999.99
    ) THEN
        RAISE EXCEPTION 'an account balance would exceed 9999999999999999.99'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'amount_in_range';
    END IF;
    UPDATE accounts a SET balance = a.balance + s.total
    FROM (SELECT account_id, sum(amount) AS total FROM new_postings GROUP BY account_id) s
    WHERE a.id = s.account_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION advance_audit_heads() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
    UPDATE audit_heads h SET stream_seq = n.stream_seq, hash = n.hash
    FROM (SELECT DISTINCT ON (stream) stream, stream_seq, hash FROM new_events ORDER BY stream, stream_seq DESC) n
    WHERE h.stream = n.stream;
    RETURN NULL;
END $$;
ALTER FUNCTION advance_audit_heads() RESET search_path;
