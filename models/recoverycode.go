package models

import (
	"context"
	"crypto/hmac"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// RecoveryCode is one of a user's one-time recovery codes. Only a MAC of
// the code is stored (the key is sealed with the master key, idp).
type RecoveryCode struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	CodeMAC   []byte `gorm:"column:code_mac"`
	CreatedAt time.Time
	UsedAt    *time.Time
}

// ReplaceRecoveryCodes deletes every recovery code of userID and stores
// the MACs of new ones, in one transaction.
func (db *CredentialStore) ReplaceRecoveryCodes(ctx context.Context, userID string, macs [][]byte) error {
	now := db.Now()
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
			return err
		}
		for _, m := range macs {
			if err := tx.Create(&RecoveryCode{ID: NewUUID(), UserID: userID, CodeMAC: m, CreatedAt: now}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace recovery codes: %w", translate(err))
	}
	return nil
}

// UnusedRecoveryCodes counts the recovery codes userID has left.
func (db *CredentialStore) UnusedRecoveryCodes(ctx context.Context, userID string) (int64, error) {
	var n int64
	err := db.ctx(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error
	return n, translate(err)
}

// SpendRecoveryCode marks the unused code of userID whose MAC is mac
// used. Every unused code is compared in constant time (hmac.Equal), and
// the update succeeds for one caller only. Errors: ErrNotFound (no such
// unused code).
func (db *CredentialStore) SpendRecoveryCode(ctx context.Context, userID string, mac []byte) error {
	var codes []RecoveryCode
	if err := db.ctx(ctx).Where("user_id = ? AND used_at IS NULL", userID).Find(&codes).Error; err != nil {
		return translate(err)
	}
	id := ""
	for _, c := range codes {
		if hmac.Equal(c.CodeMAC, mac) {
			id = c.ID
		}
	}
	if id == "" {
		return fmt.Errorf("recovery code: %w", ErrNotFound)
	}
	res := db.ctx(ctx).Model(&RecoveryCode{}).Where("id = ? AND used_at IS NULL", id).Update("used_at", db.Now())
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("recovery code already used: %w", ErrNotFound)
	}
	return nil
}
