DROP TABLE fee_declarations;
DROP TABLE fee_rates;
