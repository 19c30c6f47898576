-- The service's money-moving write (POST /api/v1/funds/{id}/sources), statement for statement
-- and round trip for round trip, replayed by pgbench with no HTTP service in front: the ceiling
-- the database alone puts on the benchmark's writes. Run after `cargo bench --bench spine` (which
-- leaves its scratch database `unionfund_bench` with 1,000 funds):
--
--   psql -h 127.0.0.1 -U postgres -d unionfund_bench -c \
--     "CREATE TABLE IF NOT EXISTS bench_funds AS SELECT row_number() OVER () AS n, id FROM funds"
--   pgbench -h 127.0.0.1 -U postgres -n -c 32 -j 2 -T 10 -f bench/pgbench/fund_source.sql unionfund_bench
--   pgbench -h 127.0.0.1 -U postgres -n -c 32 -j 2 -T 10 unionfund_bench_pgbench      # tpcb-like
--
-- Simple protocol (pgbench's default): every statement is parsed and planned, as the service's
-- raw SQL statements are. The hash is a stand-in (sha256 of the previous hash), not the real
-- canonical encoding; its cost is the service's, not the database's.
\set n random(1, 1000)
\set k random(1, 1000000000000)
SELECT 1;
BEGIN;
INSERT INTO idempotency_keys (caller, key, request_hash) VALUES ('bench', ':k-:client_id', 'fp') ON CONFLICT DO NOTHING;
SELECT id AS fid, version, gen_random_uuid() AS eid, gen_random_uuid() AS sid FROM funds WHERE id = (SELECT id FROM bench_funds WHERE n = :n) FOR UPDATE \gset
SELECT id FROM fund_sources WHERE fund_id = CAST(':fid' AS uuid) AND reference = 'bench-:k-:client_id';
WITH legs AS (SELECT * FROM unnest(ARRAY[CAST(':fid' AS uuid), CAST(':fid' AS uuid)]::uuid[], ARRAY['funding','source:other']::text[], ARRAY[-10.00, 10.00]::numeric[]) AS l(fund_id, code, amount)),
     created AS (INSERT INTO accounts (fund_id, code) SELECT fund_id, code FROM legs ON CONFLICT ((coalesce(fund_id, '00000000-0000-0000-0000-000000000000'::uuid)), code) DO NOTHING RETURNING id, fund_id, code),
     entry AS (INSERT INTO journal_entries (id, kind, fund_id, entity_type, entity_id, memo, request_id, actor, created_at) VALUES (CAST(':eid' AS uuid), 'source', CAST(':fid' AS uuid), 'fund_source', CAST(':sid' AS uuid), 'other received', 'req-0123456789', 'user:bench', now()))
INSERT INTO postings (entry_id, account_id, amount) SELECT CAST(':eid' AS uuid), coalesce(c.id, a.id), l.amount FROM legs l LEFT JOIN created c ON c.fund_id IS NOT DISTINCT FROM l.fund_id AND c.code = l.code LEFT JOIN accounts a ON coalesce(a.fund_id, '00000000-0000-0000-0000-000000000000'::uuid) = coalesce(l.fund_id, '00000000-0000-0000-0000-000000000000'::uuid) AND a.code = l.code;
INSERT INTO fund_sources (id, fund_id, kind, amount, matching_ratio, description, entry_id, created_at, reference) VALUES (CAST(':sid' AS uuid), CAST(':fid' AS uuid), 'other', 10.00, NULL, 'bench', CAST(':eid' AS uuid), now(), 'bench-:k-:client_id');
UPDATE funds SET version = version + 1, updated_at = now() WHERE id = CAST(':fid' AS uuid);
INSERT INTO audit_heads (stream, stream_seq, hash) VALUES ('fund:' || CAST(':fid' AS text), 0, repeat('0',64)) ON CONFLICT (stream) DO UPDATE SET stream = EXCLUDED.stream RETURNING stream_seq AS sseq, hash AS phash, (SELECT array_agg(s ORDER BY s) FROM (SELECT nextval('audit_seq') AS s FROM generate_series(1, 1)) n)[1] AS seq \gset
INSERT INTO audit_events (seq, stream, stream_seq, occurred_at, actor, actor_role, org_id, request_id, action, entity_type, entity_id, fund_id, stage, amount, entry_id, before_json, after_json, prev_hash, hash) VALUES (:seq, 'fund:' || CAST(':fid' AS text), :sseq + 1, now(), 'user:bench', 'admin', NULL, 'req-0123456789', 'fund.source_added', 'fund_source', CAST(':sid' AS uuid), CAST(':fid' AS uuid), NULL, 10.00, CAST(':eid' AS uuid), NULL, '{"kind":"other"}', CAST(':phash' AS text), encode(sha256(CAST(':phash' AS text)::bytea), 'hex'));
UPDATE idempotency_keys SET response_status = 201, response_etag = NULL, response_body = '\x7b7d'::bytea WHERE caller = 'bench' AND key = ':k-:client_id';
COMMIT;
