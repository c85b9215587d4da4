-- +goose Up
-- Rotation without index churn (issue 18): every refresh moved
-- expires_at, so every rotation also rewrote the grants_expires index.
-- The purge now finds expired grants through purge_after, a coarse upper
-- bound that a rotation moves only when expires_at passes it (then to
-- expires_at + GrantPurgeSlack, an hour). See the Postgres migration
-- for why this matters most there (HOT updates).
-- Invariant: expires_at <= purge_after <= expires_at + GrantPurgeSlack.
ALTER TABLE grants ADD COLUMN purge_after TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00+00:00';
UPDATE grants SET purge_after = expires_at;
CREATE INDEX grants_purge_after ON grants (purge_after);
DROP INDEX grants_expires;

-- +goose Down
CREATE INDEX grants_expires ON grants (expires_at);
DROP INDEX grants_purge_after;
ALTER TABLE grants DROP COLUMN purge_after;
