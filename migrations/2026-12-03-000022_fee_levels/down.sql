ALTER TABLE fee_declarations DROP CONSTRAINT fee_declarations_preparatory_goes_up_in_full, DROP COLUMN scheme;
ALTER TABLE fee_rates DISABLE TRIGGER fee_rates_append_only;
DELETE FROM fee_rates WHERE scheme = 'preparatory_fee';
ALTER TABLE fee_rates ENABLE TRIGGER fee_rates_append_only;
ALTER TABLE fee_rates DROP CONSTRAINT fee_rates_kind_scheme_from_key,
    ADD CONSTRAINT fee_rates_kind_from_key UNIQUE (unit_kind, effective_from),
    DROP CONSTRAINT fee_rates_preparatory_goes_up_in_full, DROP COLUMN scheme;
ALTER TABLE orgs DROP CONSTRAINT orgs_founded_only_with_a_union, DROP COLUMN union_founded_on, DROP COLUMN has_union;
DROP TABLE fee_upper_remittances;
ALTER TABLE fee_declarations DROP CONSTRAINT fee_declarations_upper_adds_up,
    DROP CONSTRAINT fee_declarations_levels_together, DROP COLUMN upper_due, DROP COLUMN upper_rate;
ALTER TABLE fee_rates DROP CONSTRAINT fee_rates_upper_within_remit, DROP COLUMN upper_rate;
