-- +goose Up
-- +goose StatementBegin
-- Lists that page (issue 18). A search is a case-insensitive prefix of the
-- username, email or display name, asked as a byte-wise range
-- (col COLLATE "C" >= p AND col COLLATE "C" < p'): under the database's
-- own collation a range is not a prefix, so these indexes are "C".
CREATE INDEX users_username_c ON users ((username COLLATE "C"));
CREATE INDEX users_email_lower ON users ((lower(email) COLLATE "C"));
CREATE INDEX users_display_name_lower ON users ((lower(display_name) COLLATE "C"));
-- The audit log pages by id, newest first, optionally filtered by type or
-- by user (user_id OR actor_id): (column, id) indexes give each filter its
-- events already in id order. They replace the single-column ones.
CREATE INDEX audit_events_user_id ON audit_events (user_id, id);
CREATE INDEX audit_events_actor_id ON audit_events (actor_id, id);
CREATE INDEX audit_events_type_id ON audit_events (type, id);
DROP INDEX audit_events_user;
DROP INDEX audit_events_type;
-- Applications page by name, then ID (names are not unique).
CREATE INDEX clients_name_id ON clients (name, id);
-- +goose StatementEnd

-- +goose Down
DROP INDEX clients_name_id;
CREATE INDEX audit_events_type ON audit_events (type);
CREATE INDEX audit_events_user ON audit_events (user_id);
DROP INDEX audit_events_type_id;
DROP INDEX audit_events_actor_id;
DROP INDEX audit_events_user_id;
DROP INDEX users_display_name_lower;
DROP INDEX users_email_lower;
DROP INDEX users_username_c;
