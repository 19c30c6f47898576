-- Requests run as a role that owns nothing (src/db/pool.rs, RUNTIME_ROLE) and may not UPDATE
-- `accounts`: balances move only through the posting trigger, which therefore runs with its
-- owner's rights. A fixed search_path, so that no object of the caller's can stand in for
-- `accounts` while the function runs with those rights.
ALTER FUNCTION apply_postings() SECURITY DEFINER SET search_path = public, pg_temp;
