DROP TABLE fee_remit_refunds;
DROP TABLE fee_payments;
ALTER TABLE fund_sources DROP CONSTRAINT fund_sources_fund_reference_key;
ALTER TABLE fund_sources DROP CONSTRAINT fund_sources_reference_check;
ALTER TABLE fund_sources DROP COLUMN reference;
