-- +goose Up
-- +goose StatementBegin
-- Settings are named values of the installation that are not secret:
-- master_key_fingerprint names the master key that seals the signing
-- keys and secrets (models/masterkey.go), so a start with another key is
-- refused before anything is sealed with it.
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
-- +goose StatementEnd

-- +goose Down
DROP TABLE settings;
