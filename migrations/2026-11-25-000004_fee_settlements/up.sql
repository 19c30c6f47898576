-- Union-fee money after the declaration: payments, credit, remittances to the federation.
-- Every row is a fact with its journal entry; nothing is changed or removed.

-- What settles a unit's fee for a month, signed per kind:
--   payment            money received and applied to the month (to the month +)
--   overpayment        money received beyond what the month owed, kept as credit (credit +)
--   credit_applied     credit used for the month (to the month +, credit −)
--   correction_refund  a correction lowered the fee below what was paid: the excess becomes credit
--                      (to the month −, credit +)
CREATE TABLE fee_settlements (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    period      text NOT NULL CHECK (length(period) = 7 AND substr(period, 5, 1) = '-' AND translate(substr(period, 1, 4) || substr(period, 6, 2), '0123456789', '') = '' AND substr(period, 1, 4) BETWEEN '2000' AND '2100' AND substr(period, 6, 2) BETWEEN '01' AND '12'),
    kind        text NOT NULL CHECK (kind IN ('payment', 'overpayment', 'credit_applied', 'correction_refund')),
    amount      numeric(18, 2) NOT NULL CHECK (amount > 0),
    fund_id     uuid NOT NULL REFERENCES funds (id),
    entry_id    uuid NOT NULL REFERENCES journal_entries (id),
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL
);
CREATE INDEX fee_settlements_org_period_idx ON fee_settlements (org_id, period);
CREATE TRIGGER fee_settlements_append_only BEFORE UPDATE OR DELETE ON fee_settlements
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- The federation's 40% passed on: per unit and month.
CREATE TABLE fee_remittances (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    period      text NOT NULL CHECK (length(period) = 7 AND substr(period, 5, 1) = '-' AND translate(substr(period, 1, 4) || substr(period, 6, 2), '0123456789', '') = '' AND substr(period, 1, 4) BETWEEN '2000' AND '2100' AND substr(period, 6, 2) BETWEEN '01' AND '12'),
    amount      numeric(18, 2) NOT NULL CHECK (amount > 0),
    fund_id     uuid NOT NULL REFERENCES funds (id),
    entry_id    uuid NOT NULL REFERENCES journal_entries (id),
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL
);
CREATE INDEX fee_remittances_org_period_idx ON fee_remittances (org_id, period);
CREATE TRIGGER fee_remittances_append_only BEFORE UPDATE OR DELETE ON fee_remittances
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
