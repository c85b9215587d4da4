package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Grant is what one sign-in (an authorization code, a device grant)
// granted a client: the refresh-token family and the access tokens issued
// from it, in one row for its whole life. A rotation updates the row; a
// revocation deletes it; the purge deletes it when it expires. No token
// is stored: tokens name the grant and carry a MAC (oidc/tokenid.go).
type Grant struct {
	ID            string `gorm:"primaryKey"`
	ClientID      string
	UserID        string
	SessionID     *string
	AuthRequestID *string
	Scopes        StringList // the scopes granted; a refresh keeps them (RFC 6749 §6)
	Audience      StringList
	AMR           StringList `gorm:"column:amr"`
	ACR           string     `gorm:"column:acr"`
	AuthTime      time.Time
	// Generation numbers the current refresh token: 1 for the first, +1
	// on each rotation; 0 when the grant has no refresh token.
	Generation int64
	// Retried is set when the last rotation answered a retry within the
	// refresh reuse grace (RotateGrantRetry); such a rotation is not
	// retried again.
	Retried bool
	// LegacyHash is the SHA-256 of a refresh token issued before grants
	// existed (migration 00010), until its first rotation.
	LegacyHash []byte
	CreatedAt  time.Time
	UpdatedAt  time.Time // the last rotation
	ExpiresAt  time.Time // of the refresh token, else of the access token
	// DPoPJKT is the JWK thumbprint (RFC 7638) of the DPoP key a public
	// client's refresh tokens are bound to (RFC 9449 §5); "" unbound.
	DPoPJKT string `gorm:"column:dpop_jkt"`
	// Claims is the claims request parameter of the sign-in (OpenID
	// Connect Core §5.5), normalized JSON; "" none.
	Claims string
}

const grantColumnList = "id, client_id, user_id, session_id, auth_request_id, scopes, audience, amr, acr, " +
	"auth_time, generation, retried, legacy_hash, created_at, updated_at, expires_at, dpop_jkt, claims"

// grantColumns are the grant's columns of alias g.
var grantColumns = prefixColumns(grantColumnList, "g.")

func grantArgs(g *Grant) []any {
	return []any{g.ID, g.ClientID, g.UserID, g.SessionID, g.AuthRequestID, g.Scopes, g.Audience, g.AMR, g.ACR,
		g.AuthTime, g.Generation, g.Retried, g.LegacyHash, g.CreatedAt, g.UpdatedAt, g.ExpiresAt, g.DPoPJKT, g.Claims}
}

func (g *Grant) scanDest() []any {
	return []any{&g.ID, &g.ClientID, &g.UserID, &g.SessionID, &g.AuthRequestID, &g.Scopes, &g.Audience, &g.AMR, &g.ACR,
		&g.AuthTime, &g.Generation, &g.Retried, &g.LegacyHash, &g.CreatedAt, &g.UpdatedAt, &g.ExpiresAt, &g.DPoPJKT, &g.Claims}
}

var insertGrantSQL = "INSERT INTO grants (" + grantColumnList + ", purge_after) VALUES (" + placeholders(19) + ")"

// GrantPurgeSlack is how far a grant's purge_after may run ahead of its
// expiry (migration 00031): a rotation moves purge_after, an indexed
// column, only when the new expiry passes it, and then an hour ahead, so
// that nearly every rotation changes no indexed column (on Postgres a
// heap-only tuple update). The purge still deletes every expired grant:
// expires_at <= now implies purge_after <= now + GrantPurgeSlack.
const GrantPurgeSlack = time.Hour

// purgeAfterSQL moves purge_after when the new expiry (the first
// argument) passes it, to the second argument (purgeAfterArgs).
const purgeAfterSQL = "purge_after = CASE WHEN purge_after < ? THEN ? ELSE purge_after END"

func purgeAfterArgs(expires time.Time) []any {
	return []any{expires.UTC(), expires.UTC().Add(GrantPurgeSlack)}
}

// CreateGrant stores a new grant. CreatedAt and UpdatedAt default to now.
func (db *GrantStore) CreateGrant(ctx context.Context, g *Grant) error {
	if g.CreatedAt.IsZero() {
		g.CreatedAt = db.gorm.NowFunc()
	}
	if g.UpdatedAt.IsZero() {
		g.UpdatedAt = g.CreatedAt
	}
	if g.AMR == nil {
		g.AMR = StringList{}
	}
	if g.Scopes == nil {
		g.Scopes = StringList{}
	}
	if g.Audience == nil {
		g.Audience = StringList{}
	}
	_, err := db.rawExec(ctx, db.rawPool(true), insertGrantSQL, append(grantArgs(g), g.ExpiresAt.UTC().Add(GrantPurgeSlack))...)
	db.yieldIfWriter()
	return translate(err)
}

