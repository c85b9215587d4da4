-- +goose Up
-- Pushed authorization requests (RFC 9126): the parameters a client
-- posted to the PAR endpoint, until /authorize consumes them once or they
-- expire (60 s). id_hash is the SHA-256 of the request_uri's random part.
CREATE TABLE pushed_requests (
    id_hash    BLOB PRIMARY KEY,
    client_id  TEXT NOT NULL,
    params     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX pushed_requests_expires ON pushed_requests (expires_at);
-- A client whose authorization requests must come through PAR (RFC 9126 §6).
ALTER TABLE clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE clients DROP COLUMN require_par;
DROP TABLE pushed_requests;
