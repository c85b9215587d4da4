-- +goose Up
-- +goose StatementBegin
-- jti of every private_key_jwt client assertion used, until it expires, so
-- an assertion authenticates at most once (OpenID Connect Core §9).
CREATE TABLE client_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expires ON client_assertions (expires_at);
-- +goose StatementEnd

-- +goose Down
DROP TABLE client_assertions;
