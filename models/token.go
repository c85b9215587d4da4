package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// AccessToken records an issued access token (JWT jti or opaque token ID).
// The token itself is not stored: a JWT is signed, an opaque token is the ID
// encrypted with the op crypto key.
type AccessToken struct {
	ID            string `gorm:"primaryKey"`
	ClientID      string
	Subject       string
	UserID        *string
	SessionID     *string
	AuthRequestID *string
	FamilyID      *string
	Scopes        StringList
	Audience      StringList
	CreatedAt     time.Time
	ExpiresAt     time.Time
	RevokedAt     *time.Time
}

// RefreshToken is one link of a rotating refresh-token family. Only the hash
// of the token is stored.
type RefreshToken struct {
	ID            string `gorm:"primaryKey"`
	TokenHash     []byte
	FamilyID      string
	ClientID      string
	UserID        string
	SessionID     *string
	AuthRequestID *string
	Scopes        StringList
	Audience      StringList
	AMR           StringList `gorm:"column:amr"`
	ACR           string     `gorm:"column:acr"`
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
	RotatedAt     *time.Time
	RevokedAt     *time.Time
}

// IssueTokens stores an access token and, when rt is not nil, a refresh
// token, in one short transaction. When rotateFromID is not empty that
// refresh token is marked rotated first; if it was already rotated or
// revoked (a concurrent or replayed use) nothing is written and ErrConflict
// is returned.
func (db *GrantStore) IssueTokens(ctx context.Context, at *AccessToken, rt *RefreshToken, rotateFromID string) error {
	now := db.Now()
	created := db.gorm.NowFunc()
	if at.CreatedAt.IsZero() {
		at.CreatedAt = created
	}
	if rt != nil && rt.CreatedAt.IsZero() {
		rt.CreatedAt = created
	}
	// Hand-written statements (raw.go) in the transaction.
	return translate(db.transaction(ctx, func(tx *gorm.DB) error {
		pool := tx.Statement.ConnPool
		if rotateFromID != "" {
			n, err := db.rawAffected(ctx, pool, "UPDATE refresh_tokens SET rotated_at = ? WHERE id = ? AND rotated_at IS NULL AND revoked_at IS NULL", now, rotateFromID)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("refresh token already used: %w", ErrConflict)
			}
		}
		if _, err := db.rawExec(ctx, pool, insertAccessTokenSQL, accessTokenArgs(at)...); err != nil {
			return err
		}
		if rt != nil {
			_, err := db.rawExec(ctx, pool, insertRefreshTokenSQL, refreshTokenArgs(rt)...)
			return err
		}
		return nil
	}))
}

// RefreshTokenByRaw loads a refresh token in any state by its raw value.
func (db *GrantStore) RefreshTokenByRaw(ctx context.Context, raw string) (*RefreshToken, error) {
	var rt RefreshToken
	if err := scanRefreshToken(db.rawRow(ctx, db.rawPool(false), "SELECT "+refreshTokenColumns+" FROM refresh_tokens WHERE token_hash = ?", HashToken(raw)), &rt); err != nil { // raw.go
		return nil, fmt.Errorf("refresh token: %w", db.rawErr(err))
	}
	return &rt, nil
}

// RefreshTokenUsable reports whether rt can be redeemed now: not rotated,
// not revoked, not expired, its user enabled and its session (if any) live.
func (db *GrantStore) RefreshTokenUsable(ctx context.Context, rt *RefreshToken) (bool, error) {
	if rt.RotatedAt != nil || rt.RevokedAt != nil || !db.Now().Before(rt.ExpiresAt) {
		return false, nil
	}
	return db.subjectLive(ctx, &rt.UserID, rt.SessionID)
}

// subjectLive reports whether the user is enabled and the session not
// ended, in one query (it runs on every userinfo, introspection and
// refresh).
func (db *GrantStore) subjectLive(ctx context.Context, userID, sessionID *string) (bool, error) {
	var parts []string
	var args []any
	if userID != nil && *userID != "" {
		parts = append(parts, "(SELECT COUNT(*) FROM users WHERE id = ? AND disabled = ?)")
		args = append(args, *userID, false)
	}
	if sessionID != nil && *sessionID != "" {
		parts = append(parts, "(SELECT COUNT(*) FROM sessions WHERE id = ? AND ended_at IS NULL)")
		args = append(args, *sessionID)
	}
	if len(parts) == 0 {
		return true, nil
	}
	var live bool
	q := "SELECT " + strings.Join(parts, " * ") + " > 0"
	if err := db.ctx(ctx).Raw(q, args...).Row().Scan(&live); err != nil {
		return false, translate(err)
	}
	return live, nil
}

