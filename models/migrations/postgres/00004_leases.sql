-- +goose Up
-- +goose StatementBegin
-- Leases make a background job run on one instance at a time: a row is
-- held by holder until expires_at (see models/lease.go).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
-- +goose StatementEnd

-- +goose Down
DROP TABLE leases;
