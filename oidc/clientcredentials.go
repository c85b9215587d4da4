package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/latchkey-idp/latchkey/models"
)

// The client credentials grant (RFC 6749 §4.4): server.go
// ClientCredentialsExchange answers it for the client VerifyClient
// authenticated, with an access token signed here as at+jwt (RFC 9068).

// serviceScopes are never granted to a client acting for itself: they are
// about a user.
var serviceScopes = map[string]bool{oidc.ScopeOpenID: false, oidc.ScopeOfflineAccess: false,
	oidc.ScopeProfile: false, oidc.ScopeEmail: false, scopeGroups: false}

// clientCredentialsToken issues the access token of a client credentials
// grant. Scopes: the requested ones, each of which must be in the client's
// AllowedScopes and not a user scope (invalid_scope otherwise); none
// requested gives none. Audience: the requested resources (RFC 8707), each
// of which must be in the client's AccessTokenAudience (invalid_target
// otherwise); none requested gives the first configured audience, or the
// client itself.
func (s *Storage) clientCredentialsToken(ctx context.Context, c *models.Client, scopes []string, resources []string, jkt string) (*oidc.AccessTokenResponse, error) {
	if c.Public {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("public clients cannot use the client credentials grant")
	}
	for _, sc := range scopes {
		if _, user := serviceScopes[sc]; user || !c.AllowedScopes.Contains(sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not allowed for this client", sc)
		}
	}
	aud := slices.Clone(resources)
	for _, res := range aud {
		if !c.AccessTokenAudience.Contains(res) {
			return nil, &oidc.Error{ErrorType: "invalid_target", Description: "resource is not allowed for this client"}
		}
	}
	if len(aud) == 0 && len(c.AccessTokenAudience) > 0 {
		aud = []string{c.AccessTokenAudience[0]}
	}
	if len(aud) == 0 {
		aud = []string{c.ID}
	}
	ca := &clientAdapter{m: c, cfg: &s.cfg}
	now := s.now()
	if scopes == nil {
		scopes = []string{}
	}
	at := &issuedAccess{clientID: c.ID, subject: c.ID, scopes: scopes, audience: aud, issued: now, expires: now.Add(ca.accessTokenTTL()), jkt: jkt}
	at.id = s.tokens.encode(accessTokenID{random: models.NewToken()[:22], issued: now, expires: at.expires, scopes: scopes, audience: aud, jkt: jkt})
	raw, err := s.signAccessToken(ctx, c, at)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, &models.AuditEvent{Type: EventClientCredentials, Success: true, ClientID: c.ID,
		Detail: models.JSONMap{"scopes": scopes, "audience": aud, "jti": at.id}})
	return &oidc.AccessTokenResponse{AccessToken: raw, TokenType: tokenType(jkt),
		ExpiresIn: uint64(at.expires.Sub(now) / time.Second), Scope: scopes}, nil //nolint:gosec // the token was just issued: it expires in the future
}

// EventClientCredentials is the audit event of a client credentials grant.
const EventClientCredentials = "client_credentials_token"

// signAccessToken signs an RFC 9068 access token for at with the client's
// preferred algorithm.
func (s *Storage) signAccessToken(ctx context.Context, c *models.Client, at *issuedAccess) (string, error) {
	claims := map[string]any{
		"iss": s.cfg.Issuer, "sub": at.subject, "aud": at.audience, "client_id": at.clientID,
		"iat": at.issued.Unix(), "exp": at.expires.Unix(), "jti": at.id,
	}
	if len(at.scopes) > 0 {
		claims["scope"] = strings.Join(at.scopes, " ")
	}
	if at.jkt != "" { // RFC 9449 §6.1
		claims["cnf"] = map[string]string{"jkt": at.jkt}
	}
	return s.signJWT(ctx, jose.SignatureAlgorithm(c.IDTokenAlg), "at+jwt", claims)
}

// signJWT signs claims with the active key for alg and the given typ.
func (s *Storage) signJWT(ctx context.Context, alg jose.SignatureAlgorithm, typ string, claims any) (string, error) {
	k, err := s.keys.signingKey(ctx, alg)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signed, err := k.sign(typ, payload)
	if err == nil {
		s.keys.verified.remember(signed, k.id)
	}
	return signed, err
}

// introspectServiceToken answers introspection for a client credentials
// token (no user). ok is false when tokenID is not such a token.
func (s *Storage) introspectServiceToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) (bool, error) {
	t, ok := s.tokens.decodeOK(tokenID)
	if !ok || t.grant != "" {
		return false, nil // not ours, or a user's: activeToken decides
	}
	if !s.now().Before(t.expires) || (subject != clientID && !slices.Contains(t.audience, clientID)) {
		return true, errInvalidToken()
	}
	revoked, err := s.db.AccessTokenRevoked(ctx, idHash(tokenID))
	if err != nil {
		return true, err
	}
	if revoked {
		return true, errInvalidToken()
	}
	resp.Active = true
	resp.Scope = oidc.SpaceDelimitedArray(t.scopes)
	resp.ClientID = subject
	setIntrospectionBinding(resp, t.jkt)
	resp.Subject = subject
	resp.Expiration = oidc.FromTime(t.expires)
	resp.IssuedAt = oidc.FromTime(t.issued)
	resp.Audience = oidc.Audience(t.audience)
	resp.JWTID = tokenID
	resp.Issuer = s.cfg.Issuer
	return true, nil
}

// GetKeyByIDAndClientID returns the public key a client registered (its
// JWKS) for private_key_jwt client authentication (RFC 7523 §2.2). A key ID
// is required unless the set has a single key.
// Errors: invalid_client.
func (s *Storage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	c, err := s.loadClient(ctx, clientID)
	if err != nil {
		return nil, err
	}
	if c.JWKS == "" {
		return nil, oidc.ErrInvalidClient().WithDescription("the client has no registered keys")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(c.JWKS), &set); err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("the client's registered keys are unreadable").WithParent(err)
	}
	for i := range set.Keys {
		k := &set.Keys[i]
		if (k.KeyID == keyID || (keyID == "" && len(set.Keys) == 1)) && k.IsPublic() && k.Use != "enc" {
			return k, nil
		}
	}
	return nil, oidc.ErrInvalidClient().WithDescription("unknown client key")
}

// ParseClientJWKS checks a JWK Set a client registers for private_key_jwt:
// valid JSON, at least one public signing key, no private key material.
func ParseClientJWKS(raw string) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(raw), &set); err != nil {
		return err
	}
	if len(set.Keys) == 0 {
		return errors.New("the key set is empty")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return errors.New("the key set holds a private key")
		}
		if !k.Valid() {
			return errors.New("the key set holds an invalid key")
		}
	}
	return nil
}

// clientAssertionAlgs are the private_key_jwt assertion algorithms
// accepted (discovery).
var clientAssertionAlgs = []string{"RS256", "ES256", "PS256"}
