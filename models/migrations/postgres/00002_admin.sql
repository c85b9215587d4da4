-- +goose Up
-- +goose StatementBegin
-- Admin console and admin API (issue 3).

-- API tokens for /api/v1: only the SHA-256 of the random token is stored;
-- the token is shown once when it is created.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   BYTEA NOT NULL UNIQUE,
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

-- Admin console sessions on the internal listener, separate from the
-- browser sessions of the public listener. The cookie holds a random token
-- of which only the hash is stored.
CREATE TABLE admin_sessions (
    id          TEXT PRIMARY KEY,
    token_hash  BYTEA NOT NULL UNIQUE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);

-- Applications may be restricted to members of some groups (JSON array of
-- group names; empty: everyone).
ALTER TABLE clients ADD COLUMN allowed_groups TEXT NOT NULL DEFAULT '[]';
-- +goose StatementEnd

-- +goose Down
ALTER TABLE clients DROP COLUMN allowed_groups;
DROP TABLE admin_sessions;
DROP TABLE api_tokens;
