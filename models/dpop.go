package models

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DPoPProof records a DPoP proof (RFC 9449) that was accepted: JTIHash
// is the SHA-256 of the proof key's thumbprint and its jti. The row lives
// until the proof is too old to be accepted anyway.
type DPoPProof struct {
	JTIHash   []byte `gorm:"primaryKey;column:jti_hash"`
	ExpiresAt time.Time
}

// TableName is dpop_proofs.
func (DPoPProof) TableName() string { return "dpop_proofs" }

// UseDPoPProof records that the proof named jtiHash was used; it returns
// ErrConflict if it was used before (a replay, RFC 9449 §11.1), on this
// or any other instance sharing the database.
func (db *ClientStore) UseDPoPProof(ctx context.Context, jtiHash []byte, expiresAt time.Time) error {
	err := db.ctx(ctx).Create(&DPoPProof{JTIHash: jtiHash, ExpiresAt: expiresAt.UTC()}).Error
	if err := translate(err); errors.Is(err, ErrConflict) {
		return fmt.Errorf("DPoP proof already used: %w", ErrConflict)
	} else if err != nil {
		return err
	}
	return nil
}
