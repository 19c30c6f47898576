DROP TABLE hardship_applications;
DROP TABLE item_movements;
DROP TABLE items;
DROP FUNCTION refuse_settled_item_change();
