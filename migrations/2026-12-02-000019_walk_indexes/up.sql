-- Indexes for the queries that walked whole tables.
-- item_movements(entry_id): an item's trace and the checks' entries_match_movements correlate
-- movements with journal entries by entry id (a sequential scan of every movement per entry).
CREATE INDEX item_movements_entry_idx ON item_movements (entry_id);
-- The audit trail's filters (GET /api/v1/audit/events?request_id=… | stage=… | amount_min/max=…),
-- each with seq so that a filtered page is read in order and stops at its limit.
CREATE INDEX audit_events_request_idx ON audit_events (request_id, seq);
CREATE INDEX audit_events_stage_idx ON audit_events (stage, seq) WHERE stage IS NOT NULL;
CREATE INDEX audit_events_amount_idx ON audit_events (amount, seq) WHERE amount IS NOT NULL;
-- A fund's matching figures read its upper allocations and sums its local matching: by kind,
-- not every source the fund ever had (a fund's read took 18 ms at 6,789 sources).
CREATE INDEX fund_sources_kind_idx ON fund_sources (fund_id, kind);
