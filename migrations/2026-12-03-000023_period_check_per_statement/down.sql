DROP TRIGGER journal_entries_period_closed ON journal_entries;
DROP FUNCTION journal_entries_period_closed();
CREATE OR REPLACE FUNCTION journal_entries_period_open() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    y integer;
BEGIN
    SELECT year INTO y FROM funds WHERE id = NEW.fund_id;
    IF y IS NULL OR book_year_state(y) <> 'closed' THEN
        RETURN NEW;
    END IF;
    IF NEW.adjusting_reason IS NULL THEN
        NEW.adjusting_reason := nullif(current_setting('unionfund.adjusting_reason', true), '');
    END IF;
    IF NEW.adjusting_reason IS NULL THEN
        RAISE EXCEPTION 'the books of % are closed: only an adjusting entry may be posted in it', y
            USING ERRCODE = 'check_violation', CONSTRAINT = 'period_closed';
    END IF;
    RETURN NEW;
END $$;
