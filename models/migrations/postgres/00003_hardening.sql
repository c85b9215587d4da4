-- +goose Up
-- +goose StatementBegin
-- Fixed-window rate-limit counters shared by every instance: one row per
-- (route group, client IP); window_end is a Unix time in seconds.
CREATE TABLE rate_limit_buckets (
    bucket     TEXT PRIMARY KEY,
    window_end BIGINT NOT NULL,
    count      BIGINT NOT NULL
);
CREATE INDEX rate_limit_buckets_window_end ON rate_limit_buckets (window_end);
-- +goose StatementEnd

-- +goose Down
DROP TABLE rate_limit_buckets;
