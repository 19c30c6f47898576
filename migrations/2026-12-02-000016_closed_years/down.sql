CREATE OR REPLACE FUNCTION case_actors_one_duty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.case_type = 'hardship_application' THEN
        PERFORM 1 FROM hardship_applications WHERE id = NEW.case_id FOR UPDATE;
    ELSE
        PERFORM 1 FROM township_grants WHERE id = NEW.case_id FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'case % (%) does not exist', NEW.case_id, NEW.case_type
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM case_actors
               WHERE case_id = NEW.case_id AND actor_id = NEW.actor_id AND duty <> NEW.duty) THEN
        RAISE EXCEPTION 'separation of duties: % already took another duty in case %', NEW.actor_id, NEW.case_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'case_actors_one_duty';
    END IF;
    RETURN NEW;
END $$;
ALTER TABLE case_actors DROP CONSTRAINT case_actors_case_type_check;
ALTER TABLE case_actors ADD CONSTRAINT case_actors_case_type_check
    CHECK (case_type IN ('hardship_application', 'township_grant'));
DROP TRIGGER journal_entries_period_open ON journal_entries;
DROP FUNCTION journal_entries_period_open();
DROP INDEX journal_entries_adjusting_idx;
ALTER TABLE journal_entries DROP COLUMN adjusting_reason;
DROP FUNCTION book_year_state(integer);
DROP FUNCTION book_year_lock_key(integer);
DROP TABLE book_years;
DROP FUNCTION book_years_stay_closed();
