-- +goose Up
-- +goose StatementBegin
-- Issue 22, the user's own profile and the app launcher.
-- A client's launcher entry: where the account page sends the user
-- (launch_url), where its logo came from (logo_url) and the logo itself,
-- fetched once through internal/outbound and served from our own origin
-- (the CSP allows images from 'self' only).
ALTER TABLE clients ADD COLUMN launch_url TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN logo_url TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN logo BYTEA;
ALTER TABLE clients ADD COLUMN logo_type TEXT NOT NULL DEFAULT '';
-- The launcher lists clients with a launch URL by name.
CREATE INDEX clients_launcher ON clients (name, id) WHERE launch_url <> '';
-- A requested change of a user's email address: the new address is
-- verified by a one-time link (only its SHA-256 is stored) before it
-- replaces the old one.
CREATE TABLE email_changes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    new_email  TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX email_changes_user ON email_changes (user_id);
CREATE INDEX email_changes_expires ON email_changes (expires_at);
-- The account page's recent sign-ins: a user's newest sign_in events.
CREATE INDEX audit_events_user_type ON audit_events (user_id, type, id);
-- +goose StatementEnd

-- +goose Down
DROP INDEX audit_events_user_type;
DROP TABLE email_changes;
DROP INDEX clients_launcher;
ALTER TABLE clients DROP COLUMN logo_type;
ALTER TABLE clients DROP COLUMN logo;
ALTER TABLE clients DROP COLUMN logo_url;
ALTER TABLE clients DROP COLUMN launch_url;
