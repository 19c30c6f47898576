-- A balance beyond NUMERIC(18,2) (three sources of 9999999999999999.99 on one fund) made the
-- posting trigger fail with `numeric field overflow`, a 500. The trigger now refuses such a
-- posting itself, as a check violation naming the constraint `amount_in_range`, which the service
-- answers as 409 `amount_out_of_range` (whatever language the server's messages are in).
CREATE OR REPLACE FUNCTION apply_postings() RETURNS trigger LANGUAGE plpgsql AS $$
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
