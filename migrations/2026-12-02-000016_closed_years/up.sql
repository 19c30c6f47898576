-- Closed years (issue 16). A finance officer asks to close a year's books, a leader (never the
-- one who asked) closes them; from then on nothing dated in that year moves money, except an
-- adjusting entry that a finance officer posts with a reason. The service refuses first
-- (service::books::ensure_open); the trigger on journal_entries below refuses again, whatever
-- writes the row.

-- A year that was never asked to close has no row: it is open.
CREATE TABLE book_years (
    -- The case id under which the close's duties are kept in case_actors.
    id               uuid PRIMARY KEY,
    year             integer NOT NULL UNIQUE CHECK (year BETWEEN 2000 AND 2100),
    state            text NOT NULL CHECK (state IN ('open', 'closing', 'closed')),
    -- The close request's reason, who asked and when (the last request, after a rejection).
    reason           text CHECK (length(reason) BETWEEN 1 AND 2000),
    requested_by     uuid,
    requested_at     timestamptz,
    closed_by        uuid,
    closed_at        timestamptz,
    -- The last rejection of a request.
    rejected_by      uuid,
    rejected_at      timestamptz,
    rejection_reason text CHECK (length(rejection_reason) BETWEEN 1 AND 2000),
    version          integer NOT NULL CHECK (version > 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (state = 'open' OR (reason IS NOT NULL AND requested_by IS NOT NULL AND requested_at IS NOT NULL)),
    CHECK ((state = 'closed') = (closed_by IS NOT NULL AND closed_at IS NOT NULL))
);

-- A closed year stays closed: corrections to it are adjusting entries, never a reopening.
CREATE FUNCTION book_years_stay_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state = 'closed' THEN
        RAISE EXCEPTION 'the books of % are closed for good', OLD.year
            USING ERRCODE = 'check_violation', CONSTRAINT = 'book_years_stay_closed';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER book_years_stay_closed BEFORE UPDATE OR DELETE ON book_years
    FOR EACH ROW EXECUTE FUNCTION book_years_stay_closed();

-- A write dated in a year and the year's close serialise on one advisory lock per year: every
-- write holds it shared until it commits, the close takes it exclusive. An advisory lock rather
-- than `FOR SHARE` on the year's row: an open year has no row to lock (and creating one on
-- every write's path would be a write of its own), and a row lock is written into the row —
-- a WAL record and a dirtied page per write, on the one row every write of the year shares.
CREATE FUNCTION book_year_lock_key(y integer) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended('books:' || y, 0)
$$;

-- The year's state, read after the shared lock is granted: PL/pgSQL takes a fresh snapshot for
-- each statement at READ COMMITTED, so a write that waited for a close sees it closed.
CREATE FUNCTION book_year_state(y integer) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(book_year_lock_key(y));
    RETURN coalesce((SELECT state FROM book_years WHERE year = y), 'open');
END $$;

-- The mark of an adjusting entry: the finance officer's reason. NULL on every ordinary entry.
ALTER TABLE journal_entries ADD COLUMN adjusting_reason text
    CHECK (length(adjusting_reason) BETWEEN 1 AND 2000);
CREATE INDEX journal_entries_adjusting_idx ON journal_entries (fund_id) WHERE adjusting_reason IS NOT NULL;

-- The guard sits on journal_entries, the one table every money movement writes (db::write::Tx::post
-- is its only writer, and every service names the entry's fund): a fund is of one year, so the
-- entry's year is its fund's. Declarations, payments, remittances, item stages, expenditures,
-- appropriations and sources all cite their entry, and a 10,000-row batch posts one entry per
-- fund, so the check costs one trigger call per entry, not per row.
-- An entry of a closed year passes only marked adjusting: explicitly, or by the transaction's
-- `unionfund.adjusting_reason` (set, transaction-local, by service::books::ensure_open once it
-- has admitted a finance officer's adjusting entry), which the trigger writes into the row.
CREATE FUNCTION journal_entries_period_open() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER journal_entries_period_open BEFORE INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_entries_period_open();

-- The close is a case with two duties (issue 15's separation of duties): whoever asked to close a
-- year never closes it. The duties are kept with the others in case_actors.
ALTER TABLE case_actors DROP CONSTRAINT case_actors_case_type_check;
ALTER TABLE case_actors ADD CONSTRAINT case_actors_case_type_check
    CHECK (case_type IN ('hardship_application', 'township_grant', 'book_year'));

CREATE OR REPLACE FUNCTION case_actors_one_duty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.case_type = 'hardship_application' THEN
        PERFORM 1 FROM hardship_applications WHERE id = NEW.case_id FOR UPDATE;
    ELSIF NEW.case_type = 'township_grant' THEN
        PERFORM 1 FROM township_grants WHERE id = NEW.case_id FOR UPDATE;
    ELSE
        PERFORM 1 FROM book_years WHERE id = NEW.case_id FOR UPDATE;
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
