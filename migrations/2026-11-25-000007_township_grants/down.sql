ALTER TABLE item_movements DROP COLUMN carried_to;
ALTER TABLE item_movements DROP CONSTRAINT item_movements_kind_check;
ALTER TABLE item_movements ADD CONSTRAINT item_movements_kind_check
    CHECK (kind IN ('allocation', 'disbursement', 'reversal', 'use', 'return', 'release'));
DROP TABLE item_vouchers;
DROP TABLE township_grants;
