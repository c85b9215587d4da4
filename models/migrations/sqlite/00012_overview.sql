-- +goose Up
-- The console overview counts without reading whole tables: disabled
-- users are few (a partial index holds them), and sign-ins per day are
-- ranges of (type, success, created_at).
CREATE INDEX users_disabled ON users (id) WHERE disabled;
CREATE INDEX audit_events_type_day ON audit_events (type, success, created_at);

-- +goose Down
DROP INDEX audit_events_type_day;
DROP INDEX users_disabled;
