-- +goose Up
-- +goose StatementBegin
-- The WebAuthn challenge of the sign-in page lives in its auth request
-- (passkeys/bound.go): minted with the request, cleared when the request
-- is completed or an answer to it is refused.
ALTER TABLE auth_requests ADD COLUMN login_challenge BYTEA;
ALTER TABLE auth_requests ADD COLUMN login_challenge_expires_at TIMESTAMPTZ;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN login_challenge_expires_at;
ALTER TABLE auth_requests DROP COLUMN login_challenge;
