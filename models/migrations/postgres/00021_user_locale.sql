-- +goose Up
-- +goose StatementBegin
-- The user's preferred language (issue 23): a BCP 47 tag of a shipped
-- language ("en", "de", "fr"), or '' when the user never chose one.
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT '';
-- +goose StatementEnd

-- +goose Down
ALTER TABLE users DROP COLUMN locale;
