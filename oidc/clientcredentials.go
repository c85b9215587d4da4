package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// The client credentials grant (RFC 6749 §4.4) is served here rather than
// by op: op signs every JWT with typ "JWT", while RFC 9068 §2.1 requires
// "at+jwt" so a resource server cannot mistake an ID token for an access
// token. Errors still go through op.RequestError.

// clientAssertionType is the only client_assertion_type (RFC 7523 §2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// serveClientCredentials answers a token request with
// grant_type=client_credentials. The client must be confidential; the
// access token is a JWT (RFC 9068) whatever the client's access token
// format, with no refresh token and no ID token.
func (p *Provider) serveClientCredentials(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.cfg.Issuer)
	r = r.WithContext(ctx)
	c, err := p.authenticateClient(ctx, r)
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	resp, err := p.storage.clientCredentialsToken(ctx, c, r.Form.Get("scope"), r.Form["resource"])
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	httphelper.MarshalJSON(w, resp)
}

// authenticateClient checks a token request's client authentication:
// client_secret_basic, client_secret_post or private_key_jwt, exactly one
// of them (RFC 6749 §2.3). Public clients cannot authenticate.
// Errors: invalid_client, invalid_request.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request) (*models.Client, error) {
	if err := r.ParseForm(); err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("cannot parse the form").WithParent(err)
	}
	basicID, basicSecret, hasBasic := r.BasicAuth()
	assertion := r.PostForm.Get("client_assertion")
	postSecret := r.PostForm.Get("client_secret")
	methods := 0
	for _, used := range []bool{hasBasic, assertion != "", postSecret != ""} {
		if used {
			methods++
		}
	}
	if methods != 1 {
		return nil, oidc.ErrInvalidClient().WithDescription("use exactly one client authentication method")
	}
	if assertion != "" {
		if r.PostForm.Get("client_assertion_type") != clientAssertionType {
			return nil, oidc.ErrInvalidClient().WithDescription("unsupported client_assertion_type")
		}
		oc, err := op.AuthorizePrivateJWTKey(ctx, assertion, p.op)
		if err != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("invalid client assertion").WithParent(err)
		}
		ca, ok := oc.(*clientAdapter)
		if !ok {
			return nil, oidc.ErrInvalidClient()
		}
		if id := r.PostForm.Get("client_id"); id != "" && id != ca.m.ID {
			return nil, oidc.ErrInvalidClient().WithDescription("client_id does not match the assertion")
		}
		return ca.m, nil
	}
	id, secret := r.PostForm.Get("client_id"), postSecret
	if hasBasic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(basicID)
		secret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("invalid basic auth header")
		}
	}
	c, err := p.storage.loadClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.JWKS != "" || !c.CheckSecret(secret) {
		return nil, oidc.ErrInvalidClient().WithDescription("invalid client credentials")
	}
	return c, nil
}

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
func (s *Storage) clientCredentialsToken(ctx context.Context, c *models.Client, scope string, resources []string) (*oidc.AccessTokenResponse, error) {
	if c.Public {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("public clients cannot use the client credentials grant")
	}
	scopes := strings.Fields(scope)
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
	at := &models.AccessToken{
		ID: models.NewUUID(), ClientID: c.ID, Subject: c.ID,
		Scopes: models.StringList(scopes), Audience: models.StringList(aud),
		CreatedAt: now, ExpiresAt: now.Add(ca.accessTokenTTL()),
	}
	if at.Scopes == nil {
		at.Scopes = models.StringList{}
	}
	if err := s.db.IssueTokens(ctx, at, nil, ""); err != nil {
		return nil, err
	}
	raw, err := s.signAccessToken(ctx, c, at)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, &models.AuditEvent{Type: EventClientCredentials, Success: true, ClientID: c.ID,
		Detail: models.JSONMap{"scopes": scopes, "audience": aud, "jti": at.ID}})
	return &oidc.AccessTokenResponse{AccessToken: raw, TokenType: oidc.BearerToken,
		ExpiresIn: uint64(at.ExpiresAt.Sub(now) / time.Second), Scope: scopes}, nil
}

// EventClientCredentials is the audit event of a client credentials grant.
const EventClientCredentials = "client_credentials_token"

// signAccessToken signs an RFC 9068 access token for at with the client's
// preferred algorithm.
func (s *Storage) signAccessToken(ctx context.Context, c *models.Client, at *models.AccessToken) (string, error) {
	claims := map[string]any{
		"iss": s.cfg.Issuer, "sub": at.Subject, "aud": []string(at.Audience), "client_id": at.ClientID,
		"iat": at.CreatedAt.Unix(), "exp": at.ExpiresAt.Unix(), "jti": at.ID,
	}
	if len(at.Scopes) > 0 {
		claims["scope"] = strings.Join(at.Scopes, " ")
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
	at, err := s.db.ActiveAccessToken(ctx, tokenID)
	if err != nil || at.UserID != nil {
		return false, nil
	}
	if at.Subject != subject || (at.ClientID != clientID && !at.Audience.Contains(clientID)) {
		return true, errInvalidToken()
	}
	resp.Active = true
	resp.Scope = oidc.SpaceDelimitedArray(at.Scopes)
	resp.ClientID = at.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Subject = at.Subject
	resp.Expiration = oidc.FromTime(at.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(at.CreatedAt)
	resp.Audience = oidc.Audience(at.Audience)
	resp.JWTID = at.ID
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

// serveOwnGrant serves the token grants Latchkey implements itself and
// reports whether it did.
func (p *Provider) serveOwnGrant(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		return false
	}
	if r.PostForm.Get("grant_type") == string(oidc.GrantTypeClientCredentials) {
		p.serveClientCredentials(w, r)
		return true
	}
	if r.PostForm.Get("grant_type") == string(oidc.GrantTypeDeviceCode) {
		if err := p.authenticateDeviceClient(r); err != nil {
			op.RequestError(w, r, err, nil)
			return true
		}
	}
	return false
}

// authenticateDeviceClient authenticates a confidential client before op
// handles a device request (RFC 8628 §3.1, §3.4): op checks client
// authentication only after it has redeemed the approved grant, so a poll
// without credentials would burn it, and op recognises only Basic and
// assertions there — a client_secret_post secret is moved to Basic once
// verified. Public clients pass unchanged.
func (p *Provider) authenticateDeviceClient(r *http.Request) error {
	c := clientFromContext(r.Context())
	if c == nil || c.Public {
		return nil
	}
	if _, err := p.authenticateClient(r.Context(), r); err != nil {
		return err
	}
	if secret := r.PostForm.Get("client_secret"); secret != "" {
		r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
		r.PostForm.Del("client_secret")
		r.Form.Del("client_secret")
	}
	return nil
}
