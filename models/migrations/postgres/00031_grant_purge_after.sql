-- +goose Up
-- +goose StatementBegin
-- Rotation without index churn (issue 18, "Postgres at full speed").
-- Every refresh moved expires_at, an indexed column, so every rotation
-- was a non-HOT update: a new heap tuple on another page and a new entry
-- in each of the grants' six indexes, dead ones left for vacuum.
-- The purge now finds expired grants through purge_after, a coarse upper
-- bound that a rotation moves only when expires_at passes it (then to
-- expires_at + GrantPurgeSlack, an hour): an update that changes no
-- indexed column and fits its page is a heap-only tuple update
-- (storage/heap/README.HOT), which is what rotation becomes.
-- Invariant: expires_at <= purge_after <= expires_at + GrantPurgeSlack.
ALTER TABLE grants ADD COLUMN purge_after TIMESTAMPTZ NOT NULL DEFAULT 'epoch';
UPDATE grants SET purge_after = expires_at;
CREATE INDEX grants_purge_after ON grants (purge_after);
DROP INDEX grants_expires;
-- Room on each page for the next version of its rows (HOT needs the new
-- tuple on the same page).
ALTER TABLE grants SET (fillfactor = 80);
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
ALTER TABLE grants RESET (fillfactor);
CREATE INDEX grants_expires ON grants (expires_at);
DROP INDEX grants_purge_after;
ALTER TABLE grants DROP COLUMN purge_after;
-- +goose StatementEnd
