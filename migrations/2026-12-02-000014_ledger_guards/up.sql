-- The database as the last line: what the Rust checks refuse, the triggers and CHECKs refuse too,
-- so that a race the service missed, or a write by hand, cannot put the books out of their rules.

---------------------------------------------------------------------------------------------------
-- Postings. Balances are moved first and judged after, on the row versions the UPDATE wrote: a
-- concurrent writer holding an account row makes this UPDATE wait and then re-read it, so the
-- figure judged is the one committed, not the one the service read before it posted.
--
-- Refused, each as a check violation naming a constraint that src/error.rs answers as the 409
-- the Rust check gives (only a posting that lowers a figure is judged: money coming back into an
-- overspent figure is never refused):
--   available_not_negative     a fund's `available` below zero (allocation, budget reduction;
--                              409 over_allocation) — not for `basic` funds, whose spending is
--                              bounded by money received, not by budget (the demo's 年中追加支出
--                              line is legitimately −1,091,830.00);
--   committed_not_negative     a fund's or an item's `committed` (allocated, not paid out) below
--                              zero (409 over_disbursement);
--   paid_out_not_negative      a fund's or an item's `paid_out` (paid, not reported as used: the
--                              item's `unused`) below zero by a use (409 over_use), or
--   reversal_within_paid_out   … by a reversal (409 over_reversal).
-- An item's figures are its movements' sums plus what this statement posts for it: the posting
-- comes before its movement rows (they cite the entry), so movements of the entries being posted
-- are not counted twice. Entries of a batch (a campaign, a formula) are judged at the fund level.
--
-- SECURITY DEFINER: the runtime role has no UPDATE on `accounts`; only this trigger moves balances.
CREATE OR REPLACE FUNCTION apply_postings() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    problem text;
    short text;
    by_item boolean;
    guard text;
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
    WITH moved AS (
        UPDATE accounts a SET balance = a.balance + s.total
        FROM (SELECT account_id, sum(amount) AS total FROM new_postings GROUP BY account_id) s
        WHERE a.id = s.account_id
        RETURNING a.fund_id, a.code, a.balance, s.total
    ), lowered AS (
        SELECT fund_id, code, balance FROM moved WHERE total < 0 AND code IN ('available', 'committed', 'paid_out')
    )
    SELECT (SELECT l.code FROM lowered l
            WHERE l.balance < 0
              AND (l.code <> 'available'
                   OR EXISTS (SELECT 1 FROM funds f WHERE f.id = l.fund_id AND f.kind <> 'basic'))
            LIMIT 1),
           EXISTS (SELECT 1 FROM lowered WHERE code <> 'available')
    INTO short, by_item;
    IF short IS NULL AND by_item THEN
        SELECT d.code INTO short
        FROM (SELECT j.entity_id AS item_id, a.code, sum(p.amount) AS delta
              FROM new_postings p
              JOIN journal_entries j ON j.id = p.entry_id AND j.entity_type = 'item'
              JOIN accounts a ON a.id = p.account_id AND a.code IN ('committed', 'paid_out')
              JOIN items i ON i.id = j.entity_id AND i.fund_id = a.fund_id
              GROUP BY 1, 2 HAVING sum(p.amount) < 0) d
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(CASE m.kind WHEN 'allocation' THEN m.amount WHEN 'reversal' THEN m.amount
                                            WHEN 'disbursement' THEN -m.amount WHEN 'release' THEN -m.amount
                                            ELSE 0 END), 0) AS committed,
                   coalesce(sum(CASE m.kind WHEN 'disbursement' THEN m.amount
                                            WHEN 'reversal' THEN -m.amount WHEN 'use' THEN -m.amount
                                            WHEN 'return' THEN -m.amount WHEN 'carry_over' THEN -m.amount
                                            ELSE 0 END), 0) AS paid_out
            FROM item_movements m
            WHERE m.item_id = d.item_id AND m.entry_id NOT IN (SELECT entry_id FROM new_postings)) f
        WHERE CASE d.code WHEN 'committed' THEN f.committed ELSE f.paid_out END + d.delta < 0
        LIMIT 1;
    END IF;
    IF short IS NOT NULL THEN
        guard := CASE short
            WHEN 'available' THEN 'available_not_negative'
            WHEN 'committed' THEN 'committed_not_negative'
            ELSE CASE WHEN EXISTS (SELECT 1 FROM journal_entries j
                                   WHERE j.id IN (SELECT entry_id FROM new_postings) AND j.kind = 'reversal')
                      THEN 'reversal_within_paid_out' ELSE 'paid_out_not_negative' END
        END;
        RAISE EXCEPTION 'a posting would take % money below zero', short
            USING ERRCODE = 'check_violation', CONSTRAINT = guard;
    END IF;
    RETURN NULL;
