ALTER TABLE api_clients DROP COLUMN token_version, DROP COLUMN version;
ALTER TABLE users DROP COLUMN token_version;
