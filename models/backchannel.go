package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// SessionClient records that a browser session signed in to a client, so
// ending the session can notify the client (back-channel logout).
type SessionClient struct {
	SessionID string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	CreatedAt time.Time
}

// BackchannelLogout is one logout token to deliver to a client: a row of
// the outbox written in the transaction that ended the session.
type BackchannelLogout struct {
	ID            string `gorm:"primaryKey"`
	SessionID     string
	Subject       string
	ClientID      string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	Attempts      int64
	LastError     string
	DeliveredAt   *time.Time
	FailedAt      *time.Time
}

// RecordSessionClient notes that sessionID signed in to clientID
// (idempotent).
func (db *SessionStore) RecordSessionClient(ctx context.Context, sessionID, clientID string) error {
	if sessionID == "" {
		return nil
	}
	_, err := db.rawExec(ctx, db.rawPool(true), "INSERT INTO session_clients (session_id, client_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		sessionID, clientID, db.Now()) // raw.go
	return err
}

// queueBackchannelTx writes one outbox row per (session, client with a
// back-channel logout URI) for sessions that are being ended in tx. It
// runs in the ending transaction, so a logout is never lost between ending
// the session and notifying the clients.
func (db *conn) queueBackchannelTx(tx *gorm.DB, sessionIDs []string) error {
	if len(sessionIDs) == 0 {
		return nil
	}
	var rows []struct {
		SessionID string
		UserID    string
		ClientID  string
	}
	err := tx.Table("session_clients").
		Select("session_clients.session_id, sessions.user_id, session_clients.client_id").
		Joins("JOIN sessions ON sessions.id = session_clients.session_id").
		Joins("JOIN clients ON clients.id = session_clients.client_id").
		Where("session_clients.session_id IN ? AND clients.backchannel_logout_uri <> ''", sessionIDs).
		Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("find back-channel logout receivers: %w", translate(err))
	}
	now := db.Now().Truncate(time.Microsecond) // equality-compared later; Postgres keeps µs
	for _, r := range rows {
		bl := &BackchannelLogout{ID: NewUUID(), SessionID: r.SessionID, Subject: r.UserID, ClientID: r.ClientID,
			CreatedAt: now, NextAttemptAt: now}
		if err := tx.Create(bl).Error; err != nil {
			return fmt.Errorf("queue back-channel logout: %w", translate(err))
		}
	}
	return nil
}

// ClaimBackchannelLogouts returns up to limit undelivered logouts that are
// due, each leased to the caller for lease (its next attempt is pushed
// back), so instances never deliver the same row at the same time.
func (db *SessionStore) ClaimBackchannelLogouts(ctx context.Context, limit int, lease time.Duration) ([]BackchannelLogout, error) {
	now := db.Now().Truncate(time.Microsecond) // equality-compared later; Postgres keeps µs
	var due []BackchannelLogout
	err := db.ctx(ctx).Where("delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?", now).
		Order("next_attempt_at").Limit(limit).Find(&due).Error
	if err != nil {
		return nil, translate(err)
	}
	out := due[:0]
	for _, bl := range due {
		res := db.ctx(ctx).Model(&BackchannelLogout{}).
			Where("id = ? AND next_attempt_at = ? AND delivered_at IS NULL", bl.ID, bl.NextAttemptAt).
			Updates(map[string]any{"next_attempt_at": now.Add(lease), "attempts": bl.Attempts + 1})
		if res.Error != nil {
			return nil, translate(res.Error)
		}
		if res.RowsAffected == 1 {
			bl.Attempts++
			out = append(out, bl)
		}
	}
	return out, nil
}

// FinishBackchannelLogout records the result of a delivery attempt: err
// empty means delivered; otherwise the next attempt is at retryAt, or the
// delivery is abandoned when retryAt is zero.
func (db *SessionStore) FinishBackchannelLogout(ctx context.Context, id, errMsg string, retryAt time.Time) error {
	now := db.Now().Truncate(time.Microsecond) // equality-compared later; Postgres keeps µs
	upd := map[string]any{"last_error": truncateString(errMsg, 500)}
	switch {
	case errMsg == "":
		upd["delivered_at"] = now
	case retryAt.IsZero():
		upd["failed_at"] = now
	default:
		upd["next_attempt_at"] = retryAt.UTC().Truncate(time.Microsecond)
	}
	return translate(db.ctx(ctx).Model(&BackchannelLogout{}).Where("id = ?", id).Updates(upd).Error)
}

// BackchannelLogoutsBySession lists the outbox rows of a session (tests,
// admin views).
func (db *SessionStore) BackchannelLogoutsBySession(ctx context.Context, sessionID string) ([]BackchannelLogout, error) {
	var out []BackchannelLogout
	return out, translate(db.ctx(ctx).Where("session_id = ?", sessionID).Order("created_at").Find(&out).Error)
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
