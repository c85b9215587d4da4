-- +goose Up
-- +goose StatementBegin
-- DPoP (RFC 9449). The jti of every DPoP proof accepted, until the proof
-- is too old to be accepted again (RFC 9449 §11.1), so that a proof is
-- used once across every instance; jti_hash is the SHA-256 of the key's
-- thumbprint and the jti.
CREATE TABLE dpop_proofs (
    jti_hash   BYTEA PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX dpop_proofs_expires ON dpop_proofs (expires_at);
-- A client whose tokens must be DPoP-bound.
ALTER TABLE clients ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT FALSE;
-- The key an authorization code is bound to (dpop_jkt, RFC 9449 §10).
ALTER TABLE auth_requests ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
-- The key a public client's refresh tokens are bound to (RFC 9449 §5).
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
-- The claims request parameter (OpenID Connect Core §5.5) of a sign-in,
-- normalized JSON ("" none), kept with the grant for its ID tokens.
ALTER TABLE auth_requests ADD COLUMN claims TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN claims TEXT NOT NULL DEFAULT '';
-- +goose StatementEnd

-- +goose Down
ALTER TABLE grants DROP COLUMN claims;
ALTER TABLE auth_requests DROP COLUMN claims;
ALTER TABLE grants DROP COLUMN dpop_jkt;
ALTER TABLE auth_requests DROP COLUMN dpop_jkt;
ALTER TABLE clients DROP COLUMN require_dpop;
DROP TABLE dpop_proofs;
