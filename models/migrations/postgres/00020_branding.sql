-- +goose Up
-- +goose StatementBegin
-- The installation's branding (issue 23): one row (id = 1) with the product
-- name, the accent colour and the logo and favicon images, served from our
-- own origin. Absent or empty values mean Latchkey's own.
CREATE TABLE branding (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    product_name TEXT NOT NULL DEFAULT '',
    accent       TEXT NOT NULL DEFAULT '',
    logo         BYTEA,
    logo_type    TEXT NOT NULL DEFAULT '',
    favicon      BYTEA,
    favicon_type TEXT NOT NULL DEFAULT '',
    updated_at   TIMESTAMPTZ NOT NULL
);
-- +goose StatementEnd

-- +goose Down
DROP TABLE branding;
