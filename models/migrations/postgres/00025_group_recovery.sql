-- +goose Up
-- +goose StatementBegin
-- A group whose members may not recover their account by email (issue
-- 22): admins, for example, whose accounts are worth more than a mailbox.
ALTER TABLE groups ADD COLUMN recovery_disabled BOOLEAN NOT NULL DEFAULT FALSE;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE groups DROP COLUMN recovery_disabled;
