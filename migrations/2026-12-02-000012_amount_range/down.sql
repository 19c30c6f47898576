CREATE OR REPLACE FUNCTION apply_postings() RETURNS trigger LANGUAGE plpgsql AS $$
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
