-- +goose Up
-- +goose StatementBegin
-- Start-up asks whether an admin can sign in (idp.BootstrapAdmin) without
-- reading every user: admins are few, so a partial index holds only them.
CREATE INDEX idx_users_admins ON users (username) WHERE is_admin;
-- +goose StatementEnd

-- +goose Down
DROP INDEX idx_users_admins;
