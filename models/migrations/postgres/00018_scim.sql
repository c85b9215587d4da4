-- +goose Up
-- +goose StatementBegin
-- SCIM provisioning (issue 23, RFC 7643/7644).
-- A SCIM bearer token is an API token of kind 'scim': hashed, revocable,
-- and never accepted by /api/v1 (nor an admin API token by /scim/v2).
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
CREATE INDEX api_tokens_kind ON api_tokens (kind, created_at);
-- The provisioning client's own identifier of a user or group (RFC 7643
-- §3.1 externalId), filtered with eq by Entra ID and Okta; byte-wise ("C")
-- so that a prefix (sw) is a range on the index too.
ALTER TABLE users ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
CREATE INDEX users_external_id ON users ((external_id COLLATE "C"));
ALTER TABLE groups ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
CREATE INDEX groups_external_id ON groups ((external_id COLLATE "C"));
CREATE INDEX groups_name_c ON groups ((name COLLATE "C"));
-- +goose StatementEnd

-- +goose Down
DROP INDEX groups_name_c;
DROP INDEX groups_external_id;
ALTER TABLE groups DROP COLUMN external_id;
DROP INDEX users_external_id;
ALTER TABLE users DROP COLUMN external_id;
DROP INDEX api_tokens_kind;
ALTER TABLE api_tokens DROP COLUMN kind;
