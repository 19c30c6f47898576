-- Hardship campaigns (winter warmth, summer cooling, school aid, epidemic care): a budget inside a
-- hardship fund, beneficiaries added by the thousand, approved together, paid as one bank batch
-- whose result file is recorded back row by row.

-- A payment the bank failed or sent back is a reversal: paid-out money back to committed.
ALTER TABLE item_movements DROP CONSTRAINT item_movements_kind_check;
ALTER TABLE item_movements ADD CONSTRAINT item_movements_kind_check
    CHECK (kind IN ('allocation', 'disbursement', 'reversal', 'use', 'return', 'release'));

CREATE TABLE hardship_campaigns (
    id          uuid PRIMARY KEY,
    fund_id     uuid NOT NULL REFERENCES funds (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL
                CHECK (kind IN ('winter_warmth', 'summer_cooling', 'school_aid', 'epidemic_care', 'other')),
    budget      numeric(18, 2) NOT NULL CHECK (budget > 0),
    status      text NOT NULL CHECK (status IN ('draft', 'approved', 'disbursed')),
    created_by  uuid NOT NULL,
    approved_by uuid,
    version     integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX hardship_campaigns_fund_idx ON hardship_campaigns (fund_id, id);
CREATE TRIGGER hardship_campaigns_no_delete BEFORE DELETE ON hardship_campaigns
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER hardship_campaigns_no_truncate BEFORE TRUNCATE ON hardship_campaigns
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- A beneficiary: personal data sealed like an application's; one per person per campaign.
CREATE TABLE campaign_beneficiaries (
    id                  uuid PRIMARY KEY,
    campaign_id         uuid NOT NULL REFERENCES hardship_campaigns (id),
    row_no              integer NOT NULL CHECK (row_no > 0),
    org_id              uuid NOT NULL REFERENCES orgs (id),
    worker_name         text NOT NULL CHECK (length(worker_name) BETWEEN 1 AND 100),
    id_number_sealed    text NOT NULL,
    id_number_hash      text NOT NULL CHECK (octet_length(id_number_hash) = 64),
    id_number_masked    text NOT NULL,
    bank_account_sealed text NOT NULL,
    bank_account_masked text NOT NULL,
    amount              numeric(18, 2) NOT NULL CHECK (amount > 0),
    item_id             uuid REFERENCES items (id),
    -- pending (in a bank batch), paid, failed (never reached the worker), returned (sent back later).
    payment_status      text CHECK (payment_status IN ('pending', 'paid', 'failed', 'returned')),
    bank_reference      text CHECK (length(bank_reference) <= 100),
    bank_message        text CHECK (length(bank_message) <= 500),
    version             integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT campaign_beneficiaries_one_per_person UNIQUE (campaign_id, id_number_hash),
    CONSTRAINT campaign_beneficiaries_row_no UNIQUE (campaign_id, row_no)
);
CREATE INDEX campaign_beneficiaries_org_idx ON campaign_beneficiaries (org_id, id);
CREATE TRIGGER campaign_beneficiaries_no_delete BEFORE DELETE ON campaign_beneficiaries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER campaign_beneficiaries_no_truncate BEFORE TRUNCATE ON campaign_beneficiaries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

ALTER TABLE hardship_applications ADD COLUMN campaign_id uuid REFERENCES hardship_campaigns (id);
