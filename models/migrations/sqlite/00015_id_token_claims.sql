-- +goose Up
-- A client's id_token_claims says what its ID tokens carry: "scoped" (the
-- default) puts the claims of the granted profile, email and groups scopes
-- in the ID token, as most relying parties expect; "minimal" keeps only the
-- protocol claims there and leaves the user's claims to userinfo
-- (oidc/client.go, IDTokenUserinfoClaimsAssertion).
ALTER TABLE clients ADD COLUMN id_token_claims TEXT NOT NULL DEFAULT 'scoped' CHECK (id_token_claims IN ('scoped', 'minimal'));

-- +goose Down
ALTER TABLE clients DROP COLUMN id_token_claims;
