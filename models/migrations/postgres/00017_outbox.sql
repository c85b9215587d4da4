-- +goose Up
-- +goose StatementBegin
-- The mail outbox (models/outbox.go): a message is written in the
-- transaction of the action that causes it (an invitation, a passkey
-- added or removed) and sent by a background job on any instance, which
-- claims due rows atomically (FOR UPDATE SKIP LOCKED), retries with
-- backoff and gives up after a number of attempts (failed_at). body is
-- the text and HTML parts sealed with the master key (they may carry a
-- one-time link) and is emptied once the message is sent or given up.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    sent_at         TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX outbox_failed ON outbox (failed_at) WHERE failed_at IS NOT NULL;
CREATE INDEX outbox_failed_list ON outbox (id) WHERE failed_at IS NOT NULL;
CREATE INDEX outbox_user ON outbox (user_id);
-- +goose StatementEnd

-- +goose Down
DROP TABLE outbox;
