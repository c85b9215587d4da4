-- +goose Up
-- +goose StatementBegin
-- Passkeys blocked as suspected clones (the sign count went backwards,
-- WebAuthn L3 §6.1.1) are listed on the console's overview with their
-- owners, oldest first; the index keeps that list from reading every
-- passkey.
CREATE INDEX credentials_clone_warning ON credentials (clone_warning, created_at, id);
-- +goose StatementEnd

-- +goose Down
DROP INDEX credentials_clone_warning;
