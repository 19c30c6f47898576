DROP TABLE fixed_assets;
DROP TABLE line_expenditures;
DROP TABLE appropriations;
DROP TABLE budget_lines;
ALTER TABLE funds DROP CONSTRAINT funds_kind_check;
ALTER TABLE funds ADD CONSTRAINT funds_kind_check CHECK (kind IN ('hardship', 'township_grant', 'union_fee'));
ALTER TABLE orgs DROP CONSTRAINT orgs_kind_check;
ALTER TABLE orgs ADD CONSTRAINT orgs_kind_check
    CHECK (kind IN ('federation', 'township_union', 'grassroots_union', 'member_unit', 'upper_union', 'finance_bureau'));
