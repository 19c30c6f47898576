DROP TABLE fee_upper_remittances;
ALTER TABLE fee_declarations DROP CONSTRAINT fee_declarations_upper_adds_up,
    DROP CONSTRAINT fee_declarations_levels_together, DROP COLUMN upper_due, DROP COLUMN upper_rate;
ALTER TABLE fee_rates DROP CONSTRAINT fee_rates_upper_within_remit, DROP COLUMN upper_rate;