END $$;

---------------------------------------------------------------------------------------------------
-- Fee rows: the amounts are the half-up roundings of their rates (src/domain/fees.rs `split`:
-- the fee on the payroll, the remittance on the fee). PostgreSQL's round(numeric, 2) rounds half
-- away from zero, as Money::times does; the products are exact in numeric.
ALTER TABLE fee_declarations
    ADD CONSTRAINT fee_declarations_fee_due_rounded CHECK (fee_due = round(payroll_total * fee_rate, 2)),
    ADD CONSTRAINT fee_declarations_remit_due_rounded CHECK (remit_due = round(fee_due * remit_rate, 2));

---------------------------------------------------------------------------------------------------
-- Stream heads. A statement's events must continue each stream's chain: the first one of a
-- stream the head's next position with the head's hash as its prev_hash, each further one the
-- position after the previous event of the statement with that event's hash (a multi-row INSERT
-- or a COPY of a batch is checked link by link). A stream without a head is refused: the write
-- path creates and locks the head (at 0 and the genesis hash) before it appends. The head is
-- matched in the UPDATE's own WHERE, so a concurrent move of it is seen, not overwritten.
--
-- SECURITY DEFINER: the runtime role needs to lock heads (UPDATE of `stream` only, for the write
-- path's upsert), never to set a head's position or hash; only this trigger moves them.
CREATE OR REPLACE FUNCTION advance_audit_heads() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    broken text;
BEGIN
    WITH linked AS (
        SELECT stream, stream_seq, prev_hash, hash,
               lag(stream_seq) OVER w AS before_seq, lag(hash) OVER w AS before_hash,
               lead(stream_seq) OVER w AS after_seq
        FROM new_events WINDOW w AS (PARTITION BY stream ORDER BY stream_seq)
    ), runs AS (
        SELECT stream,
               min(stream_seq) FILTER (WHERE before_seq IS NULL) AS first_seq,
               min(prev_hash) FILTER (WHERE before_seq IS NULL) AS first_prev,
               max(stream_seq) FILTER (WHERE after_seq IS NULL) AS last_seq,
               max(hash) FILTER (WHERE after_seq IS NULL) AS last_hash,
               bool_and(before_seq IS NULL OR (stream_seq = before_seq + 1 AND prev_hash = before_hash)) AS whole
        FROM linked GROUP BY stream
    ), moved AS (
        UPDATE audit_heads h SET stream_seq = r.last_seq, hash = r.last_hash
        FROM runs r
        WHERE h.stream = r.stream AND r.whole AND h.stream_seq = r.first_seq - 1 AND h.hash = r.first_prev
        RETURNING h.stream
    )
    SELECT r.stream INTO broken FROM runs r WHERE NOT EXISTS (SELECT 1 FROM moved m WHERE m.stream = r.stream)
    LIMIT 1;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION 'an audit event does not continue its stream''s chain (position or prev_hash)'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'audit_events_continue_chain';
    END IF;
    RETURN NULL;
END $$;
