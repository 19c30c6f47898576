-- Township union work grants (DOMAIN.md, fund 3): applications through the approval machine or a
-- year's formula allocation; their items; voucher numbers unique within a fund; carry-over of the
-- unused part to next year's fund at settlement.

CREATE TABLE township_grants (
    id               uuid PRIMARY KEY,
    fund_id          uuid NOT NULL REFERENCES funds (id),
    org_id           uuid NOT NULL REFERENCES orgs (id),
    year             integer NOT NULL,
    -- 'application': filed by the township's clerk; 'formula': the year's allocation by formula.
    basis            text NOT NULL CHECK (basis IN ('application', 'formula')),
    purpose          text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 500),
    work_plan        text CHECK (length(work_plan) <= 5000),
    members          integer CHECK (members >= 0),
    requested_amount numeric(18, 2) NOT NULL CHECK (requested_amount > 0),
    approved_amount  numeric(18, 2) CHECK (approved_amount > 0),
    status           text NOT NULL
                     CHECK (status IN ('draft', 'submitted', 'reviewed', 'approved', 'rejected', 'withdrawn')),
    created_by       uuid NOT NULL,
    submitted_by     uuid,
    reviewed_by      uuid,
    approved_by      uuid,
    item_id          uuid REFERENCES items (id),
    version          integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT grant_approved_has_item CHECK ((status = 'approved') = (item_id IS NOT NULL))
);
CREATE INDEX township_grants_org_idx ON township_grants (org_id, id);
CREATE INDEX township_grants_fund_idx ON township_grants (fund_id, id);
CREATE TRIGGER township_grants_no_delete BEFORE DELETE ON township_grants
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER township_grants_no_truncate BEFORE TRUNCATE ON township_grants
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- A voucher (receipt) number backs one use report in a fund, never two.
CREATE TABLE item_vouchers (
    fund_id     uuid NOT NULL REFERENCES funds (id),
    voucher_no  text NOT NULL CHECK (length(voucher_no) BETWEEN 1 AND 100),
    movement_id uuid NOT NULL REFERENCES item_movements (id),
    PRIMARY KEY (fund_id, voucher_no)
);
CREATE TRIGGER item_vouchers_append_only BEFORE UPDATE OR DELETE ON item_vouchers
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Settlement may carry the unused part over to next year's fund of the same kind.
ALTER TABLE item_movements DROP CONSTRAINT item_movements_kind_check;
ALTER TABLE item_movements ADD CONSTRAINT item_movements_kind_check
    CHECK (kind IN ('allocation', 'disbursement', 'reversal', 'use', 'return', 'release', 'carry_over'));
ALTER TABLE item_movements ADD COLUMN carried_to uuid REFERENCES funds (id);
