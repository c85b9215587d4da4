package models

import (
	"context"
	"fmt"
	"time"
)

// SigningKey is a token signing key. The private key (PKCS#8 DER) is sealed
// with the master key; PublicKey is PKIX DER.
//
// Life cycle: created with ActivatesAt in the future (published in JWKS
// only), signs from ActivatesAt until RetiresAt, stays published until
// ExpiresAt (when every token it signed has expired), then is deleted.
type SigningKey struct {
	ID            string `gorm:"primaryKey"`
	Algorithm     string
	PrivateKeyEnc []byte
	PublicKey     []byte
	CreatedAt     time.Time
	ActivatesAt   time.Time
	RetiresAt     *time.Time
	ExpiresAt     *time.Time
}

// PublishedSigningKeys returns the keys that belong in JWKS (not yet past
// ExpiresAt), newest first.
func (db *KeyStore) PublishedSigningKeys(ctx context.Context) ([]SigningKey, error) {
	var ks []SigningKey
	err := db.ctx(ctx).Where("expires_at IS NULL OR expires_at > ?", db.Now()).Order("activates_at DESC, id").Find(&ks).Error
	return ks, translate(err)
}

// CreateSigningKey stores a key.
func (db *KeyStore) CreateSigningKey(ctx context.Context, k *SigningKey) error {
	if err := db.ctx(ctx).Create(k).Error; err != nil {
		return fmt.Errorf("create signing key: %w", translate(err))
	}
	return nil
}

// RetireSigningKey sets when a key stops signing and when it leaves JWKS.
func (db *KeyStore) RetireSigningKey(ctx context.Context, id string, retiresAt, expiresAt time.Time) error {
	return translate(db.ctx(ctx).Model(&SigningKey{}).Where("id = ? AND retires_at IS NULL", id).
		Updates(map[string]any{"retires_at": retiresAt.UTC(), "expires_at": expiresAt.UTC()}).Error)
}

// DeleteExpiredSigningKeys removes keys past ExpiresAt.
func (db *KeyStore) DeleteExpiredSigningKeys(ctx context.Context) error {
	return translate(db.ctx(ctx).Where("expires_at IS NOT NULL AND expires_at <= ?", db.Now()).Delete(&SigningKey{}).Error)
}
