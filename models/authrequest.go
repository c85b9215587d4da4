package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// AuthRequest is an OIDC authorization request, from /authorize until its
// code is redeemed. The code itself is never stored, only its hash.
type AuthRequest struct {
	ID                  string `gorm:"primaryKey"`
	ClientID            string
	RedirectURI         string
	State               string
	Nonce               string
	Scopes              StringList
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              StringList
	MaxAge              *int64
	LoginHint           string
	ACRValues           StringList `gorm:"column:acr_values"`
	UILocales           string
	UserID              *string
	SessionID           *string
	AuthTime            *time.Time
	AMR                 StringList `gorm:"column:amr"`
	ACR                 string     `gorm:"column:acr"`
	Done                bool
	ConsentPending      bool // consent.go: no code until the user consents
	CodeHash            []byte
	CodeExpiresAt       *time.Time
	CodeUsedAt          *time.Time
	// LoginChallenge is the WebAuthn challenge of the sign-in page, minted
	// with the request (passkeys/bound.go); nil once used or refused.
	LoginChallenge          []byte
	LoginChallengeExpiresAt *time.Time
	CreatedAt               time.Time
	ExpiresAt               time.Time
	// DPoPJKT binds the code to a DPoP key (dpop_jkt, RFC 9449 §10); ""
	// unbound.
	DPoPJKT string `gorm:"column:dpop_jkt"`
	// Claims is the claims request parameter (OpenID Connect Core §5.5),
	// normalized JSON; "" none.
	Claims string
}

// CreateAuthRequest stores a new request; ID defaults to a random UUID.
func (db *GrantStore) CreateAuthRequest(ctx context.Context, ar *AuthRequest) error {
	if ar.ID == "" {
		ar.ID = NewUUID()
	}
	if ar.CreatedAt.IsZero() {
		ar.CreatedAt = db.gorm.NowFunc()
	}
	if _, err := db.rawExec(ctx, db.rawPool(true), insertAuthRequestSQL, authRequestArgs(ar)...); err != nil { // raw.go
		return err
	}
	return nil
}

// AuthRequestByID loads a request that has not expired.
// Errors: ErrNotFound, ErrExpired.
func (db *GrantStore) AuthRequestByID(ctx context.Context, id string) (*AuthRequest, error) {
	var ar AuthRequest
	if err := scanAuthRequest(db.rawRow(ctx, db.rawPool(false), "SELECT "+authRequestColumns+" FROM auth_requests WHERE id = ?", id), &ar); err != nil { // raw.go
		return nil, fmt.Errorf("auth request: %w", db.rawErr(err))
	}
	if !db.Now().Before(ar.ExpiresAt) {
		return nil, fmt.Errorf("auth request: %w", ErrExpired)
	}
	return &ar, nil
}

// Completion is what a sign-in records on its auth request.
type Completion struct {
	UserID, SessionID string
	AuthTime          time.Time
	AMR               []string
	ACR               string
	// Challenge, when set, is the request's own sign-in challenge that
	// the user answered (passkeys/bound.go): the request must still hold
	// it. An answer counts once, and not after the challenge was replaced
	// or refused (WebAuthn L3 §13.4.3).
	Challenge []byte
	// ConsentPending holds the code back until the user consents.
	ConsentPending bool
}

// CompleteAuthRequest records the signed-in user on a pending request,
// and uses up its sign-in challenge; op's callback then issues the code
// (IssueAuthCode).
// Errors: ErrNotFound, ErrExpired, ErrConflict (already completed, or the
// challenge is no longer the request's).
func (db *GrantStore) CompleteAuthRequest(ctx context.Context, id string, c Completion) error {
	now := db.Now()
	// Hand-written (raw.go): two fixed forms.
	q := "UPDATE auth_requests SET user_id = ?, session_id = ?, auth_time = ?, amr = ?, acr = ?, done = ?, consent_pending = ?," +
		" login_challenge = NULL, login_challenge_expires_at = NULL"
	args := []any{c.UserID, c.SessionID, c.AuthTime.UTC(), StringList(c.AMR), c.ACR, true, c.ConsentPending}
	q += " WHERE id = ? AND done = ? AND expires_at > ?"
	args = append(args, id, false, now)
	if c.Challenge != nil {
		q += " AND login_challenge = ?"
		args = append(args, c.Challenge)
	}
	n, err := db.rawAffected(ctx, db.rawPool(true), q, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := db.AuthRequestByID(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("auth request already completed or its challenge used: %w", ErrConflict)
	}
	return nil
}

// SetLoginChallenge gives a pending request a new sign-in challenge
// (nil: none). Errors: ErrNotFound (unknown or no longer pending).
func (db *GrantStore) SetLoginChallenge(ctx context.Context, id string, challenge []byte, expires time.Time) error {
	var exp *time.Time
	if challenge != nil {
		e := expires.UTC()
		exp = &e
	}
	res := db.ctx(ctx).Model(&AuthRequest{}).Where("id = ? AND done = ?", id, false).
		Updates(map[string]any{"login_challenge": challenge, "login_challenge_expires_at": exp})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("pending auth request %q: %w", id, ErrNotFound)
	}
	return nil
}

