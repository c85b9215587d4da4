package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm/clause"
)

// Consent is what a user allowed an application: the scopes granted.
type Consent struct {
	UserID    string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	Scopes    StringList
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ConsentCovers reports whether the user already granted every one of
// scopes to the client.
func (db *GrantStore) ConsentCovers(ctx context.Context, userID, clientID string, scopes []string) (bool, error) {
	var c Consent
	err := db.ctx(ctx).First(&c, "user_id = ? AND client_id = ?", userID, clientID).Error
	if err != nil {
		if err = translate(err); errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	for _, s := range scopes {
		if !c.Scopes.Contains(s) {
			return false, nil
		}
	}
	return true, nil
}

// GrantConsent records (adds to) the scopes a user granted a client.
func (db *GrantStore) GrantConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	now := db.Now()
	var prev Consent
	merged := StringList(slices.Clone(scopes))
	if err := db.ctx(ctx).First(&prev, "user_id = ? AND client_id = ?", userID, clientID).Error; err == nil {
		for _, s := range prev.Scopes {
			if !merged.Contains(s) {
				merged = append(merged, s)
			}
		}
	}
	slices.Sort(merged)
	c := &Consent{UserID: userID, ClientID: clientID, Scopes: merged, CreatedAt: now, UpdatedAt: now}
	err := db.ctx(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "updated_at"}),
	}).Create(c).Error
	if err != nil {
		return fmt.Errorf("grant consent: %w", translate(err))
	}
	return nil
}

// ConsentInfo is a consent with the application's name (account page).
type ConsentInfo struct {
	Consent
	ClientName string
}

// ConsentsByUser lists the applications a user consented to, by name.
func (db *GrantStore) ConsentsByUser(ctx context.Context, userID string) ([]ConsentInfo, error) {
	var out []ConsentInfo
	err := db.ctx(ctx).Table("consents").Select("consents.*, clients.name AS client_name").
		Joins("JOIN clients ON clients.id = consents.client_id").
		Where("consents.user_id = ?", userID).Order("clients.name").Scan(&out).Error
	return out, translate(err)
}

// RevokeConsent withdraws a user's consent to a client and revokes the
// tokens the client holds for the user. Errors: ErrNotFound.
func (db *GrantStore) RevokeConsent(ctx context.Context, userID, clientID string) error {
	res := db.ctx(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&Consent{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("consent: %w", ErrNotFound)
	}
	return db.RevokeClientTokensForUser(ctx, userID, clientID)
}

// SetConsentPending marks a not yet redeemed auth request as waiting for
// (true) or cleared of (false) the user's consent.
// Errors: ErrNotFound when the request is unknown or has a code.
func (db *GrantStore) SetConsentPending(ctx context.Context, authRequestID string, pending bool) error {
	res := db.ctx(ctx).Model(&AuthRequest{}).Where("id = ? AND code_hash IS NULL", authRequestID).Update("consent_pending", pending)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("auth request %q: %w", authRequestID, ErrNotFound)
	}
	return nil
}
