-- +goose Up
-- +goose StatementBegin
-- Passkey policy (issue 7). attestation_verified: the attestation statement
-- chained to a FIDO metadata trust anchor at registration. policy_flagged_at:
-- when the passkey was first found not to satisfy its owner's policy; it is
-- refused at sign-in once the grace period after that has passed.
ALTER TABLE credentials ADD COLUMN attestation_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE credentials ADD COLUMN policy_flagged_at TIMESTAMPTZ;

-- Per-group overrides of the global passkey policy; the strictest applies.
-- The AAGUID lists are JSON arrays; an empty allow list restricts nothing.
CREATE TABLE group_policies (
    group_id     TEXT PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,
    level        TEXT NOT NULL,
    aaguid_allow TEXT NOT NULL DEFAULT '[]',
    aaguid_deny  TEXT NOT NULL DEFAULT '[]',
    updated_at   TIMESTAMPTZ NOT NULL
);

-- FIDO MDS3 blobs imported offline (latchkey mds import); the highest
-- serial is the one in use.
CREATE TABLE mds_blobs (
    serial       BIGINT PRIMARY KEY,
    next_update  TIMESTAMPTZ NOT NULL,
    imported_at  TIMESTAMPTZ NOT NULL,
    entries      BIGINT NOT NULL DEFAULT 0,
    legal_header TEXT NOT NULL DEFAULT '',
    blob         BYTEA NOT NULL
);
-- +goose StatementEnd

-- +goose Down
DROP TABLE mds_blobs;
DROP TABLE group_policies;
ALTER TABLE credentials DROP COLUMN policy_flagged_at;
ALTER TABLE credentials DROP COLUMN attestation_verified;
