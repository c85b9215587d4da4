package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Ceremony kinds.
const (
	CeremonyRegistration = "registration"
	CeremonyLogin        = "login"
)

// Ceremony is the server-side state of a WebAuthn ceremony (the serialized
// go-webauthn SessionData). It is consumed exactly once.
type Ceremony struct {
	ID            string `gorm:"primaryKey"`
	Kind          string
	UserID        *string
	AuthRequestID *string
	SetupTokenID  *string
	SessionData   []byte
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// CreateCeremony stores c; ID defaults to a random token.
func (db *CeremonyStore) CreateCeremony(ctx context.Context, c *Ceremony) error {
	if c.ID == "" {
		c.ID = NewToken()
	}
	return translate(db.ctx(ctx).Create(c).Error)
}

// ConsumeCeremony atomically deletes and returns the ceremony (DELETE …
// RETURNING), so a challenge can be answered at most once even across
// instances. Errors: ErrNotFound (unknown, already used, or of another
// kind), ErrExpired (it existed but had expired; it is gone now too).
func (db *CeremonyStore) ConsumeCeremony(ctx context.Context, id, kind string) (*Ceremony, error) {
	var rows []Ceremony
	res := db.ctx(ctx).Clauses(clause.Returning{}).Where("id = ? AND kind = ?", id, kind).Delete(&rows)
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("ceremony: %w", ErrNotFound)
	}
	c := rows[0]
	if !db.Now().Before(c.ExpiresAt) {
		return nil, fmt.Errorf("ceremony: %w", ErrExpired)
	}
	return &c, nil
}
