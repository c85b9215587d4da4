-- +goose Up
-- +goose StatementBegin
-- Recovery codes (issue 22): ten one-time codes per account, each stored
-- as an HMAC-SHA-256 under a key sealed with the master key (a stolen
-- database alone cannot test guesses). A used code is kept until the
-- purge, so that its reuse is refused like an unknown one.
CREATE TABLE recovery_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_mac   BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
CREATE INDEX recovery_codes_used ON recovery_codes (used_at) WHERE used_at IS NOT NULL;
-- +goose StatementEnd

-- +goose Down
DROP TABLE recovery_codes;
