-- Earmarked items and their four stages (generic: hardship applications now, township grants and
-- campaign beneficiaries later), and hardship applications with their personal data sealed.

---------------------------------------------------------------------------------------------------
-- An item: the money one approved case may receive. Its figures are never stored: they are the
-- sums of its movements, each of which is a journal entry of the fund.
CREATE TABLE items (
    id              uuid PRIMARY KEY,
    fund_id         uuid NOT NULL REFERENCES funds (id),
    org_id          uuid NOT NULL REFERENCES orgs (id),
    origin_type     text NOT NULL
                    CHECK (origin_type IN ('hardship_application', 'township_grant', 'campaign_beneficiary')),
    origin_id       uuid NOT NULL,
    approved_amount numeric(18, 2) NOT NULL CHECK (approved_amount > 0),
    settled_at      timestamptz,
    version         integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT items_one_per_origin UNIQUE (origin_type, origin_id)
);
CREATE INDEX items_fund_idx ON items (fund_id, id);
CREATE INDEX items_org_idx ON items (org_id, id);

-- A settled item is immutable, and no item is ever deleted.
CREATE FUNCTION refuse_settled_item_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.settled_at IS NOT NULL THEN
        RAISE EXCEPTION 'item % is settled or being deleted: refused', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER items_settled_immutable BEFORE UPDATE OR DELETE ON items
    FOR EACH ROW EXECUTE FUNCTION refuse_settled_item_change();
CREATE TRIGGER items_no_truncate BEFORE TRUNCATE ON items
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE TABLE item_movements (
    id          uuid PRIMARY KEY,
    item_id     uuid NOT NULL REFERENCES items (id),
    kind        text NOT NULL CHECK (kind IN ('allocation', 'disbursement', 'use', 'return', 'release')),
    amount      numeric(18, 2) NOT NULL CHECK (amount > 0),
    payee       text CHECK (length(payee) <= 200),
    method      text CHECK (method IN ('bank_transfer', 'cash', 'goods')),
    description text CHECK (length(description) <= 1000),
    voucher_no  text CHECK (length(voucher_no) <= 100),
    -- A use's lines as the JSON text that was answered: [{description, amount, voucher_no}].
    lines_json  text,
    entry_id    uuid NOT NULL REFERENCES journal_entries (id),
    actor       text NOT NULL,
    request_id  text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX item_movements_item_idx ON item_movements (item_id, id);
CREATE TRIGGER item_movements_append_only BEFORE UPDATE OR DELETE ON item_movements
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER item_movements_no_truncate BEFORE TRUNCATE ON item_movements
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

---------------------------------------------------------------------------------------------------
-- Hardship applications. Personal data is stored sealed (AES-256-GCM, `<kid>:<base64>`), with a
-- keyed hash of the ID number for duplicate look-ups and the masked forms for answers: no column
-- holds an ID number, a phone number or a bank account in the clear.
CREATE TABLE hardship_applications (
    id                       uuid PRIMARY KEY,
    fund_id                  uuid NOT NULL REFERENCES funds (id),
    org_id                   uuid NOT NULL REFERENCES orgs (id),
    year                     integer NOT NULL,
    worker_name              text NOT NULL CHECK (length(worker_name) BETWEEN 1 AND 100),
    id_number_sealed         text NOT NULL,
    id_number_hash           text NOT NULL CHECK (octet_length(id_number_hash) = 64),
    id_number_masked         text NOT NULL,
    phone_sealed             text,
    phone_masked             text,
    bank_account_sealed      text,
    bank_account_masked      text,
    category                 text NOT NULL
                             CHECK (category IN ('illness', 'disability', 'disaster', 'education', 'unemployment', 'other')),
    level                    text NOT NULL CHECK (level IN ('deep', 'relative', 'accidental')),
    household_members        integer CHECK (household_members BETWEEN 1 AND 50),
    household_monthly_income numeric(18, 2) CHECK (household_monthly_income >= 0),
    household_notes          text CHECK (length(household_notes) <= 2000),
    requested_amount         numeric(18, 2) NOT NULL CHECK (requested_amount > 0),
    approved_amount          numeric(18, 2) CHECK (approved_amount > 0),
    reason                   text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    status                   text NOT NULL
                             CHECK (status IN ('draft', 'submitted', 'reviewed', 'approved', 'rejected', 'withdrawn')),
    created_by               uuid NOT NULL,
    submitted_by             uuid,
    reviewed_by              uuid,
    approved_by              uuid,
    duplicate_override_by    uuid,
    duplicate_override_reason text CHECK (length(duplicate_override_reason) <= 1000),
    item_id                  uuid REFERENCES items (id),
    version                  integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    CONSTRAINT approved_has_item CHECK ((status = 'approved') = (item_id IS NOT NULL))
);
CREATE INDEX hardship_applications_org_idx ON hardship_applications (org_id, id);
CREATE INDEX hardship_applications_person_idx ON hardship_applications (id_number_hash, year);
CREATE TRIGGER hardship_applications_no_delete BEFORE DELETE ON hardship_applications
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER hardship_applications_no_truncate BEFORE TRUNCATE ON hardship_applications
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