// RotateGrant moves a grant from refresh-token generation from to from+1
// and extends it to expires, in one statement: of two requests presenting
// the same token only one moves it. ErrConflict when the grant is not at
// generation from (any more), is gone or has expired.
func (db *GrantStore) RotateGrant(ctx context.Context, id string, from int64, expires time.Time) error {
	return db.rotateGrant(ctx, id, from, expires, false)
}

// RotateGrantRetry is RotateGrant for the retry of a refresh whose
// response was lost (oidc RefreshReuseGrace): it also marks the grant
// Retried, and fails with ErrConflict when its last rotation was such a
// retry already.
func (db *GrantStore) RotateGrantRetry(ctx context.Context, id string, from int64, expires time.Time) error {
	return db.rotateGrant(ctx, id, from, expires, true)
}

// ExtendGrant keeps a grant at refresh-token generation gen (its refresh
// token stays the same) and extends it to expires: the refresh of a
// client whose refresh tokens do not rotate. ErrConflict when the grant
// is not at generation gen (any more), is gone or has expired.
func (db *GrantStore) ExtendGrant(ctx context.Context, id string, gen int64, expires time.Time) error {
	now := db.Now()
	args := append([]any{db.gorm.NowFunc(), expires}, purgeAfterArgs(expires)...)
	n, err := db.rawAffected(ctx, db.rawPool(true), "UPDATE grants SET updated_at = ?, expires_at = ?, "+purgeAfterSQL+" WHERE id = ? AND generation = ? AND expires_at > ?",
		append(args, id, gen, now)...)
	db.yieldIfWriter()
	if err != nil {
		return translate(err)
	}
	if n == 0 {
		return fmt.Errorf("grant %q is no longer at refresh token %d: %w", id, gen, ErrConflict)
	}
	return nil
}

func (db *GrantStore) rotateGrant(ctx context.Context, id string, from int64, expires time.Time, retry bool) error {
	now := db.Now()
	q := "UPDATE grants SET generation = generation + 1, retried = ?, legacy_hash = NULL, updated_at = ?, expires_at = ?, " + purgeAfterSQL +
		" WHERE id = ? AND generation = ? AND expires_at > ?"
	if retry {
		q += " AND retried = ?"
	}
	args := append([]any{retry, db.gorm.NowFunc(), expires}, purgeAfterArgs(expires)...)
	args = append(args, id, from, now)
	if retry {
		args = append(args, false)
	}
	n, err := db.rawAffected(ctx, db.rawPool(true), q, args...)
	db.yieldIfWriter()
	if err != nil {
		return translate(err)
	}
	if n == 0 {
		return fmt.Errorf("grant %q is no longer at refresh token %d: %w", id, from, ErrConflict)
	}
	return nil
}

// LiveGrant loads a grant that has not expired, whose user is enabled and
// whose session (if any) has not ended, with its user, in one statement
// (two when withGroups asks for the user's groups). With tokenIDHash set
// (an access token's), the grant counts as gone when that token was
// revoked on its own. ErrNotFound otherwise: the grant was revoked
// (deleted), purged, expired or its subject is no longer live.
//
// A refresh token of an earlier generation finds its grant here too, so
// that the caller can detect the replay.
func (db *GrantStore) LiveGrant(ctx context.Context, id string, tokenIDHash []byte, withGroups func(*Grant) bool) (*Grant, *User, error) {
	return db.liveGrant(ctx, "g.id = ?", id, tokenIDHash, withGroups)
}

// LiveLegacyGrant is LiveGrant for a refresh token of the format before
// grants (migration 00010), found by its hash.
func (db *GrantStore) LiveLegacyGrant(ctx context.Context, tokenHash []byte, withGroups func(*Grant) bool) (*Grant, *User, error) {
	return db.liveGrant(ctx, "g.legacy_hash = ?", tokenHash, nil, withGroups)
}

