-- Every level's share of the union fee (issue 19). Of the 2% (《工会法》 art. 43), the grassroots
-- union keeps its share and the rest goes up: to the city federation, which keeps its own share
-- and owes the remainder onward to the provincial and national federations (应付上级经费), then
-- passes it on. The shares differ by province and year and no source the project holds fixes
-- them (RULES.md 2.3): they are data, in the rate table, never code.
--
-- A rate row already carries the fee rate and the share remitted upward (`remit_rate`, the
-- city's and the upper levels' together); `upper_rate` is the part of the fee the city passes
-- on. So the three levels' shares of the fee are: retained = 1 − remit_rate, city = remit_rate −
-- upper_rate, upper = upper_rate. Every existing rate keeps upper_rate 0: the city kept all of
-- the 40%, and every figure stays the same.
ALTER TABLE fee_rates ADD COLUMN upper_rate numeric(9, 6) NOT NULL DEFAULT 0;
ALTER TABLE fee_rates ADD CONSTRAINT fee_rates_upper_within_remit
    CHECK (upper_rate >= 0 AND upper_rate <= remit_rate);

-- A declaration records the upper share it was made under and what it comes to: fee × upper
-- rate, half-up to the fen, as `domain::fees::split` computes it (PostgreSQL's round() of a
-- numeric rounds half away from zero, which is half-up for these non-negative amounts). NULL on
-- declarations made before the levels: their ledger entries have no legs for the city's books.
ALTER TABLE fee_declarations ADD COLUMN upper_rate numeric(9, 6);
ALTER TABLE fee_declarations ADD COLUMN upper_due numeric(18, 2);
ALTER TABLE fee_declarations ADD CONSTRAINT fee_declarations_levels_together
    CHECK ((upper_rate IS NULL) = (upper_due IS NULL));
ALTER TABLE fee_declarations ADD CONSTRAINT fee_declarations_upper_adds_up
    CHECK (upper_due IS NULL OR (upper_rate <= remit_rate AND upper_due = round(fee_due * upper_rate, 2)
                                 AND upper_due <= remit_due));

-- What the city federation passed on to the upper levels of a year's union fees: at most what it
-- owes upward (the upper shares of the year's current declarations, less what it already passed
-- on). The reference is the city's payment document, unique in the year: a second use can only
-- be a repeat.
CREATE TABLE fee_upper_remittances (
    id          uuid PRIMARY KEY,
    year        integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    amount      numeric(18, 2) NOT NULL CHECK (amount > 0),
    reference   text NOT NULL CHECK (length(reference) BETWEEN 1 AND 64 AND reference !~ '[[:cntrl:]]'),
    fund_id     uuid NOT NULL REFERENCES funds (id),
    entry_id    uuid NOT NULL UNIQUE REFERENCES journal_entries (id),
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    CONSTRAINT fee_upper_remittances_year_reference_key UNIQUE (year, reference)
);
CREATE TRIGGER fee_upper_remittances_append_only BEFORE UPDATE OR DELETE ON fee_upper_remittances
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER fee_upper_remittances_no_truncate BEFORE TRUNCATE ON fee_upper_remittances
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Units without a union pay the preparatory fee (工会筹备金) instead, which goes up in full: the
-- grassroots level keeps nothing, having no union to keep it (RULES.md 2.3; the tax e-filing item
-- 399001020). A member unit says whether it has a union and, if it was founded within the books,
-- since when: a month that starts before that day is a preparatory month.
ALTER TABLE orgs ADD COLUMN has_union boolean NOT NULL DEFAULT true;
ALTER TABLE orgs ADD COLUMN union_founded_on date;
ALTER TABLE orgs ADD CONSTRAINT orgs_founded_only_with_a_union CHECK (union_founded_on IS NULL OR has_union);

ALTER TABLE fee_rates ADD COLUMN scheme text NOT NULL DEFAULT 'union_fee'
    CHECK (scheme IN ('union_fee', 'preparatory_fee'));
ALTER TABLE fee_rates ADD CONSTRAINT fee_rates_preparatory_goes_up_in_full
    CHECK (scheme <> 'preparatory_fee' OR remit_rate = 1);
ALTER TABLE fee_rates DROP CONSTRAINT fee_rates_kind_from_key;
ALTER TABLE fee_rates ADD CONSTRAINT fee_rates_kind_scheme_from_key UNIQUE (unit_kind, scheme, effective_from);
-- 2% of payroll, all of it upward, kept by the city: the upper levels' share is the province's
-- to set, as for the union fee.
INSERT INTO fee_rates (id, unit_kind, fee_rate, remit_rate, upper_rate, scheme, effective_from) VALUES
    ('01900000-0000-7000-8000-00000000fe11', 'administrative', 0.02, 1, 0, 'preparatory_fee', '2000-01-01'),
    ('01900000-0000-7000-8000-00000000fe12', 'public_institution', 0.02, 1, 0, 'preparatory_fee', '2000-01-01'),
    ('01900000-0000-7000-8000-00000000fe13', 'enterprise', 0.02, 1, 0, 'preparatory_fee', '2000-01-01');

ALTER TABLE fee_declarations ADD COLUMN scheme text NOT NULL DEFAULT 'union_fee'
    CHECK (scheme IN ('union_fee', 'preparatory_fee'));
ALTER TABLE fee_declarations ADD CONSTRAINT fee_declarations_preparatory_goes_up_in_full
    CHECK (scheme <> 'preparatory_fee' OR retained = 0);
