package models

import (
	"context"
	"fmt"
	"time"
)

// OutboxMessage is one email to send: a row of the mail outbox, written in
// the transaction of the action that causes it and sent by a background
// job (package mail). Body is opaque here: the mail package seals the text
// and HTML parts with the master key (they may carry a one-time link), and
// it is emptied once the message is sent or given up.
type OutboxMessage struct {
	ID            string `gorm:"primaryKey"`
	Kind          string // what caused it: "invitation", "passkey_added", …
	UserID        string // the account it concerns (deleting the user deletes its mail)
	Recipient     string // the address (no display name)
	Subject       string
	Body          []byte
	CreatedAt     time.Time
	NextAttemptAt time.Time
	Attempts      int64
	LastError     string
	SentAt        *time.Time
	FailedAt      *time.Time
}

// TableName is the outbox table.
func (OutboxMessage) TableName() string { return "outbox" }

// Status is "queued", "sent" or "undeliverable".
func (m *OutboxMessage) Status() string {
	switch {
	case m.SentAt != nil:
		return "sent"
	case m.FailedAt != nil:
		return "undeliverable"
	}
	return "queued"
}

// QueueMail inserts m as due now. Call it on the transaction (InTx) of
// the action that causes the message, so that the message exists exactly
// when the action committed.
func (db *MailStore) QueueMail(ctx context.Context, m *OutboxMessage) error {
	if m.ID == "" {
		m.ID = NewTimeOrderedID()
	}
	if m.UserID == "" || m.Recipient == "" || len(m.Body) == 0 {
		return fmt.Errorf("%w: a queued message needs a user, a recipient and a body", ErrInvalid)
	}
	now := db.Now().Truncate(time.Microsecond)
	m.CreatedAt, m.NextAttemptAt, m.Attempts, m.SentAt, m.FailedAt = now, now, 0, nil, nil
	if err := db.ctx(ctx).Create(m).Error; err != nil {
		return fmt.Errorf("queue mail: %w", translate(err))
	}
	return nil
}

// ClaimMail returns up to limit messages that are due, each leased to the
// caller for lease: its attempt is counted and its next attempt pushed
// back by lease in one statement, so instances sharing the database never
// send the same row at the same time, and a sender that dies mid-send
// leaves the row to be retried when the lease ends. Postgres skips rows
// another instance is claiming (FOR UPDATE SKIP LOCKED); SQLite has one
// writer, so the statement is atomic by itself.
func (db *MailStore) ClaimMail(ctx context.Context, limit int, lease time.Duration) ([]OutboxMessage, error) {
	now := db.Now().Truncate(time.Microsecond)
	lock := ""
	if db.postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	q := db.rebind(`UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1 WHERE id IN (
	SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?
	ORDER BY next_attempt_at LIMIT ?` + lock + `) RETURNING id`)
	var ids []string
	if err := db.ctx(ctx).Raw(q, now.Add(lease), now, limit).Scan(&ids).Error; err != nil {
		return nil, fmt.Errorf("claim mail: %w", translate(err))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var out []OutboxMessage
	if err := db.ctx(ctx).Where("id IN ?", ids).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("read claimed mail: %w", translate(err))
	}
	return out, nil
}

// FinishMail records the result of a delivery attempt: errMsg empty means
// sent; otherwise the next attempt is at retryAt, or the message is given
// up (undeliverable) when retryAt is zero. A sent or given-up message
// loses its body.
func (db *MailStore) FinishMail(ctx context.Context, id, errMsg string, retryAt time.Time) error {
	now := db.Now().Truncate(time.Microsecond)
	upd := map[string]any{"last_error": truncateString(errMsg, 500)}
	switch {
	case errMsg == "":
		upd["sent_at"], upd["body"] = now, []byte{}
	case retryAt.IsZero():
		upd["failed_at"], upd["body"] = now, []byte{}
	default:
		upd["next_attempt_at"] = retryAt.UTC().Truncate(time.Microsecond)
	}
	return translate(db.ctx(ctx).Model(&OutboxMessage{}).Where("id = ?", id).Updates(upd).Error)
}

// UndeliverableMail returns a page of the messages that were given up,
// oldest first (IDs are time-ordered), and whether another page follows.
func (db *MailStore) UndeliverableMail(ctx context.Context, p PageQuery) ([]OutboxMessage, bool, error) {
	if err := p.check(); err != nil {
		return nil, false, err
	}
	var rows []OutboxMessage
	q := db.ctx(ctx).Model(&OutboxMessage{}).Omit("body").Where("failed_at IS NOT NULL")
	if err := p.keyset(q, "id").Find(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("list undeliverable mail: %w", translate(err))
	}
	rows, more := cut(rows, p)
	return rows, more, nil
}

// RecentMailForUser returns the newest limit messages about a user, newest
// first, without their bodies.
func (db *MailStore) RecentMailForUser(ctx context.Context, userID string, limit int) ([]OutboxMessage, error) {
	var rows []OutboxMessage
	err := db.ctx(ctx).Omit("body").Where("user_id = ?", userID).Order("id DESC").Limit(limit).Find(&rows).Error
	return rows, translate(err)
}

// MailByID returns one message (tests, the console).
func (db *MailStore) MailByID(ctx context.Context, id string) (*OutboxMessage, error) {
	var m OutboxMessage
	if err := db.ctx(ctx).First(&m, "id = ?", id).Error; err != nil {
		return nil, fmt.Errorf("mail %s: %w", id, translate(err))
	}
	return &m, nil
}

// resealOutbox re-seals the bodies of unsent messages (master-key rotate);
// the additional data of a body is its row ID.
func (db *DB) resealOutbox(ctx context.Context, oldS, newS *Sealer) (int, error) {
	var rows []OutboxMessage
	if err := db.ctx(ctx).Where("sent_at IS NULL AND failed_at IS NULL").Find(&rows).Error; err != nil {
		return 0, translate(err)
	}
	for _, r := range rows {
		pt, err := oldS.Open(r.Body, []byte(r.ID))
		if err != nil {
			return 0, fmt.Errorf("open queued mail %s with the old master key: %w", r.ID, err)
		}
		if err := db.ctx(ctx).Model(&OutboxMessage{}).Where("id = ?", r.ID).
			Update("body", newS.Seal(pt, []byte(r.ID))).Error; err != nil {
			return 0, translate(err)
		}
	}
	return len(rows), nil
}

// UsersByEmail returns up to limit users whose address is email, compared
// without case (self-service recovery), on the index of lower(email).
func (db *MailStore) UsersByEmail(ctx context.Context, email string, limit int) ([]User, error) {
	var out []User
	err := db.ctx(ctx).Where("lower(email) = lower(?)", email).Order("lower(email), username").Limit(limit).Find(&out).Error
	return out, translate(err)
}
