-- What was asked is what is reviewed and approved (issue 20): once an application leaves `draft`
-- (submitted, reviewed, approved, rejected, withdrawn), what its filer wrote does not change —
-- the worker, the household, the category and level, the amount asked and why — and once it is
-- approved, neither does the amount approved nor its fund, organisation and year. The service
-- refuses it first (PATCH of anything but a draft is 409 `not_a_draft`); this refuses it whatever
-- writes the row. The sealed values and the ID number's keyed hash stay free: `pii reseal` and a
-- hash-key rotation re-write them in place without changing what they say.
CREATE FUNCTION hardship_applications_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'draft' AND (
        NEW.worker_name, NEW.id_number_masked, NEW.phone_masked, NEW.bank_account_masked, NEW.category,
        NEW.level, NEW.household_members, NEW.household_monthly_income, NEW.household_notes,
        NEW.requested_amount, NEW.reason, NEW.fund_id, NEW.org_id, NEW.year, NEW.campaign_id
    ) IS DISTINCT FROM (
        OLD.worker_name, OLD.id_number_masked, OLD.phone_masked, OLD.bank_account_masked, OLD.category,
        OLD.level, OLD.household_members, OLD.household_monthly_income, OLD.household_notes,
        OLD.requested_amount, OLD.reason, OLD.fund_id, OLD.org_id, OLD.year, OLD.campaign_id
    ) THEN
        RAISE EXCEPTION 'hardship application % is %: what was filed no longer changes', OLD.id, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'application_frozen';
    END IF;
    IF OLD.status = 'approved' AND NEW.approved_amount IS DISTINCT FROM OLD.approved_amount THEN
        RAISE EXCEPTION 'hardship application % is approved: its approved amount no longer changes', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'application_frozen';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER hardship_applications_frozen BEFORE UPDATE ON hardship_applications
    FOR EACH ROW EXECUTE FUNCTION hardship_applications_frozen();
