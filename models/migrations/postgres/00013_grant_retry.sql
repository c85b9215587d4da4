-- +goose Up
-- +goose StatementBegin
-- A grant remembers whether its last rotation answered a retry within the
-- refresh reuse grace (oidc RefreshReuseGrace): such a rotation is not
-- retried again, so two holders of one family cannot hand it back and
-- forth, and the reuse that follows revokes the family.
ALTER TABLE grants ADD COLUMN retried BOOLEAN NOT NULL DEFAULT FALSE;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE grants DROP COLUMN retried;