// ClearLoginChallenge uses up challenge if it is still the request's (a
// refused answer, WebAuthn L3 §13.4.3); anything else is left alone.
func (db *GrantStore) ClearLoginChallenge(ctx context.Context, id string, challenge []byte) error {
	return translate(db.ctx(ctx).Model(&AuthRequest{}).Where("id = ? AND login_challenge = ?", id, challenge).
		Updates(map[string]any{"login_challenge": nil, "login_challenge_expires_at": nil}).Error)
}

// SaveAuthCode stores the hash of the code issued for a completed request.
func (db *GrantStore) SaveAuthCode(ctx context.Context, id string, codeHash []byte, ttl time.Duration) error {
	_, err := db.IssueAuthCode(ctx, id, codeHash, ttl)
	return err
}

// IssueAuthCode is SaveAuthCode returning the updated request (UPDATE …
// RETURNING, one statement).
func (db *GrantStore) IssueAuthCode(ctx context.Context, id string, codeHash []byte, ttl time.Duration) (*AuthRequest, error) {
	exp := db.Now().Add(ttl)
	var rows []AuthRequest
	res := db.ctx(ctx).Model(&rows).Clauses(clause.Returning{}).Where("id = ? AND done = ? AND consent_pending = ? AND code_hash IS NULL", id, true, false).
		Updates(map[string]any{"code_hash": codeHash, "code_expires_at": exp})
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("auth request %q not completed, waiting for consent, or code already issued: %w", id, ErrConflict)
	}
	return &rows[0], nil
}

// ErrCodeReused is returned (wrapped with ErrConflict) when a code that was
// already redeemed is presented again.
var ErrCodeReused = errors.New("authorization code already used")

// RedeemAuthCode atomically marks the code used and returns its request.
// Errors: ErrNotFound (unknown code), ErrExpired (older than its TTL), and
// ErrCodeReused when it was redeemed before — in that case every token
// issued from it is revoked (RFC 6749 §4.1.2: the code MUST NOT be used
// more than once, and tokens issued from it SHOULD be revoked).
func (db *GrantStore) RedeemAuthCode(ctx context.Context, codeHash []byte) (*AuthRequest, error) {
	return db.redeemAuthCode(ctx, codeHash, "", false)
}

// ErrWrongKey is returned by RedeemBoundAuthCode for a code bound to
// another DPoP key; the code stays unused.
var ErrWrongKey = errors.New("the authorization code is bound to another DPoP key")

// RedeemBoundAuthCode is RedeemAuthCode for a token request whose DPoP
// proof is of the key with thumbprint jkt ("" without a proof): a code
// bound to another key (dpop_jkt, RFC 9449 §10) is refused with
// ErrWrongKey in the same statement that would mark it used, so a thief
// holding the code but not the key cannot spend it for its owner.
func (db *GrantStore) RedeemBoundAuthCode(ctx context.Context, codeHash []byte, jkt string) (*AuthRequest, error) {
	return db.redeemAuthCode(ctx, codeHash, jkt, true)
}

func (db *GrantStore) redeemAuthCode(ctx context.Context, codeHash []byte, jkt string, checkKey bool) (*AuthRequest, error) {
	now := db.Now()
	var ar AuthRequest
	q, args := "UPDATE auth_requests SET code_used_at = ? WHERE code_hash = ? AND code_used_at IS NULL", []any{now, codeHash}
	if checkKey {
		q, args = q+" AND (dpop_jkt = '' OR dpop_jkt = ?)", append(args, jkt)
	}
	err := scanAuthRequest(db.rawRow(ctx, db.rawPool(true), q+" RETURNING "+authRequestColumns, args...), &ar) // raw.go
	db.yieldIfWriter()
	if err = db.rawErr(err); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		var ar AuthRequest
		if err := db.ctx(ctx).First(&ar, "code_hash = ?", codeHash).Error; err != nil {
			return nil, fmt.Errorf("authorization code: %w", translate(err))
		}
		if checkKey && ar.CodeUsedAt == nil {
			return nil, fmt.Errorf("authorization code: %w", ErrWrongKey)
		}
		if err := db.RevokeByAuthRequest(ctx, ar.ID); err != nil {
			return nil, err
		}
		return &ar, errors.Join(ErrCodeReused, ErrConflict)
	}
	if ar.CodeExpiresAt == nil || !now.Before(*ar.CodeExpiresAt) {
		return nil, fmt.Errorf("authorization code: %w", ErrExpired)
	}
	return &ar, nil
}

// DeleteAuthRequest removes a request that never got a code. A request with
// a code is kept until it expires so that a replayed code is recognised
// (and the tokens issued from it revoked) rather than merely unknown.
func (db *GrantStore) DeleteAuthRequest(ctx context.Context, id string) error {
	return translate(db.ctx(ctx).Where("id = ? AND code_hash IS NULL", id).Delete(&AuthRequest{}).Error)
}
