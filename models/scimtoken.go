package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Token kinds of the api_tokens table (migration 00018): an admin API
// token authorises /api/v1 on the internal listener, a SCIM token
// /scim/v2 on the public one. Each is refused where the other is accepted.
const (
	TokenKindAPI  = "api"
	TokenKindSCIM = "scim"
)

// SCIMTokenPrefix starts every SCIM bearer token ("lks_" is not "lk_", so
// no SCIM token passes for an admin API token even before the look-up).
const SCIMTokenPrefix = "lks_"

// CreateSCIMToken stores a new SCIM token named name (1 to 64 characters,
// unique among the tokens not revoked: audit events name their actor
// "scim:<name>") and returns the raw token, to be shown once; only its
// SHA-256 is stored. Errors: ErrInvalid, ErrConflict.
func (db *AdminStore) CreateSCIMToken(ctx context.Context, name, createdBy string) (string, *APIToken, error) {
	name, err := checkTokenName(name)
	if err != nil {
		return "", nil, err
	}
	raw := SCIMTokenPrefix + NewToken()
	t := &APIToken{ID: NewUUID(), Kind: TokenKindSCIM, Name: name, TokenHash: HashToken(raw), CreatedBy: createdBy, CreatedAt: db.Now()}
	err = db.transaction(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&APIToken{}).Where("kind = ? AND name = ? AND revoked_at IS NULL", TokenKindSCIM, name).
			Count(&n).Error; err != nil {
			return translate(err)
		}
		if n > 0 {
			return fmt.Errorf("%w: a SCIM token named %q exists; revoke it or choose another name", ErrConflict, name)
		}
		return translate(tx.Create(t).Error)
	})
	if err != nil {
		return "", nil, fmt.Errorf("create SCIM token: %w", err)
	}
	return raw, t, nil
}

// SCIMTokenByRaw returns the active SCIM token for raw and records its
// use. The look-up is by the SHA-256 of a 256-bit random token, so timing
// reveals nothing of a stored token. Errors: ErrNotFound (unknown,
// revoked, expired, or another kind of token).
func (db *AdminStore) SCIMTokenByRaw(ctx context.Context, raw string) (*APIToken, error) {
	// At most one write a minute per token: a directory pushing thousands
	// of changes does not double its writes for this stamp.
	return db.tokenByRaw(ctx, TokenKindSCIM, SCIMTokenPrefix, "SCIM token", raw, time.Minute)
}

// ListSCIMTokens returns every SCIM token, revoked ones included, newest
// first (there are few: an admin makes each by hand).
func (db *AdminStore) ListSCIMTokens(ctx context.Context) ([]APIToken, error) {
	return db.listTokens(ctx, TokenKindSCIM)
}

// SCIMTokenByID loads a SCIM token. Errors: ErrNotFound.
func (db *AdminStore) SCIMTokenByID(ctx context.Context, id string) (*APIToken, error) {
	var t APIToken
	if err := db.ctx(ctx).First(&t, "id = ? AND kind = ?", id, TokenKindSCIM).Error; err != nil {
		return nil, fmt.Errorf("SCIM token %q: %w", id, translate(err))
	}
	return &t, nil
}

// RevokeSCIMToken revokes a SCIM token at once: the next request with it
// is refused. Errors: ErrNotFound (unknown or already revoked).
func (db *AdminStore) RevokeSCIMToken(ctx context.Context, id string) error {
	return db.revokeToken(ctx, TokenKindSCIM, "SCIM token", id)
}
