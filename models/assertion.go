package models

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ClientAssertion records the jti of a used private_key_jwt assertion.
type ClientAssertion struct {
	ClientID  string `gorm:"primaryKey"`
	JTI       string `gorm:"primaryKey;column:jti"`
	ExpiresAt time.Time
}

// UseClientAssertion records that the assertion jti of clientID was used;
// it returns ErrConflict if it was used before (a replay). The row lives
// until the assertion expires.
func (db *ClientStore) UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	err := db.ctx(ctx).Create(&ClientAssertion{ClientID: clientID, JTI: jti, ExpiresAt: expiresAt.UTC()}).Error
	if err := translate(err); errors.Is(err, ErrConflict) {
		return fmt.Errorf("client assertion already used: %w", ErrConflict)
	} else if err != nil {
		return err
	}
	return nil
}
