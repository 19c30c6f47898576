-- Budgets (DOMAIN.md, "The 2022 figures"; issue 9): the year's budget lines, the finance
-- bureau's appropriations against them, basic expenditure, and the fixed assets the annual
-- report lists. Also the federation's departments and affiliated institutions as organisations.

ALTER TABLE orgs DROP CONSTRAINT orgs_kind_check;
ALTER TABLE orgs ADD CONSTRAINT orgs_kind_check
    CHECK (kind IN ('federation', 'township_union', 'grassroots_union', 'member_unit', 'upper_union',
                    'finance_bureau', 'department', 'affiliated_institution'));

-- Basic expenditure (基本支出: wages, goods and services, subsidies) has a fund per budget line,
-- so that its appropriations and spending are journal entries like every other sum.
ALTER TABLE funds DROP CONSTRAINT funds_kind_check;
ALTER TABLE funds ADD CONSTRAINT funds_kind_check
    CHECK (kind IN ('hardship', 'township_grant', 'union_fee', 'basic'));

-- A year's budget as a tree: 'group' lines sum their children (the check
-- budget_lines_add_up proves they do); 'basic' and 'project' lines are leaves, each with the
-- fund that holds its money (a basic line's fund is opened with the line).
CREATE TABLE budget_lines (
    id                   uuid PRIMARY KEY,
    year                 integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    code                 text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]{0,39}$'),
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                 text NOT NULL CHECK (kind IN ('group', 'basic', 'project')),
    parent_id            uuid REFERENCES budget_lines (id),
    budget               numeric(18, 2) NOT NULL CHECK (budget >= 0),
    fund_id              uuid UNIQUE REFERENCES funds (id),
    -- Why execution differs from the budget, when it does (the check
    -- budget_execution_explained fails on a difference without one).
    variance_explanation text NOT NULL DEFAULT '' CHECK (length(variance_explanation) <= 2000),
    version              integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    UNIQUE (year, code),
    CONSTRAINT leaves_have_funds CHECK ((kind = 'group') = (fund_id IS NULL))
);
CREATE INDEX budget_lines_parent_idx ON budget_lines (parent_id);
CREATE TRIGGER budget_lines_no_delete BEFORE DELETE ON budget_lines
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER budget_lines_no_truncate BEFORE TRUNCATE ON budget_lines
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Money the finance bureau appropriated against a line (财政拨款): a source of the line's fund.
-- The bureau's document number is unique within the year, so a re-sent appropriation under a
-- new idempotency key is refused rather than counted twice.
CREATE TABLE appropriations (
    id          uuid PRIMARY KEY,
    year        integer NOT NULL,
    line_id     uuid NOT NULL REFERENCES budget_lines (id),
    source_id   uuid NOT NULL UNIQUE REFERENCES fund_sources (id),
    amount      numeric(18, 2) NOT NULL CHECK (amount > 0),
    reference   text NOT NULL CHECK (length(reference) BETWEEN 1 AND 100),
    received_on date NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    UNIQUE (year, reference)
);
CREATE INDEX appropriations_line_idx ON appropriations (line_id, id);
CREATE TRIGGER appropriations_append_only BEFORE UPDATE OR DELETE ON appropriations
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER appropriations_no_truncate BEFORE TRUNCATE ON appropriations
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Basic expenditure against a basic line: available → spent in the line's fund.
CREATE TABLE line_expenditures (
    id          uuid PRIMARY KEY,
    line_id     uuid NOT NULL REFERENCES budget_lines (id),
    fund_id     uuid NOT NULL REFERENCES funds (id),
    amount      numeric(18, 2) NOT NULL CHECK (amount > 0),
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
    voucher_no  text CHECK (length(voucher_no) BETWEEN 1 AND 100),
    spent_on    date NOT NULL,
    entry_id    uuid NOT NULL REFERENCES journal_entries (id),
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    UNIQUE (fund_id, voucher_no)
);
CREATE INDEX line_expenditures_line_idx ON line_expenditures (line_id, id);
CREATE TRIGGER line_expenditures_append_only BEFORE UPDATE OR DELETE ON line_expenditures
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER line_expenditures_no_truncate BEFORE TRUNCATE ON line_expenditures
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Fixed assets (国有资产占用): what the report's assets section lists.
CREATE TABLE fixed_assets (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    category    text NOT NULL CHECK (category IN ('vehicle', 'computer', 'copier', 'printer', 'furniture', 'other')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    quantity    integer NOT NULL CHECK (quantity > 0),
    value       numeric(18, 2) NOT NULL CHECK (value >= 0),
    acquired_on date NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL
);
CREATE INDEX fixed_assets_org_idx ON fixed_assets (org_id, id);
CREATE TRIGGER fixed_assets_append_only BEFORE UPDATE OR DELETE ON fixed_assets
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
