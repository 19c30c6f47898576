DROP INDEX fund_sources_kind_idx;
DROP INDEX audit_events_amount_idx;
DROP INDEX audit_events_stage_idx;
DROP INDEX audit_events_request_idx;
DROP INDEX item_movements_entry_idx;
