ALTER TABLE hardship_applications DROP COLUMN campaign_id;
DROP TABLE campaign_beneficiaries;
DROP TABLE hardship_campaigns;
ALTER TABLE item_movements DROP CONSTRAINT item_movements_kind_check;
ALTER TABLE item_movements ADD CONSTRAINT item_movements_kind_check
    CHECK (kind IN ('allocation', 'disbursement', 'use', 'return', 'release'));
