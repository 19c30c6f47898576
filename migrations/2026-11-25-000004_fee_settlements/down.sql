DROP TABLE fee_remittances;
DROP TABLE fee_settlements;
