-- Separation of duties across a case's whole history (issue 15). Submitting, reviewing and
-- approving are three duties; whoever took one in a case — at any point, before a return
-- included — takes no other in it. The case rows keep only the last submitter and reviewer, which
-- a return and a second round overwrite, so every (case, person, duty) is kept here, append-only.
-- The service refuses a second duty first (domain::approval::authorize, 403
-- separation_of_duties); the trigger below refuses it again, whatever writes the row.
CREATE TABLE case_actors (
    case_id   uuid NOT NULL,
    case_type text NOT NULL CHECK (case_type IN ('hardship_application', 'township_grant')),
    actor_id  uuid NOT NULL,
    duty      text NOT NULL CHECK (duty IN ('submit', 'review', 'approve')),
    -- When the person first took this duty in the case.
    first_at  timestamptz NOT NULL,
    PRIMARY KEY (case_id, actor_id, duty)
);

-- The history before this migration, from the audit trail: every transition wrote its event
-- with its actor (`user:<id>`), while the case rows only kept the last ones. Loaded before the
-- trigger exists, so that a case that already broke the rule does not stop the migration; the
-- service refuses that person's next duty all the same.
INSERT INTO case_actors (case_id, case_type, actor_id, duty, first_at)
SELECT entity_id, entity_type, substr(actor, 6)::uuid, duty, min(occurred_at)
FROM (
    SELECT entity_id, entity_type, actor, occurred_at,
           CASE substr(action, length(entity_type) + 2)
               WHEN 'submitted' THEN 'submit'
               WHEN 'reviewed' THEN 'review'
               WHEN 'approved' THEN 'approve'
           END AS duty
    FROM audit_events
    WHERE entity_type IN ('hardship_application', 'township_grant') AND actor LIKE 'user:%'
) e
WHERE duty IS NOT NULL
GROUP BY entity_id, entity_type, actor, duty;

-- One person, one duty per case. The case's row is locked first (the lock the service already
-- holds, in the documented order: business rows before anything else), so that two transactions
-- cannot each miss the other's new row.
CREATE FUNCTION case_actors_one_duty() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER case_actors_one_duty BEFORE INSERT ON case_actors
    FOR EACH ROW EXECUTE FUNCTION case_actors_one_duty();
CREATE TRIGGER case_actors_append_only BEFORE UPDATE OR DELETE ON case_actors
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER case_actors_no_truncate BEFORE TRUNCATE ON case_actors
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
