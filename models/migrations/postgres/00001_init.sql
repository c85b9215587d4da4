-- +goose Up
-- +goose StatementBegin
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    webauthn_id    BYTEA NOT NULL UNIQUE,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT NOT NULL DEFAULT '',
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    display_name   TEXT NOT NULL DEFAULT '',
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    is_admin       BOOLEAN NOT NULL DEFAULT FALSE,
    custom_claims  TEXT NOT NULL DEFAULT '{}',
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_email ON users (email);

CREATE TABLE groups (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_groups (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_groups_group ON user_groups (group_id);

CREATE TABLE credentials (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id      BYTEA NOT NULL UNIQUE,
    public_key         BYTEA NOT NULL,
    attestation_type   TEXT NOT NULL DEFAULT '',
    attestation_format TEXT NOT NULL DEFAULT '',
    aaguid             BYTEA,
    transports         TEXT NOT NULL DEFAULT '[]',
    user_present       BOOLEAN NOT NULL DEFAULT FALSE,
    user_verified      BOOLEAN NOT NULL DEFAULT FALSE,
    backup_eligible    BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state       BOOLEAN NOT NULL DEFAULT FALSE,
    sign_count         BIGINT NOT NULL DEFAULT 0,
    clone_warning      BOOLEAN NOT NULL DEFAULT FALSE,
    name               TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL,
    last_used_at       TIMESTAMPTZ
);
CREATE INDEX credentials_user ON credentials (user_id);

CREATE TABLE setup_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL UNIQUE,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX setup_tokens_user ON setup_tokens (user_id);

CREATE TABLE ceremonies (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    auth_request_id TEXT,
    setup_token_id  TEXT,
    session_data    BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX ceremonies_expires ON ceremonies (expires_at);

CREATE TABLE clients (
    id                        TEXT PRIMARY KEY,
    secret_hash               BYTEA,
    name                      TEXT NOT NULL,
    public                    BOOLEAN NOT NULL DEFAULT FALSE,
    redirect_uris             TEXT NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    allowed_scopes            TEXT NOT NULL DEFAULT '[]',
    id_token_alg              TEXT NOT NULL DEFAULT 'RS256',
    access_token_format       TEXT NOT NULL DEFAULT 'jwt',
    access_token_ttl          BIGINT NOT NULL DEFAULT 0,
    id_token_ttl              BIGINT NOT NULL DEFAULT 0,
    refresh_token_ttl         BIGINT NOT NULL DEFAULT 0,
    builtin                   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                TIMESTAMPTZ NOT NULL,
    updated_at                TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    token_hash    BYTEA NOT NULL UNIQUE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT,
    auth_time     TIMESTAMPTZ NOT NULL,
    amr           TEXT NOT NULL DEFAULT '[]',
    acr           TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE auth_requests (
    id                    TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL,
    state                 TEXT NOT NULL DEFAULT '',
    nonce                 TEXT NOT NULL DEFAULT '',
    scopes                TEXT NOT NULL DEFAULT '[]',
    response_type         TEXT NOT NULL,
    response_mode         TEXT NOT NULL DEFAULT '',
    code_challenge        TEXT NOT NULL DEFAULT '',
    code_challenge_method TEXT NOT NULL DEFAULT '',
    prompt                TEXT NOT NULL DEFAULT '[]',
    max_age               BIGINT,
    login_hint            TEXT NOT NULL DEFAULT '',
    acr_values            TEXT NOT NULL DEFAULT '[]',
    ui_locales            TEXT NOT NULL DEFAULT '',
    user_id               TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id            TEXT,
    auth_time             TIMESTAMPTZ,
    amr                   TEXT NOT NULL DEFAULT '[]',
    acr                   TEXT NOT NULL DEFAULT '',
    done                  BOOLEAN NOT NULL DEFAULT FALSE,
    code_hash             BYTEA UNIQUE,
    code_expires_at       TIMESTAMPTZ,
    code_used_at          TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

CREATE TABLE refresh_tokens (
    id              TEXT PRIMARY KEY,
    token_hash      BYTEA NOT NULL UNIQUE,
    family_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      TEXT,
    auth_request_id TEXT,
    scopes          TEXT NOT NULL DEFAULT '[]',
    audience        TEXT NOT NULL DEFAULT '[]',
    amr             TEXT NOT NULL DEFAULT '[]',
    acr             TEXT NOT NULL DEFAULT '',
    auth_time       TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    rotated_at      TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
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
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    revoked_at       TIMESTAMPTZ
);
CREATE INDEX access_tokens_family ON access_tokens (family_id);
CREATE INDEX access_tokens_user ON access_tokens (user_id);
CREATE INDEX access_tokens_session ON access_tokens (session_id);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

CREATE TABLE signing_keys (
    id              TEXT PRIMARY KEY,
    algorithm       TEXT NOT NULL,
    private_key_enc BYTEA NOT NULL,
    public_key      BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    activates_at    TIMESTAMPTZ NOT NULL,
    retires_at      TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ
);

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value_enc  BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    type       TEXT NOT NULL,
    success    BOOLEAN NOT NULL DEFAULT TRUE,
    user_id    TEXT NOT NULL DEFAULT '',
    actor_id   TEXT NOT NULL DEFAULT '',
    client_id  TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_created ON audit_events (created_at);
CREATE INDEX audit_events_user ON audit_events (user_id);
CREATE INDEX audit_events_type ON audit_events (type);
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_events;
DROP TABLE secrets;
DROP TABLE signing_keys;
DROP TABLE access_tokens;
DROP TABLE refresh_tokens;
DROP TABLE auth_requests;
DROP TABLE sessions;
DROP TABLE clients;
DROP TABLE ceremonies;
DROP TABLE setup_tokens;
DROP TABLE credentials;
DROP TABLE user_groups;
DROP TABLE groups;
DROP TABLE users;