func (db *GrantStore) liveGrant(ctx context.Context, where string, key any, tokenIDHash []byte, withGroups func(*Grant) bool) (*Grant, *User, error) {
	var g Grant
	var u User
	// The session is a LEFT JOIN on its primary key rather than an OR
	// EXISTS: Postgres turned the OR EXISTS into a hashed subplan that
	// read every session on each refresh when the table was small, and
	// the join is one index lookup whatever the table's size (0.025-0.035
	// against 0.038-0.057 ms per execution with 64 sessions).
	q := "SELECT " + grantColumns + ", " + prefixColumns(userColumns, "u.") + " FROM grants g JOIN users u ON u.id = g.user_id" +
		" LEFT JOIN sessions s ON s.id = g.session_id" +
		" WHERE " + where + " AND g.expires_at > ? AND u.disabled = ?" +
		" AND (g.session_id IS NULL OR (s.id IS NOT NULL AND s.ended_at IS NULL))"
	args := []any{key, db.Now(), false}
	if tokenIDHash != nil {
		q += " AND NOT EXISTS (SELECT 1 FROM revoked_access_tokens r WHERE r.id_hash = ?)"
		args = append(args, tokenIDHash)
	}
	row := db.rawRow(ctx, db.rawPool(false), q, args...)
	dest := append(g.scanDest(), userScanDest(&u)...)
	if err := row.Scan(dest...); err != nil {
		return nil, nil, fmt.Errorf("live grant: %w", db.rawErr(err))
	}
	if withGroups != nil && withGroups(&g) {
		u.Groups = []Group{}
		err := db.ctx(ctx).Raw("SELECT groups.* FROM groups JOIN user_groups ug ON ug.group_id = groups.id WHERE ug.user_id = ?", u.ID).Scan(&u.Groups).Error
		if err != nil {
			return nil, nil, fmt.Errorf("groups of user %q: %w", u.ID, translate(err))
		}
	}
	return &g, &u, nil
}

// GrantByID loads a grant in any state (tests and revocation).
func (db *GrantStore) GrantByID(ctx context.Context, id string) (*Grant, error) {
	var g Grant
	err := db.rawRow(ctx, db.rawPool(false), "SELECT "+grantColumns+" FROM grants g WHERE g.id = ?", id).Scan(g.scanDest()...)
	if err != nil {
		return nil, fmt.Errorf("grant: %w", db.rawErr(err))
	}
	return &g, nil
}

// GrantByLegacyHash loads a pre-migration grant by its refresh token hash.
func (db *GrantStore) GrantByLegacyHash(ctx context.Context, tokenHash []byte) (*Grant, error) {
	var g Grant
	err := db.rawRow(ctx, db.rawPool(false), "SELECT "+grantColumns+" FROM grants g WHERE g.legacy_hash = ?", tokenHash).Scan(g.scanDest()...)
	if err != nil {
		return nil, fmt.Errorf("grant: %w", db.rawErr(err))
	}
	return &g, nil
}

// RevokeGrant revokes a grant, its refresh token and every access token
// issued from it, by deleting it (refresh-token reuse, RFC 9700
// §4.14.2; RFC 7009 revocation). A grant already gone is not an error.
func (db *GrantStore) RevokeGrant(ctx context.Context, id string) error {
	_, err := db.rawExec(ctx, db.rawPool(true), "DELETE FROM grants WHERE id = ?", id)
	db.yieldIfWriter()
	return translate(err)
}

// RevokeByAuthRequest revokes the grants issued from one authorization
// code (code replay, RFC 6749 §4.1.2).
func (db *GrantStore) RevokeByAuthRequest(ctx context.Context, authRequestID string) error {
	return translate(db.ctx(ctx).Exec("DELETE FROM grants WHERE auth_request_id = ?", authRequestID).Error)
}

// RevokeClientTokensForUser revokes every grant a client holds for a user
// (used by "log out of this application" and consent withdrawal).
func (db *GrantStore) RevokeClientTokensForUser(ctx context.Context, userID, clientID string) error {
	return translate(db.ctx(ctx).Exec("DELETE FROM grants WHERE user_id = ? AND client_id = ?", userID, clientID).Error)
}

// RevokeAccessToken revokes one access token, by the SHA-256 of its ID,
// until it expires (RFC 7009 §2.1). Revoking it twice is not an error.
func (db *GrantStore) RevokeAccessToken(ctx context.Context, idHash []byte, expires time.Time) error {
	q := "INSERT INTO revoked_access_tokens (id_hash, expires_at) VALUES (?, ?) ON CONFLICT (id_hash) DO NOTHING"
	_, err := db.rawExec(ctx, db.rawPool(true), q, idHash, expires) // GORM would expand the []byte into 32 values
	db.yieldIfWriter()
	return translate(err)
}

// AccessTokenRevoked reports whether an access token that belongs to no
// grant (client credentials) was revoked.
func (db *GrantStore) AccessTokenRevoked(ctx context.Context, idHash []byte) (bool, error) {
	var one int
	err := db.rawRow(ctx, db.rawPool(false), "SELECT 1 FROM revoked_access_tokens WHERE id_hash = ?", idHash).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, translate(err)
}

// revokeGrantsTx deletes the grants of a session or of a user (where is
// "session_id = ?" or "user_id = ?").
func revokeGrantsTx(tx *gorm.DB, where string, arg string) error {
	return tx.Exec("DELETE FROM grants WHERE "+where, arg).Error
}

// subjectLive reports whether the user is enabled and the session not
// ended, in one query.
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
