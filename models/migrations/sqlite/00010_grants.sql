-- +goose Up
-- A grant is one row for the life of a sign-in's tokens (issue 18): the
-- refresh-token family, updated on every rotation, instead of a row per
-- refresh token and per access token. Tokens name the grant and carry
-- their own MAC (oidc/tokenid.go); nothing of a token is stored.
--   generation: the number of the current refresh token (0: the grant
--     has none); an authentic token of a lower generation is a replay and
--     revokes the grant (RFC 9700 §4.14.2).
--   legacy_hash: SHA-256 of a refresh token issued before this migration
--     (the old format), until its first rotation.
-- A revoked grant is deleted; the purge deletes expired ones.
CREATE TABLE grants (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      TEXT,
    auth_request_id TEXT,
    scopes          TEXT NOT NULL DEFAULT '[]',
    audience        TEXT NOT NULL DEFAULT '[]',
    amr             TEXT NOT NULL DEFAULT '[]',
    acr             TEXT NOT NULL DEFAULT '',
    auth_time       TIMESTAMP NOT NULL,
    generation      BIGINT NOT NULL DEFAULT 0,
    legacy_hash     BLOB UNIQUE,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL
);
CREATE INDEX grants_user_client ON grants (user_id, client_id);
CREATE INDEX grants_session ON grants (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX grants_auth_request ON grants (auth_request_id) WHERE auth_request_id IS NOT NULL;
CREATE INDEX grants_expires ON grants (expires_at);

-- Access tokens revoked one by one (RFC 7009) before they expire: the
-- SHA-256 of the token ID, kept until the token would have expired.
CREATE TABLE revoked_access_tokens (
    id_hash    BLOB PRIMARY KEY,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX revoked_access_tokens_expires ON revoked_access_tokens (expires_at);

-- Live refresh tokens carry over; their holders keep their sign-ins.
INSERT INTO grants (id, client_id, user_id, session_id, auth_request_id, scopes, audience, amr, acr,
                    auth_time, generation, legacy_hash, created_at, updated_at, expires_at)
SELECT family_id, client_id, user_id, session_id, auth_request_id, scopes, audience, amr, acr,
       auth_time, 0, token_hash, created_at, created_at, expires_at
FROM refresh_tokens WHERE rotated_at IS NULL AND revoked_at IS NULL;

DROP TABLE access_tokens;
DROP TABLE refresh_tokens;

-- The purge's batches find what expired through these.
CREATE INDEX setup_tokens_expires ON setup_tokens (expires_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);
CREATE INDEX admin_sessions_ended ON admin_sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX backchannel_logouts_done ON backchannel_logouts (created_at) WHERE delivered_at IS NOT NULL OR failed_at IS NOT NULL;

-- +goose Down
DROP INDEX backchannel_logouts_done;
DROP INDEX admin_sessions_ended;
DROP INDEX admin_sessions_expires;
DROP INDEX sessions_ended;
DROP INDEX sessions_expires;
DROP INDEX setup_tokens_expires;
DROP TABLE revoked_access_tokens;
DROP TABLE grants;
CREATE TABLE refresh_tokens (
    id              TEXT PRIMARY KEY,
    token_hash      BLOB NOT NULL UNIQUE,
    family_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      TEXT,
    auth_request_id TEXT,
    scopes          TEXT NOT NULL DEFAULT '[]',
    audience        TEXT NOT NULL DEFAULT '[]',
    amr             TEXT NOT NULL DEFAULT '[]',
    acr             TEXT NOT NULL DEFAULT '',
    auth_time       TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    rotated_at      TIMESTAMP,
    revoked_at      TIMESTAMP
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE TABLE access_tokens (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject          TEXT NOT NULL,
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id       TEXT,
    auth_request_id  TEXT,
    family_id        TEXT,
    scopes           TEXT NOT NULL DEFAULT '[]',
    audience         TEXT NOT NULL DEFAULT '[]',
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    revoked_at       TIMESTAMP
);
CREATE INDEX access_tokens_family ON access_tokens (family_id);
CREATE INDEX access_tokens_user ON access_tokens (user_id);
CREATE INDEX access_tokens_session ON access_tokens (session_id);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
