-- The closed-year guard once per statement, not once per entry (issue 19). A payments batch posts
-- an entry per payment and per credit applied — 9,000 entries for 6,000 rows — and the row-level
-- guard of migration 000016 looked up each entry's fund and took its year's shared lock each time:
-- a fifth of the batch's time. The same rule, in two parts:
--
-- * BEFORE each row, only when the transaction carries `unionfund.adjusting_reason` (an adjusting
--   write admitted by service::books::ensure_open, rare): an entry of a closed year is marked with
--   it, as before. Every other entry pays one setting read.
-- * AFTER the statement, over its new entries: each year among them that has an entry not marked
--   adjusting takes its shared lock (held until commit, as before: a close, which takes it
--   exclusively, waits for this write) and is refused if closed, with the same `period_closed`.
CREATE OR REPLACE FUNCTION journal_entries_period_open() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    y integer;
    reason text := nullif(current_setting('unionfund.adjusting_reason', true), '');
BEGIN
    IF NEW.adjusting_reason IS NULL AND reason IS NOT NULL THEN
        SELECT year INTO y FROM funds WHERE id = NEW.fund_id;
        IF y IS NOT NULL AND book_year_state(y) = 'closed' THEN
            NEW.adjusting_reason := reason;
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION journal_entries_period_closed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    y integer;
BEGIN
    FOR y IN
        SELECT DISTINCT f.year FROM new_entries e JOIN funds f ON f.id = e.fund_id
        WHERE e.adjusting_reason IS NULL ORDER BY 1
    LOOP
        IF book_year_state(y) = 'closed' THEN
            RAISE EXCEPTION 'the books of % are closed: only an adjusting entry may be posted in it', y
                USING ERRCODE = 'check_violation', CONSTRAINT = 'period_closed';
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER journal_entries_period_closed AFTER INSERT ON journal_entries
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION journal_entries_period_closed();
