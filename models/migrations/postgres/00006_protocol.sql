-- +goose Up
-- +goose StatementBegin
-- Protocol breadth (issue 5): client settings, back-channel logout outbox,
-- consent and the device authorization grant.

-- backchannel_logout_uri: OIDC Back-Channel Logout 1.0 receiver ('' none).
-- skip_consent: first-party application, no consent screen.
-- access_token_audience: JSON array of audiences (resource indicators) the
-- client may ask for in the client credentials grant; the first is the
-- default. jwks: the client's public JWK Set (JSON) for private_key_jwt
-- client authentication ('' none).
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN skip_consent BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN access_token_audience TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';

-- The clients a browser session signed in to (recorded when a code or a
-- device grant is issued): back-channel logout notifies each of them.
CREATE TABLE session_clients (
    session_id TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, client_id)
);

-- Outbox of back-channel logout tokens to deliver, written in the same
-- transaction that ends a session; a background job on any instance
-- delivers them with retries (claimed_until is its lease on a row).
CREATE TABLE backchannel_logouts (
    id              TEXT PRIMARY KEY,
    session_id      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ
);
CREATE INDEX backchannel_logouts_due ON backchannel_logouts (next_attempt_at);

-- A signed-in auth request waiting for the user's consent: op issues no
-- code until the consent page clears the flag.
ALTER TABLE auth_requests ADD COLUMN consent_pending BOOLEAN NOT NULL DEFAULT FALSE;

-- Consent a user gave to an application (the scopes granted).
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Device authorization grant (RFC 8628). Only the hash of the device code
-- is stored; the user code is low entropy and short lived.
CREATE TABLE device_authorizations (
    id               TEXT PRIMARY KEY,
    device_code_hash BYTEA NOT NULL UNIQUE,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes           TEXT NOT NULL DEFAULT '[]',
    state            TEXT NOT NULL DEFAULT 'pending',
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id       TEXT,
    auth_time        TIMESTAMPTZ,
    amr              TEXT NOT NULL DEFAULT '[]',
    acr              TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    last_polled_at   TIMESTAMPTZ,
    redeemed_at      TIMESTAMPTZ
);
CREATE INDEX device_authorizations_expires ON device_authorizations (expires_at);
-- +goose StatementEnd

-- +goose Down
DROP TABLE device_authorizations;
DROP TABLE consents;
ALTER TABLE auth_requests DROP COLUMN consent_pending;
DROP TABLE backchannel_logouts;
DROP TABLE session_clients;
ALTER TABLE clients DROP COLUMN jwks;
ALTER TABLE clients DROP COLUMN access_token_audience;
ALTER TABLE clients DROP COLUMN skip_consent;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
