-- Access can be taken back (issue 15). Every access token carries its subject's `token_version`;
-- each request compares it with the row here, so disabling a user or client, changing its role
-- or organisation, resetting a password or rotating a secret (each bumps the column) ends every
-- token issued before, at once. `version` is the row's ETag (If-Match on PATCH); a change of
-- display name bumps `version` only.
ALTER TABLE users
    ADD COLUMN token_version integer NOT NULL DEFAULT 1 CHECK (token_version > 0);

ALTER TABLE api_clients
    ADD COLUMN version       integer NOT NULL DEFAULT 1 CHECK (version > 0),
    ADD COLUMN token_version integer NOT NULL DEFAULT 1 CHECK (token_version > 0);

-- Answers stored for idempotent replay no longer carry a client's secret (it is shown once and
-- kept nowhere); strip the ones stored before this migration. Every stored body is the UTF-8
-- JSON the service wrote. Dumps taken before it still hold them: rotate those clients' secrets.
UPDATE idempotency_keys
   SET response_body = convert_to((convert_from(response_body, 'UTF8')::jsonb - 'client_secret')::text, 'UTF8')
 WHERE response_body IS NOT NULL
   AND position('"client_secret"' IN convert_from(response_body, 'UTF8')) > 0;
