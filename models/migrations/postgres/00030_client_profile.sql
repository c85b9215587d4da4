-- +goose Up
-- +goose StatementBegin
-- A client's security profile: '' none, 'fapi2' the FAPI 2.0 Security
-- Profile (PAR, PKCE S256, private_key_jwt, DPoP, ES256/PS256 only).
ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT '';
-- The DPoP key a device code is bound to (dpop_jkt or a proof at the
-- device authorization endpoint, RFC 9449 §10 applied to RFC 8628).
ALTER TABLE device_authorizations ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
-- +goose StatementEnd

-- +goose Down
ALTER TABLE device_authorizations DROP COLUMN dpop_jkt;
ALTER TABLE clients DROP COLUMN profile;
