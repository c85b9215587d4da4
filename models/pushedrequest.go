package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// PushedRequest is a pushed authorization request (RFC 9126 §2): the
// parameters a client posted, until /authorize consumes them once or they
// expire. Only the SHA-256 of the request_uri's random part is stored, so
// the database alone does not give a usable request_uri.
type PushedRequest struct {
	IDHash    []byte `gorm:"primaryKey"`
	ClientID  string
	Params    string // application/x-www-form-urlencoded
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreatePushedRequest stores r.
func (db *GrantStore) CreatePushedRequest(ctx context.Context, r *PushedRequest) error {
	r.CreatedAt, r.ExpiresAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	return translate(db.ctx(ctx).Create(r).Error)
}

// ConsumePushedRequest atomically deletes and returns the pushed request
// of idHash that belongs to clientID (DELETE … RETURNING), so a
// request_uri is used at most once even across instances (RFC 9126 §4),
// and another client's attempt leaves it in place. Errors: ErrNotFound
// (unknown, used, or another client's), ErrExpired (it had expired; it is
// gone now).
func (db *GrantStore) ConsumePushedRequest(ctx context.Context, idHash []byte, clientID string) (*PushedRequest, error) {
	var rows []PushedRequest
	res := db.ctx(ctx).Clauses(clause.Returning{}).Where("id_hash = ? AND client_id = ?", idHash, clientID).Delete(&rows)
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("pushed request: %w", ErrNotFound)
	}
	if !db.Now().Before(rows[0].ExpiresAt) {
		return nil, fmt.Errorf("pushed request: %w", ErrExpired)
	}
	return &rows[0], nil
}
