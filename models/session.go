package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Session is a browser session at Latchkey. ID is the OIDC sid; the cookie
// holds a random token of which only the hash is stored.
type Session struct {
	ID           string `gorm:"primaryKey"`
	TokenHash    []byte
	UserID       string
	CredentialID *string // the passkey (Credential.ID) that started it
	AuthTime     time.Time
	AMR          StringList `gorm:"column:amr"`
	ACR          string     `gorm:"column:acr"`
	UserAgent    string
	IP           string `gorm:"column:ip"`
	CreatedAt    time.Time
	LastSeenAt   time.Time
	ExpiresAt    time.Time
	EndedAt      *time.Time
}

// CreateSession stores s and returns the raw cookie token.
func (db *SessionStore) CreateSession(ctx context.Context, s *Session, ttl time.Duration) (string, error) {
	raw := NewToken()
	now := db.Now()
	if s.ID == "" {
		s.ID = NewUUID()
	}
	s.TokenHash = HashToken(raw)
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = now, now, now.Add(ttl)
	if _, err := db.rawExec(ctx, db.rawPool(true), insertSessionSQL, sessionArgs(s)...); err != nil { // raw.go
		return "", fmt.Errorf("create session: %w", err)
	}
	return raw, nil
}

// ActiveSession returns the session for a cookie token if it has not ended
// or expired and its user is enabled. Errors: ErrNotFound.
func (db *SessionStore) ActiveSession(ctx context.Context, raw string) (*Session, error) {
	var s Session
	err := db.ctx(ctx).Joins("JOIN users ON users.id = sessions.user_id").
		Where("sessions.token_hash = ? AND sessions.ended_at IS NULL AND sessions.expires_at > ? AND users.disabled = ?", HashToken(raw), db.Now(), false).
		First(&s).Error
	if err != nil {
		return nil, fmt.Errorf("session: %w", translate(err))
	}
	return &s, nil
}

// SessionByID loads a session in any state.
func (db *SessionStore) SessionByID(ctx context.Context, id string) (*Session, error) {
	var s Session
	if err := db.ctx(ctx).First(&s, "id = ?", id).Error; err != nil {
		return nil, fmt.Errorf("session %q: %w", id, translate(err))
	}
	return &s, nil
}

// SessionsByUser lists a user's sessions that have not ended or expired.
func (db *SessionStore) SessionsByUser(ctx context.Context, userID string) ([]Session, error) {
	var ss []Session
	err := db.ctx(ctx).Where("user_id = ? AND ended_at IS NULL AND expires_at > ?", userID, db.Now()).Order("created_at DESC").Find(&ss).Error
	return ss, translate(err)
}

// EndSession ends a session and revokes the refresh and access tokens
// issued under it, at once.
func (db *SessionStore) EndSession(ctx context.Context, id string) error {
	return db.transaction(ctx, func(tx *gorm.DB) error { return db.endSessionTx(tx, id) })
}

func (db *conn) endSessionTx(tx *gorm.DB, id string) error {
	now := db.Now()
	res := tx.Model(&Session{}).Where("id = ? AND ended_at IS NULL", id).Update("ended_at", now)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected > 0 {
		if err := db.queueBackchannelTx(tx, []string{id}); err != nil { // backchannel.go
			return err
		}
	}
	return translate(revokeGrantsTx(tx, "session_id = ?", id)) // grant.go
}

// EndUserSessions ends every session of a user (and their tokens).
func (db *SessionStore) EndUserSessions(ctx context.Context, userID string) error {
	return db.transaction(ctx, func(tx *gorm.DB) error { return db.revokeUserTx(tx, userID) })
}

// TouchSession records activity on a session.
func (db *SessionStore) TouchSession(ctx context.Context, id string) error {
	return translate(db.ctx(ctx).Model(&Session{}).Where("id = ?", id).Update("last_seen_at", db.Now()).Error)
}

// ReauthenticateSession records a fresh sign-in on an existing session of
// the same user (prompt=login, max_age, a step-up of acr) and returns the
// session's new raw cookie token: the old token stops working at once.
// Renewing the token at every authentication is what defeats session
// fixation (OWASP Session Management Cheat Sheet, "Renew the Session ID
// After Any Privilege Level Change"): whoever knew or planted the old
// cookie does not inherit the new sign-in. The sid (ID) stays, because the
// applications the session signed in to hold it for back-channel logout;
// it is no credential. The auth time, AMR, ACR and passkey are replaced
// and the expiry is extended. Errors: ErrNotFound when the session ended.
func (db *SessionStore) ReauthenticateSession(ctx context.Context, id, credentialID string, amr []string, acr string, authTime time.Time, ttl time.Duration) (string, error) {
	now := db.Now()
	raw := NewToken()
	res := db.ctx(ctx).Model(&Session{}).Where("id = ? AND ended_at IS NULL", id).Updates(map[string]any{
		"token_hash": HashToken(raw), "auth_time": authTime.UTC(), "amr": StringList(amr), "acr": acr, "credential_id": credentialID,
		"last_seen_at": now, "expires_at": now.Add(ttl),
	})
	if res.Error != nil {
		return "", translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return "", fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	return raw, nil
}
