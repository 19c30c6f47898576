-- Retries that cannot post twice, and money due back from the upper level (issue 16).
--
-- The finance bureau retries. An Idempotency-Key makes a retry answer from the store, but a retry
-- under a new key (a restarted client, a lost key) would post again. So payments and sources carry
-- the bureau's own document reference, unique where a second use can only be a repeat, as
-- appropriations already do (migration 000008): the database refuses the second use too, whatever
-- the service's own check says.

-- A reference as the API takes it: 1–64 characters, no control characters. (A source made by an
-- appropriation carries the appropriation's reference, which may be up to 100.)

-- Sources: unique within their fund. An appropriation's source takes the appropriation's
-- reference; any other existing source is given 'legacy-<id>', deterministically.
ALTER TABLE fund_sources ADD COLUMN reference text;
-- The backfill is an UPDATE: any user trigger that a later guard puts on the table is not for it.
ALTER TABLE fund_sources DISABLE TRIGGER USER;
UPDATE fund_sources s SET reference = a.reference FROM appropriations a WHERE a.source_id = s.id;
UPDATE fund_sources SET reference = 'legacy-' || id WHERE reference IS NULL;
ALTER TABLE fund_sources ENABLE TRIGGER USER;
ALTER TABLE fund_sources ALTER COLUMN reference SET NOT NULL;
ALTER TABLE fund_sources ADD CONSTRAINT fund_sources_reference_check
    CHECK (length(reference) BETWEEN 1 AND 100 AND reference !~ '[[:cntrl:]]');
ALTER TABLE fund_sources ADD CONSTRAINT fund_sources_fund_reference_key UNIQUE (fund_id, reference);

-- A union-fee payment as received: one row per payment, with the bureau's reference, unique per
-- unit and year. How it settled (applied to the month, kept as credit) stays in fee_settlements,
-- under the same journal entry.
CREATE TABLE fee_payments (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    period      text NOT NULL CHECK (length(period) = 7 AND substr(period, 5, 1) = '-' AND translate(substr(period, 1, 4) || substr(period, 6, 2), '0123456789', '') = '' AND substr(period, 1, 4) BETWEEN '2000' AND '2100' AND substr(period, 6, 2) BETWEEN '01' AND '12'),
    amount      numeric(18, 2) NOT NULL CHECK (amount > 0),
    reference   text NOT NULL CHECK (length(reference) BETWEEN 1 AND 64 AND reference !~ '[[:cntrl:]]'),
    fund_id     uuid NOT NULL REFERENCES funds (id),
    entry_id    uuid NOT NULL UNIQUE REFERENCES journal_entries (id),
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL
);
-- Per unit and year: the year is the period's first four characters.
CREATE UNIQUE INDEX fee_payments_unit_year_reference_key ON fee_payments (org_id, substr(period, 1, 4), reference);
CREATE TRIGGER fee_payments_append_only BEFORE UPDATE OR DELETE ON fee_payments
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER fee_payments_no_truncate BEFORE TRUNCATE ON fee_payments
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Payments recorded before this migration: one per journal entry of kind fee_payment (its
-- 'payment' and 'overpayment' settlements together), referenced 'legacy-<entry id>'.
INSERT INTO fee_payments (id, org_id, period, amount, reference, fund_id, entry_id, created_at, created_by)
SELECT s.entry_id, s.org_id, s.period, sum(s.amount), 'legacy-' || s.entry_id, s.fund_id, s.entry_id,
       min(s.created_at), min(s.created_by)
FROM fee_settlements s
WHERE s.kind IN ('payment', 'overpayment')
GROUP BY s.entry_id, s.org_id, s.period, s.fund_id;

-- Money the upper level gave back for a unit's month: a correction downwards can leave more
-- remitted than is now due, and that excess is due back (a receivable of the federation, shown
-- as remit_receivable). A refund is recorded by the finance office and is at most the excess;
-- net remitted = remittances − refunds.
CREATE TABLE fee_remit_refunds (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    period      text NOT NULL CHECK (length(period) = 7 AND substr(period, 5, 1) = '-' AND translate(substr(period, 1, 4) || substr(period, 6, 2), '0123456789', '') = '' AND substr(period, 1, 4) BETWEEN '2000' AND '2100' AND substr(period, 6, 2) BETWEEN '01' AND '12'),
    amount      numeric(18, 2) NOT NULL CHECK (amount > 0),
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    fund_id     uuid NOT NULL REFERENCES funds (id),
    entry_id    uuid NOT NULL REFERENCES journal_entries (id),
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL
);
CREATE INDEX fee_remit_refunds_org_period_idx ON fee_remit_refunds (org_id, period);
CREATE TRIGGER fee_remit_refunds_append_only BEFORE UPDATE OR DELETE ON fee_remit_refunds
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER fee_remit_refunds_no_truncate BEFORE TRUNCATE ON fee_remit_refunds
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
