-- Union-fee periods as dates (issue 17): the first day of the month, instead of 'YYYY-MM' text.
--
-- A year's months were found with `period LIKE '2022-%'`, which no index serves. As dates, a
-- unit's year is `org_id = $1 AND period >= make_date($2, 1, 1) AND period < make_date($2 + 1, 1, 1)`,
-- a range on the (org_id, period) indexes. The API still reads and writes 'YYYY-MM'
-- (domain::ids::Period); the service maps it to the month's first day and back, so the answers
-- and the audit events (whose hashed JSON says "2022-03") do not change.
--
-- Each table: the text CHECK goes (it cannot be read on a date), the column is converted in one
-- rewrite, and the new CHECK keeps what the old one said — a month of 2000 to 2100 — and that
-- the day is the first. The unique constraint (org_id, period, version) and the (org_id, period)
-- indexes are rebuilt on the new type by the conversion itself. The append-only triggers are
-- BEFORE UPDATE OR DELETE: a type change fires neither.

ALTER TABLE fee_declarations
    DROP CONSTRAINT fee_declarations_period_check,
    ALTER COLUMN period TYPE date USING to_date(period, 'YYYY-MM'),
    ADD CONSTRAINT fee_declarations_period_check
        CHECK (extract(day FROM period) = 1 AND period BETWEEN DATE '2000-01-01' AND DATE '2100-12-01');

ALTER TABLE fee_settlements
    DROP CONSTRAINT fee_settlements_period_check,
    ALTER COLUMN period TYPE date USING to_date(period, 'YYYY-MM'),
    ADD CONSTRAINT fee_settlements_period_check
        CHECK (extract(day FROM period) = 1 AND period BETWEEN DATE '2000-01-01' AND DATE '2100-12-01');

ALTER TABLE fee_remittances
    DROP CONSTRAINT fee_remittances_period_check,
    ALTER COLUMN period TYPE date USING to_date(period, 'YYYY-MM'),
    ADD CONSTRAINT fee_remittances_period_check
        CHECK (extract(day FROM period) = 1 AND period BETWEEN DATE '2000-01-01' AND DATE '2100-12-01');

ALTER TABLE fee_remit_refunds
    DROP CONSTRAINT fee_remit_refunds_period_check,
    ALTER COLUMN period TYPE date USING to_date(period, 'YYYY-MM'),
    ADD CONSTRAINT fee_remit_refunds_period_check
        CHECK (extract(day FROM period) = 1 AND period BETWEEN DATE '2000-01-01' AND DATE '2100-12-01');

-- A payment's reference is unique per unit and year. The year was the text's first four
-- characters; it is now the date's year (extract on a date is immutable, so it may be indexed).
-- The index keeps its name: error.rs tells a reused reference by it.
DROP INDEX fee_payments_unit_year_reference_key;
ALTER TABLE fee_payments
    DROP CONSTRAINT fee_payments_period_check,
    ALTER COLUMN period TYPE date USING to_date(period, 'YYYY-MM'),
    ADD CONSTRAINT fee_payments_period_check
        CHECK (extract(day FROM period) = 1 AND period BETWEEN DATE '2000-01-01' AND DATE '2100-12-01');
CREATE UNIQUE INDEX fee_payments_unit_year_reference_key
    ON fee_payments (org_id, (extract(year FROM period)), reference);
-- A unit's payments of a year (the reference check before each payment) by range, as elsewhere.
CREATE INDEX fee_payments_org_period_idx ON fee_payments (org_id, period);