// RevokeFamily revokes every refresh token of a family and every access
// token issued from it (refresh-token reuse, OAuth 2.0 Security BCP §4.14.2).
func (db *GrantStore) RevokeFamily(ctx context.Context, familyID string) error {
	now := db.Now()
	return translate(db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&RefreshToken{}).Where("family_id = ? AND revoked_at IS NULL", familyID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		return tx.Model(&AccessToken{}).Where("family_id = ? AND revoked_at IS NULL", familyID).Update("revoked_at", now).Error
	}))
}

// RevokeByAuthRequest revokes every token issued from one authorization
// code (code replay).
func (db *GrantStore) RevokeByAuthRequest(ctx context.Context, authRequestID string) error {
	now := db.Now()
	return translate(db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&RefreshToken{}).Where("auth_request_id = ? AND revoked_at IS NULL", authRequestID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		var fams []string
		if err := tx.Model(&RefreshToken{}).Where("auth_request_id = ?", authRequestID).Distinct().Pluck("family_id", &fams).Error; err != nil {
			return err
		}
		q := tx.Model(&AccessToken{}).Where("revoked_at IS NULL AND auth_request_id = ?", authRequestID)
		if len(fams) > 0 {
			q = tx.Model(&AccessToken{}).Where("revoked_at IS NULL AND (auth_request_id = ? OR family_id IN ?)", authRequestID, fams)
		}
		return q.Update("revoked_at", now).Error
	}))
}

// AccessTokenByID loads an access token record in any state.
func (db *GrantStore) AccessTokenByID(ctx context.Context, id string) (*AccessToken, error) {
	var at AccessToken
	if err := scanAccessToken(db.rawRow(ctx, db.rawPool(false), "SELECT "+accessTokenColumns+" FROM access_tokens WHERE id = ?", id), &at); err != nil { // raw.go
		return nil, fmt.Errorf("access token: %w", db.rawErr(err))
	}
	return &at, nil
}

// ActiveAccessToken returns the access token if it is unrevoked, unexpired,
// its user enabled and its session live; otherwise ErrNotFound. Userinfo and
// introspection call it on every request, which is what makes revocation
// instant.
func (db *GrantStore) ActiveAccessToken(ctx context.Context, id string) (*AccessToken, error) {
	at, err := db.AccessTokenByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if at.RevokedAt != nil || !db.Now().Before(at.ExpiresAt) {
		return nil, fmt.Errorf("access token inactive: %w", ErrNotFound)
	}
	live, err := db.subjectLive(ctx, at.UserID, at.SessionID)
	if err != nil {
		return nil, err
	}
	if !live {
		return nil, fmt.Errorf("access token inactive: %w", ErrNotFound)
	}
	return at, nil
}

// ActiveAccessTokenUser is ActiveAccessToken for a token issued to a user,
// returning the user too (LiveUser; with groups if withGroups(at)): the
// same checks on every request in two statements instead of four.
// ErrNotFound when the token is inactive or has no user.
func (db *GrantStore) ActiveAccessTokenUser(ctx context.Context, id string, withGroups func(*AccessToken) bool) (*AccessToken, *User, error) {
	at, err := db.AccessTokenByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if at.RevokedAt != nil || !db.Now().Before(at.ExpiresAt) || at.UserID == nil || *at.UserID == "" {
		return nil, nil, fmt.Errorf("access token inactive: %w", ErrNotFound)
	}
	sid := ""
	if at.SessionID != nil {
		sid = *at.SessionID
	}
	u, err := (&UserStore{db.conn}).LiveUser(ctx, *at.UserID, sid, withGroups != nil && withGroups(at))
	if errors.Is(err, ErrNotFound) {
		return nil, nil, fmt.Errorf("access token inactive: %w", ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	return at, u, nil
}

// RevokeAccessToken revokes one access token (it must belong to clientID
// when clientID is not empty).
func (db *GrantStore) RevokeAccessToken(ctx context.Context, id, clientID string) error {
	q := db.ctx(ctx).Model(&AccessToken{}).Where("id = ? AND revoked_at IS NULL", id)
	if clientID != "" {
		q = q.Where("client_id = ?", clientID)
	}
	return translate(q.Update("revoked_at", db.Now()).Error)
}

// RevokeClientTokensForUser revokes every token a client holds for a user
// (used by "log out of this application").
func (db *GrantStore) RevokeClientTokensForUser(ctx context.Context, userID, clientID string) error {
	now := db.Now()
	return translate(db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&RefreshToken{}).Where("user_id = ? AND client_id = ? AND revoked_at IS NULL", userID, clientID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		return tx.Model(&AccessToken{}).Where("user_id = ? AND client_id = ? AND revoked_at IS NULL", userID, clientID).Update("revoked_at", now).Error
	}))
}
