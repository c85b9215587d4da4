-- +goose Up
-- +goose StatementBegin
-- A client's security profile: '' none, 'fapi2' the FAPI 2.0 Security
-- Profile (PAR, PKCE S256, private_key_jwt, DPoP, ES256/PS256 only).
ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT '';
-- +goose StatementEnd

-- +goose Down
ALTER TABLE clients DROP COLUMN profile;
