package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Secret is a named server secret sealed with the master key (for example
// the op crypto key that encrypts codes and opaque tokens). Every instance
// must use the same value, so it lives in the database.
type Secret struct {
	Name      string `gorm:"primaryKey"`
	ValueEnc  []byte
	CreatedAt time.Time
}

// SecretValue returns the sealed secret name, creating it with gen if it
// does not exist. Concurrent first starts agree on one value.
func (db *KeyStore) SecretValue(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	var s Secret
	err := db.ctx(ctx).First(&s, "name = ?", name).Error
	if err == nil {
		return s.ValueEnc, nil
	}
	if !errors.Is(translate(err), ErrNotFound) {
		return nil, err
	}
	v, err := gen()
	if err != nil {
		return nil, err
	}
	s = Secret{Name: name, ValueEnc: v, CreatedAt: db.Now()}
	if err := db.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&s).Error; err != nil {
		return nil, fmt.Errorf("store secret %q: %w", name, translate(err))
	}
	if err := db.ctx(ctx).First(&s, "name = ?", name).Error; err != nil {
		return nil, translate(err)
	}
	return s.ValueEnc, nil
}
