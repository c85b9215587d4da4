package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SetupToken is a one-time link that lets a user create a passkey. Only the
// hash of the token is stored.
type SetupToken struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	TokenHash []byte
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// CreateSetupToken issues a new setup token for the user, valid for ttl,
// and invalidates the user's earlier unused tokens (the newest link is the
// only one that works). It returns the raw token, shown once.
func (db *CredentialStore) CreateSetupToken(ctx context.Context, userID string, ttl time.Duration, createdBy string) (string, *SetupToken, error) {
	if ttl <= 0 {
		return "", nil, fmt.Errorf("%w: setup link lifetime must be positive", ErrInvalid)
	}
	raw := NewToken()
	now := db.Now()
	st := &SetupToken{ID: NewUUID(), UserID: userID, TokenHash: HashToken(raw), CreatedBy: createdBy, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&SetupToken{}).Where("user_id = ? AND used_at IS NULL", userID).Update("expires_at", now).Error; err != nil {
			return err
		}
		return tx.Create(st).Error
	})
	if err != nil {
		return "", nil, fmt.Errorf("create setup token: %w", translate(err))
	}
	return raw, st, nil
}

// SetupTokenByRaw returns the valid (unused, unexpired) setup token for raw.
// Errors: ErrNotFound (unknown or already used), ErrExpired.
func (db *CredentialStore) SetupTokenByRaw(ctx context.Context, raw string) (*SetupToken, error) {
	var st SetupToken
	if err := db.ctx(ctx).First(&st, "token_hash = ?", HashToken(raw)).Error; err != nil {
		return nil, fmt.Errorf("setup link: %w", translate(err))
	}
	if st.UsedAt != nil {
		return nil, fmt.Errorf("setup link already used: %w", ErrNotFound)
	}
	if !db.Now().Before(st.ExpiresAt) {
		return nil, fmt.Errorf("setup link: %w", ErrExpired)
	}
	return &st, nil
}

// consumeSetupTokenTx marks the token used if it is still valid; exactly one
// caller can succeed.
func (db *CredentialStore) consumeSetupTokenTx(tx *gorm.DB, id string) error {
	now := db.Now()
	res := tx.Model(&SetupToken{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", id, now).Update("used_at", now)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("setup link already used or expired: %w", ErrExpired)
	}
	return verifySignupTx(tx, id, now) // signup.go
}

// AddCredentialWithSetupToken stores a new passkey and, when setupTokenID is
// not empty, consumes that setup token in the same transaction: the passkey
// is stored only if the link was still unused and unexpired.
func (db *CredentialStore) AddCredentialWithSetupToken(ctx context.Context, c *Credential, setupTokenID string) error {
	if c.ID == "" {
		c.ID = NewUUID()
	}
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if setupTokenID != "" {
			if err := db.consumeSetupTokenTx(tx, setupTokenID); err != nil {
				return err
			}
		}
		if err := tx.Omit(clause.Associations).Create(c).Error; err != nil {
			return err
		}
		return db.credentialChanged(ctx, tx, CredentialChange{Added: true, Credential: *c})
	})
	if err != nil {
		if errors.Is(err, ErrExpired) {
			return err
		}
		return fmt.Errorf("add credential: %w", translate(err))
	}
	return nil
}
