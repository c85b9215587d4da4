-- +goose Up
-- Self-service sign-up (issue 22). A sign-up link (invite policy) lets up
-- to max_uses people sign up until expires_at; only the SHA-256 of its
-- token is stored. A sign-up is an account created by the sign-up page
-- that waits for its owner to open the verification link sent to its
-- address (a setup link) and create the first passkey; an unverified one
-- is purged with its account when its link expires.
CREATE TABLE signup_links (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    max_uses   INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX signup_links_created ON signup_links (created_at, id);
CREATE INDEX signup_links_expires ON signup_links (expires_at);
CREATE TABLE signups (
    user_id        TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    signup_link_id TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    verified_at    TIMESTAMP
);
CREATE INDEX signups_pending ON signups (expires_at) WHERE verified_at IS NULL;
CREATE INDEX signups_verified ON signups (verified_at) WHERE verified_at IS NOT NULL;
CREATE INDEX signup_links_revoked ON signup_links (revoked_at) WHERE revoked_at IS NOT NULL;
-- The purge deletes the account of an expired unverified sign-up; its
-- foreign keys cascade into these short-lived tables, which had no index
-- on user_id, so each deleted account scanned them (as deleting any
-- account from the console or SCIM did). Rows that name no user (most
-- ceremonies and pending requests) stay out of the index.
CREATE INDEX auth_requests_user ON auth_requests (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX ceremonies_user ON ceremonies (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX device_authorizations_user ON device_authorizations (user_id) WHERE user_id IS NOT NULL;

-- +goose Down
DROP INDEX device_authorizations_user;
DROP INDEX ceremonies_user;
DROP INDEX auth_requests_user;
DROP TABLE signups;
DROP TABLE signup_links;
