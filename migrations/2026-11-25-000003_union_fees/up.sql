-- Union fees (DOMAIN.md, fund 1): the rate table and the units' payroll declarations.

-- Rates change over time and between kinds of unit: they are data, never code. A period uses the
-- rate in force on its first day (the latest effective_from on or before it).
CREATE TABLE fee_rates (
    id             uuid PRIMARY KEY,
    unit_kind      text NOT NULL CHECK (unit_kind IN ('administrative', 'public_institution', 'enterprise')),
    fee_rate       numeric(9, 6) NOT NULL CHECK (fee_rate >= 0 AND fee_rate <= 1),
    remit_rate     numeric(9, 6) NOT NULL CHECK (remit_rate >= 0 AND remit_rate <= 1),
    effective_from date NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fee_rates_kind_from_key UNIQUE (unit_kind, effective_from)
);
CREATE TRIGGER fee_rates_append_only BEFORE UPDATE OR DELETE ON fee_rates
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- 《工会法》: 2% of total payroll; of it 40% goes to the city federation. In force for every kind.
INSERT INTO fee_rates (id, unit_kind, fee_rate, remit_rate, effective_from) VALUES
    ('01900000-0000-7000-8000-00000000fe01', 'administrative', 0.02, 0.40, '2000-01-01'),
    ('01900000-0000-7000-8000-00000000fe02', 'public_institution', 0.02, 0.40, '2000-01-01'),
    ('01900000-0000-7000-8000-00000000fe03', 'enterprise', 0.02, 0.40, '2000-01-01');

-- A unit's payroll for a month and the fee it makes. A correction is a new row with the next
-- version; the old one stays, so auditors see both. The current declaration is the highest version.
-- `period` is 'YYYY-MM' (2000-01 to 2100-12), checked with plain string functions: a regular
-- expression per row is measurably slower on a 10,000-row batch.
CREATE TABLE fee_declarations (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES orgs (id),
    period        text NOT NULL CHECK (length(period) = 7 AND substr(period, 5, 1) = '-' AND translate(substr(period, 1, 4) || substr(period, 6, 2), '0123456789', '') = '' AND substr(period, 1, 4) BETWEEN '2000' AND '2100' AND substr(period, 6, 2) BETWEEN '01' AND '12'),
    version       integer NOT NULL CHECK (version > 0),
    payroll_total numeric(18, 2) NOT NULL CHECK (payroll_total >= 0),
    fee_rate      numeric(9, 6) NOT NULL,
    remit_rate    numeric(9, 6) NOT NULL,
    fee_due       numeric(18, 2) NOT NULL CHECK (fee_due >= 0),
    remit_due     numeric(18, 2) NOT NULL CHECK (remit_due >= 0),
    retained      numeric(18, 2) NOT NULL CHECK (retained >= 0),
    fund_id       uuid NOT NULL REFERENCES funds (id),
    entry_id      uuid REFERENCES journal_entries (id),
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    CONSTRAINT fee_declarations_split_adds_up CHECK (remit_due + retained = fee_due),
    CONSTRAINT fee_declarations_org_period_version_key UNIQUE (org_id, period, version)
);
CREATE TRIGGER fee_declarations_append_only BEFORE UPDATE OR DELETE ON fee_declarations
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
