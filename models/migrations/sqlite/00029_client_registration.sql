-- +goose Up
-- Dynamic client registration (RFC 7591, RFC 7592). registered_by says how
-- a client came to be: '' an admin made it, 'open' it registered itself
-- without an initial access token, otherwise the ID of the initial access
-- token (an api_tokens row of kind 'registration') it registered with.
-- registration_token_hash is the SHA-256 of its registration access token
-- (RFC 7592 §1), NULL for admin-made clients.
ALTER TABLE clients ADD COLUMN registered_by TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration_token_hash BLOB;
-- Open registration counts its clients up to a limit on this index.
CREATE INDEX clients_registered_by ON clients (registered_by);

-- +goose Down
DROP INDEX clients_registered_by;
ALTER TABLE clients DROP COLUMN registration_token_hash;
ALTER TABLE clients DROP COLUMN registered_by;
