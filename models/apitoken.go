package models

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// APITokenPrefix starts every admin API token, so a leaked one is easy to
// recognise (secret scanners, logs).
const APITokenPrefix = "lk_"

// APIToken authorises calls to the admin REST API. Only the SHA-256 of the
// random token is stored; the token itself is shown once at creation.
type APIToken struct {
	ID         string `gorm:"primaryKey"`
	Kind       string // TokenKindAPI or TokenKindSCIM (scimtoken.go)
	Name       string
	TokenHash  []byte
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Active reports whether the token may be used at now.
func (t *APIToken) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// CreateAPIToken stores a new token named name, valid until expiresAt (nil:
// no expiry), and returns the raw token (shown once). Errors: ErrInvalid.
func (db *AdminStore) CreateAPIToken(ctx context.Context, name, createdBy string, expiresAt *time.Time) (string, *APIToken, error) {
	return db.createToken(ctx, TokenKindAPI, APITokenPrefix, "API token", name, createdBy, expiresAt)
}

// APITokenByRaw returns the active token for raw and records its use.
// Errors: ErrNotFound (unknown, revoked or expired).
func (db *AdminStore) APITokenByRaw(ctx context.Context, raw string) (*APIToken, error) {
	return db.tokenByRaw(ctx, TokenKindAPI, APITokenPrefix, "API token", raw, 0)
}

// ListAPITokens returns every admin API token, newest first.
func (db *AdminStore) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	return db.listTokens(ctx, TokenKindAPI)
}

// RevokeAPIToken revokes a token at once. Errors: ErrNotFound.
func (db *AdminStore) RevokeAPIToken(ctx context.Context, id string) error {
	return db.revokeToken(ctx, TokenKindAPI, "API token", id)
}

// The kinds of bearer token (API, SCIM, initial access tokens of client
// registration) are rows of api_tokens told apart by Kind and by the
// prefix of the raw token; only the token's SHA-256 is stored.

// checkTokenName trims a token's name and checks it: 1 to 64 characters,
// no control characters.
func checkTokenName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 64 {
		return "", fmt.Errorf("%w: token name must be 1 to 64 characters", ErrInvalid)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: token name must not contain control characters", ErrInvalid)
		}
	}
	return name, nil
}

// createToken stores a new token of kind, valid until expiresAt (nil:
// until revoked), and returns the raw token, to be shown once. Errors:
// ErrInvalid.
func (db *AdminStore) createToken(ctx context.Context, kind, prefix, what, name, createdBy string, expiresAt *time.Time) (string, *APIToken, error) {
	name, err := checkTokenName(name)
	if err != nil {
		return "", nil, err
	}
	now := db.Now()
	if expiresAt != nil && !expiresAt.After(now) {
		return "", nil, fmt.Errorf("%w: expiry must be in the future", ErrInvalid)
	}
	raw := prefix + NewToken()
	t := &APIToken{ID: NewUUID(), Kind: kind, Name: name, TokenHash: HashToken(raw), CreatedBy: createdBy, CreatedAt: now, ExpiresAt: expiresAt}
	if err := db.ctx(ctx).Create(t).Error; err != nil {
		return "", nil, fmt.Errorf("create %s: %w", what, translate(err))
	}
	return raw, t, nil
}

// tokenByRaw returns the active token of kind for raw and records its use,
// at most once per touchEvery (0: every use). The look-up is by the SHA-256
// of a 256-bit random token, so timing reveals nothing of a stored one.
// Errors: ErrNotFound (unknown, revoked, expired, or another kind).
func (db *AdminStore) tokenByRaw(ctx context.Context, kind, prefix, what, raw string, touchEvery time.Duration) (*APIToken, error) {
	if !strings.HasPrefix(raw, prefix) {
		return nil, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	var t APIToken
	if err := db.ctx(ctx).First(&t, "token_hash = ? AND kind = ?", HashToken(raw), kind).Error; err != nil {
		return nil, fmt.Errorf("%s: %w", what, translate(err))
	}
	now := db.Now()
	if !t.Active(now) {
		return nil, fmt.Errorf("%s inactive: %w", what, ErrNotFound)
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > touchEvery {
		_ = db.ctx(ctx).Model(&APIToken{}).Where("id = ?", t.ID).Update("last_used_at", now).Error
	}
	return &t, nil
}

// listTokens returns every token of kind, revoked and expired ones
// included, newest first (admins make them one by one).
func (db *AdminStore) listTokens(ctx context.Context, kind string) ([]APIToken, error) {
	var ts []APIToken
	return ts, translate(db.ctx(ctx).Where("kind = ?", kind).Order("created_at DESC, id").Find(&ts).Error)
}

// revokeToken revokes a token of kind at once. Errors: ErrNotFound
// (unknown, another kind, or already revoked).
func (db *AdminStore) revokeToken(ctx context.Context, kind, what, id string) error {
	res := db.ctx(ctx).Model(&APIToken{}).Where("id = ? AND kind = ? AND revoked_at IS NULL", id, kind).Update("revoked_at", db.Now())
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s %q: %w", what, id, ErrNotFound)
	}
	return nil
}

// AdminSession is a signed-in admin console session (internal listener).
type AdminSession struct {
	ID        string `gorm:"primaryKey"`
	TokenHash []byte
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	EndedAt   *time.Time
}

// CreateAdminSession starts a console session for userID and returns the
// raw cookie token.
func (db *AdminStore) CreateAdminSession(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	raw := NewToken()
	now := db.Now()
	s := &AdminSession{ID: NewUUID(), TokenHash: HashToken(raw), UserID: userID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := db.ctx(ctx).Create(s).Error; err != nil {
		return "", fmt.Errorf("create admin session: %w", translate(err))
	}
	return raw, nil
}

// ActiveAdminSession returns the live console session for a cookie token
// whose user is still an enabled admin. Errors: ErrNotFound.
func (db *AdminStore) ActiveAdminSession(ctx context.Context, raw string) (*AdminSession, error) {
	var s AdminSession
	err := db.ctx(ctx).Joins("JOIN users ON users.id = admin_sessions.user_id").
		Where("admin_sessions.token_hash = ? AND admin_sessions.ended_at IS NULL AND admin_sessions.expires_at > ? AND users.disabled = ? AND users.is_admin = ?",
			HashToken(raw), db.Now(), false, true).
		First(&s).Error
	if err != nil {
		return nil, fmt.Errorf("admin session: %w", translate(err))
	}
	return &s, nil
}

// EndAdminSession ends the console session named by a cookie token.
func (db *AdminStore) EndAdminSession(ctx context.Context, raw string) error {
	return translate(db.ctx(ctx).Model(&AdminSession{}).Where("token_hash = ? AND ended_at IS NULL", HashToken(raw)).
		Update("ended_at", db.Now()).Error)
}
