-- +goose Up
-- A confidential client that must send a PKCE challenge (RFC 7636) with
-- every authorization request; public clients always must (RFC 9700
-- §2.1.1), whatever this column says.
ALTER TABLE clients ADD COLUMN require_pkce BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE clients DROP COLUMN require_pkce;
