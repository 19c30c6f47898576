-- Back to 'YYYY-MM' text periods, with the checks and the reference index of migrations
-- 000003, 000004 and 000015.

DROP INDEX fee_payments_org_period_idx;
DROP INDEX fee_payments_unit_year_reference_key;
ALTER TABLE fee_payments
    DROP CONSTRAINT fee_payments_period_check,
    ALTER COLUMN period TYPE text USING to_char(period, 'YYYY-MM'),
    ADD CONSTRAINT fee_payments_period_check CHECK (length(period) = 7 AND substr(period, 5, 1) = '-' AND translate(substr(period, 1, 4) || substr(period, 6, 2), '0123456789', '') = '' AND substr(period, 1, 4) BETWEEN '2000' AND '2100' AND substr(period, 6, 2) BETWEEN '01' AND '12');
CREATE UNIQUE INDEX fee_payments_unit_year_reference_key ON fee_payments (org_id, substr(period, 1, 4), reference);

ALTER TABLE fee_remit_refunds
    DROP CONSTRAINT fee_remit_refunds_period_check,
    ALTER COLUMN period TYPE text USING to_char(period, 'YYYY-MM'),
    ADD CONSTRAINT fee_remit_refunds_period_check CHECK (length(period) = 7 AND substr(period, 5, 1) = '-' AND translate(substr(period, 1, 4) || substr(period, 6, 2), '0123456789', '') = '' AND substr(period, 1, 4) BETWEEN '2000' AND '2100' AND substr(period, 6, 2) BETWEEN '01' AND '12');

ALTER TABLE fee_remittances
    DROP CONSTRAINT fee_remittances_period_check,
    ALTER COLUMN period TYPE text USING to_char(period, 'YYYY-MM'),
    ADD CONSTRAINT fee_remittances_period_check CHECK (length(period) = 7 AND substr(period, 5, 1) = '-' AND translate(substr(period, 1, 4) || substr(period, 6, 2), '0123456789', '') = '' AND substr(period, 1, 4) BETWEEN '2000' AND '2100' AND substr(period, 6, 2) BETWEEN '01' AND '12');

ALTER TABLE fee_settlements
    DROP CONSTRAINT fee_settlements_period_check,
    ALTER COLUMN period TYPE text USING to_char(period, 'YYYY-MM'),
    ADD CONSTRAINT fee_settlements_period_check CHECK (length(period) = 7 AND substr(period, 5, 1) = '-' AND translate(substr(period, 1, 4) || substr(period, 6, 2), '0123456789', '') = '' AND substr(period, 1, 4) BETWEEN '2000' AND '2100' AND substr(period, 6, 2) BETWEEN '01' AND '12');

ALTER TABLE fee_declarations
    DROP CONSTRAINT fee_declarations_period_check,
    ALTER COLUMN period TYPE text USING to_char(period, 'YYYY-MM'),
    ADD CONSTRAINT fee_declarations_period_check CHECK (length(period) = 7 AND substr(period, 5, 1) = '-' AND translate(substr(period, 1, 4) || substr(period, 6, 2), '0123456789', '') = '' AND substr(period, 1, 4) BETWEEN '2000' AND '2100' AND substr(period, 6, 2) BETWEEN '01' AND '12');
