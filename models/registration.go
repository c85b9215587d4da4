package models

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"
)

// Dynamic client registration (RFC 7591, RFC 7592), the storage side.
// An initial access token (RFC 7591 §3) is an api_tokens row of kind
// TokenKindRegistration: made by an admin, stored hashed, expiring and
// revocable, accepted only at the registration endpoint. A registered
// client carries the hash of its registration access token (RFC 7592 §1)
// in clients.registration_token_hash.

// TokenKindRegistration is the api_tokens kind of initial access tokens.
const TokenKindRegistration = "registration"

// RegistrationTokenPrefix starts every initial access token;
// RegistrationAccessTokenPrefix every registration access token. Neither
// is "lk_", so no such token passes for an admin API token.
const (
	RegistrationTokenPrefix       = "lkr_"
	RegistrationAccessTokenPrefix = "lkm_"
)

// Audit events of dynamic client registration.
const (
	EventRegistrationTokenCreated = "registration_token_created" //nolint:gosec // G101: an audit event name, not a credential
	EventRegistrationTokenRevoked = "registration_token_revoked" //nolint:gosec // G101: an audit event name, not a credential
	EventClientRegistered         = "client_registered"
	EventClientRegistrationFailed = "client_registration_refused"
	EventClientRegistrationUpdate = "client_registration_updated"
	EventClientRegistrationDelete = "client_registration_deleted"
)

// CreateRegistrationToken stores a new initial access token named name (1
// to 64 characters, no control characters), valid until expiresAt (nil:
// until revoked), and returns the raw token, to be shown once; only its
// SHA-256 is stored. Errors: ErrInvalid.
func (db *AdminStore) CreateRegistrationToken(ctx context.Context, name, createdBy string, expiresAt *time.Time) (string, *APIToken, error) {
	return db.createToken(ctx, TokenKindRegistration, RegistrationTokenPrefix, "registration token", name, createdBy, expiresAt)
}

// RegistrationTokenByRaw returns the active initial access token for raw
// and records its use. Errors: ErrNotFound (unknown, revoked, expired, or
// another kind of token).
func (db *AdminStore) RegistrationTokenByRaw(ctx context.Context, raw string) (*APIToken, error) {
	return db.tokenByRaw(ctx, TokenKindRegistration, RegistrationTokenPrefix, "registration token", raw, 0)
}

// ListRegistrationTokens returns every initial access token, revoked and
// expired ones included, newest first.
func (db *AdminStore) ListRegistrationTokens(ctx context.Context) ([]APIToken, error) {
	return db.listTokens(ctx, TokenKindRegistration)
}

// RevokeRegistrationToken revokes an initial access token at once; the
// clients registered with it stay. Errors: ErrNotFound (unknown or
// already revoked).
func (db *AdminStore) RevokeRegistrationToken(ctx context.Context, id string) error {
	return db.revokeToken(ctx, TokenKindRegistration, "registration token", id)
}

// RegisterClient inserts a self-registered client c (c.RegisteredBy must
// be set) and returns its registration access token, shown once. A
// private_key_jwt client gets no secret (CreateClient). Errors: ErrInvalid, ErrConflict.
func (db *ClientStore) RegisterClient(ctx context.Context, c *Client) (string, error) {
	if c.RegisteredBy == "" {
		return "", fmt.Errorf("%w: a registered client needs RegisteredBy", ErrInvalid)
	}
	raw := NewRegistrationAccessToken(c)
	if _, err := db.CreateClient(ctx, c); err != nil {
		return "", err
	}
	return raw, nil
}

// RegisteredClient returns the self-registered client id whose
// registration access token is raw, compared in constant time. Errors:
// ErrNotFound for an unknown client, an admin-made one, or a wrong token,
// alike (RFC 7592 §2.1 answers all three with 401).
func (db *ClientStore) RegisteredClient(ctx context.Context, id, raw string) (*Client, error) {
	c, err := db.ClientByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(c.RegistrationTokenHash) == 0 || !c.SelfRegistered() || c.Builtin ||
		subtle.ConstantTimeCompare(c.RegistrationTokenHash, HashToken(raw)) != 1 {
		return nil, fmt.Errorf("registration access token of %q: %w", id, ErrNotFound)
	}
	return c, nil
}

// NewRegistrationAccessToken returns a fresh registration access token
// and sets its hash on c (saved by the caller with SaveClient).
func NewRegistrationAccessToken(c *Client) string {
	raw := RegistrationAccessTokenPrefix + NewToken()
	c.RegistrationTokenHash = HashToken(raw)
	return raw
}

// ReplaceRegisteredClient saves every column of the self-registered
// client c if its registration access token is still oldHash: of two
// requests with the same token, one wins. Errors: ErrNotFound (gone, or
// the token was replaced meanwhile), ErrInvalid.
func (db *ClientStore) ReplaceRegisteredClient(ctx context.Context, c *Client, oldHash []byte) error {
	var err error
	if c.IDTokenClaims, err = CheckIDTokenClaims(c.IDTokenClaims); err != nil {
		return err
	}
	if err := c.CheckProfile(); err != nil { // an admin may have put it under FAPI 2.0
		return err
	}
	c.UpdatedAt = db.Now()
	res := db.ctx(ctx).Model(&Client{}).Where("id = ? AND registration_token_hash = ? AND registered_by <> ''", c.ID, oldHash).
		Select("*").Omit("id", "created_at").Updates(c)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("registered client %q: %w", c.ID, ErrNotFound)
	}
	db.clientsChanged.Add(1)
	return nil
}

// DeleteRegisteredClient deletes the self-registered client id if its
// registration access token is still tokenHash. Errors: ErrNotFound.
func (db *ClientStore) DeleteRegisteredClient(ctx context.Context, id string, tokenHash []byte) error {
	res := db.ctx(ctx).Where("id = ? AND registration_token_hash = ? AND registered_by <> '' AND builtin = ?", id, tokenHash, false).
		Delete(&Client{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("registered client %q: %w", id, ErrNotFound)
	}
	db.clientsChanged.Add(1)
	return nil
}

// CountRegisteredClients counts the clients registered by registeredBy
// (RegisteredOpen, or a token's ID), up to upTo: the count reads at most
// upTo rows of the registered_by index, however many clients there are.
func (db *ClientStore) CountRegisteredClients(ctx context.Context, registeredBy string, upTo int) (int, error) {
	var n int
	err := db.ctx(ctx).Raw("SELECT COUNT(*) FROM (SELECT 1 FROM clients WHERE registered_by = ? LIMIT ?) AS r", registeredBy, upTo).Row().Scan(&n)
	return n, translate(err)
}
