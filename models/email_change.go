package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// EmailChange is a user's request to change their email address (issue
// 22): the new address is sent a one-time link, of which only the SHA-256
// is stored; following it replaces the address (email_verified then
// true). A user has at most one pending change: a new request ends the
// earlier ones.
type EmailChange struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	NewEmail  string
	TokenHash []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// ErrUsed is returned for a one-time link that was already followed.
var ErrUsed = errors.New("already used")

// ErrUserDisabled means the link belongs to a disabled account, which changes
// nothing until an admin enables it again.
var ErrUserDisabled = errors.New("the account is disabled")

// CreateEmailChange records a request by userID to change their address
// to newEmail (checked with CheckEmail, not empty), valid for ttl, and
// ends the user's earlier pending requests. It returns the raw token (for
// the link only) and the row. Errors: ErrInvalid.
func (db *UserStore) CreateEmailChange(ctx context.Context, userID, newEmail string, ttl time.Duration) (string, *EmailChange, error) {
	addr, err := CheckEmail(newEmail)
	if err != nil {
		return "", nil, err
	}
	if addr == "" {
		return "", nil, fmt.Errorf("%w: the new email address is empty", ErrInvalid)
	}
	if ttl <= 0 {
		return "", nil, fmt.Errorf("%w: an email change link's lifetime must be positive", ErrInvalid)
	}
	raw := NewToken()
	now := db.Now()
	ec := &EmailChange{ID: NewUUID(), UserID: userID, NewEmail: addr, TokenHash: HashToken(raw), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err = db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&EmailChange{}).Where("user_id = ? AND used_at IS NULL AND expires_at > ?", userID, now).
			Update("expires_at", now).Error; err != nil {
			return err
		}
		return tx.Create(ec).Error
	})
	if err != nil {
		return "", nil, fmt.Errorf("create email change: %w", translate(err))
	}
	return raw, ec, nil
}

// ConfirmEmailChange follows the link of raw: in one transaction it marks
// the request used and sets the user's address to the new one, verified.
// Exactly one caller can succeed. It returns the request and the old
// address. Errors: ErrNotFound (unknown link), ErrUsed, ErrExpired (also
// for a request a newer one replaced), ErrUserDisabled (nothing changes;
// the link still works once the account is enabled, until it expires).
func (db *UserStore) ConfirmEmailChange(ctx context.Context, raw string) (ec *EmailChange, oldEmail string, err error) {
	ec = &EmailChange{}
	err = db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.First(ec, "token_hash = ?", HashToken(raw)).Error; err != nil {
			return err
		}
		now := db.Now()
		if ec.UsedAt != nil {
			return ErrUsed
		}
		if !now.Before(ec.ExpiresAt) {
			return ErrExpired
		}
		var u User
		if err := tx.Select("id, email, disabled").First(&u, "id = ?", ec.UserID).Error; err != nil {
			return err
		}
		if u.Disabled {
			return ErrUserDisabled
		}
		res := tx.Model(&EmailChange{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", ec.ID, now).Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrUsed
		}
		oldEmail = u.Email
		return tx.Model(&User{}).Where("id = ?", ec.UserID).
			Updates(map[string]any{"email": ec.NewEmail, "email_verified": true, "updated_at": now}).Error
	})
	if err != nil {
		return nil, "", fmt.Errorf("email change link: %w", translate(err))
	}
	return ec, oldEmail, nil
}

// PendingEmailChange returns the request of the link raw while it can be
// followed, changing nothing. Errors: ErrNotFound, ErrUsed, ErrExpired.
func (db *UserStore) PendingEmailChange(ctx context.Context, raw string) (*EmailChange, error) {
	var ec EmailChange
	if err := db.ctx(ctx).First(&ec, "token_hash = ?", HashToken(raw)).Error; err != nil {
		return nil, fmt.Errorf("email change link: %w", translate(err))
	}
	if ec.UsedAt != nil {
		return nil, fmt.Errorf("email change link: %w", ErrUsed)
	}
	if !db.Now().Before(ec.ExpiresAt) {
		return nil, fmt.Errorf("email change link: %w", ErrExpired)
	}
	return &ec, nil
}

// PendingEmailOf returns the address of the user's pending (unused,
// unexpired) email change, or "" when there is none.
func (db *UserStore) PendingEmailOf(ctx context.Context, userID string) (string, error) {
	var ecs []EmailChange
	err := db.ctx(ctx).Where("user_id = ? AND used_at IS NULL AND expires_at > ?", userID, db.Now()).
		Order("created_at DESC").Limit(1).Find(&ecs).Error
	if err != nil {
		return "", translate(err)
	}
	if len(ecs) == 0 {
		return "", nil
	}
	return ecs[0].NewEmail, nil
}
