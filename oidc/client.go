package oidc

import (
	"context"
	"errors"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// Scope names beyond the OIDC core ones.
const scopeGroups = "groups"

// supportedScopes are the scopes Latchkey knows how to honour.
var supportedScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, scopeGroups, oidc.ScopeOfflineAccess}

// clientAdapter adapts models.Client to op.Client.
//
// Confidential clients are "web" and authenticate with client_secret_basic
// (client_secret_post is accepted too); public clients are "native" and
// authenticate with PKCE only. For native clients op lets a loopback
// redirect URI use any port (RFC 8252 §7.3); CreateAuthRequest additionally
// requires the same scheme, host, path and query as a registered one.
type clientAdapter struct {
	m   *models.Client
	cfg *Config
}

var _ op.Client = (*clientAdapter)(nil)

func (c *clientAdapter) GetID() string          { return c.m.ID }
func (c *clientAdapter) RedirectURIs() []string { return slices.Clone(c.m.RedirectURIs) }
func (c *clientAdapter) PostLogoutRedirectURIs() []string {
	return slices.Clone(c.m.PostLogoutRedirectURIs)
}

func (c *clientAdapter) ApplicationType() op.ApplicationType {
	if c.m.Public {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c *clientAdapter) AuthMethod() oidc.AuthMethod {
	if c.m.Public {
		return oidc.AuthMethodNone
	}
	if c.m.JWKS != "" {
		return oidc.AuthMethodPrivateKeyJWT // clientcredentials.go
	}
	return oidc.AuthMethodBasic
}

func (c *clientAdapter) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *clientAdapter) GrantTypes() []oidc.GrantType {
	g := []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeDeviceCode}
	if !c.m.Public && !c.m.SelfRegistered() { // a registered client acts for users only (registration.go)
		g = append(g, oidc.GrantTypeClientCredentials)
	}
	return g
}

// LoginURL is where op sends the browser to sign in (relative to the
// public listener).
func (c *clientAdapter) LoginURL(authRequestID string) string {
	return c.cfg.LoginPath + "?authRequestID=" + url.QueryEscape(authRequestID)
}

func (c *clientAdapter) AccessTokenType() op.AccessTokenType {
	if c.m.AccessTokenFormat == models.AccessTokenOpaque {
		return op.AccessTokenTypeBearer
	}
	return op.AccessTokenTypeJWT
}

func (c *clientAdapter) IDTokenLifetime() time.Duration {
	if c.m.IDTokenTTL > 0 {
		return time.Duration(c.m.IDTokenTTL) * time.Second
	}
	return c.cfg.IDTokenTTL
}

func (c *clientAdapter) accessTokenTTL() time.Duration {
	if c.m.AccessTokenTTL > 0 {
		return time.Duration(c.m.AccessTokenTTL) * time.Second
	}
	return c.cfg.AccessTokenTTL
}

func (c *clientAdapter) refreshTokenTTL() time.Duration {
	if c.m.RefreshTokenTTL > 0 {
		return time.Duration(c.m.RefreshTokenTTL) * time.Second
	}
	return c.cfg.RefreshTokenTTL
}

func (c *clientAdapter) DevMode() bool { return false }

// RestrictAdditionalIdTokenScopes keeps every scope for a "scoped"
// client and only openid for a "minimal" one, whose ID token carries the
// protocol claims alone (models.IDTokenClaimsMinimal).
func (c *clientAdapter) RestrictAdditionalIdTokenScopes() func([]string) []string { //nolint:revive // op.Client names it so
	if c.minimalIDToken() {
		return func(s []string) []string {
			if slices.Contains(s, oidc.ScopeOpenID) {
				return []string{oidc.ScopeOpenID}
			}
			return nil
		}
	}
	return func(s []string) []string { return s }
}

// minimalIDToken reports whether the client asked for ID tokens without
// the user's claims.
func (c *clientAdapter) minimalIDToken() bool {
	return c.m.IDTokenClaims == models.IDTokenClaimsMinimal
}

func (c *clientAdapter) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed reports whether the client may ask for scope. An empty
// AllowedScopes allows every supported scope; otherwise it is an allowlist
// (openid is always allowed).
func (c *clientAdapter) IsScopeAllowed(scope string) bool {
	if scope == oidc.ScopeOpenID {
		return true
	}
	if len(c.m.AllowedScopes) == 0 {
		return slices.Contains(supportedScopes, scope)
	}
	return c.m.AllowedScopes.Contains(scope)
}

// IDTokenUserinfoClaimsAssertion is true unless the client chose
// "minimal" ID tokens: the ID token then carries the claims of the granted
// profile and email scopes even though an access token is issued too.
// OIDC Core §5.4 says these claims are returned from userinfo in that case
// but does not forbid them in the ID token (§2 allows other claims), and
// kube-apiserver, Grafana and other relying parties read only the ID
// token, as Keycloak, Dex and Pocket ID serve them.
func (c *clientAdapter) IDTokenUserinfoClaimsAssertion() bool { return !c.minimalIDToken() }

func (c *clientAdapter) ClockSkew() time.Duration { return 0 }

// loadClient returns the client. Unknown clients are invalid_client.
func (s *Storage) loadClient(ctx context.Context, id string) (*models.Client, error) {
	version := s.db.ClientsVersion()
	if c, ok := s.clients.get(id, version); ok { // clientcache.go
		return c, nil
	}
	c, err := s.db.ClientByID(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client").WithParent(err)
	}
	if err != nil {
		return nil, err
	}
	s.clients.put(c, version)
	return c, nil
}

// GetClientByClientID loads a client. Errors: invalid_client if unknown.
func (s *Storage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	m, err := s.loadClient(ctx, clientID)
	if err != nil {
		return nil, err
	}
	return &clientAdapter{m: m, cfg: &s.cfg}, nil
}

// AuthorizeClientIDSecret checks a confidential client's secret in
// constant time. Errors: invalid_client for an unknown client, a public
// client or a wrong secret.
func (s *Storage) AuthorizeClientIDSecret(ctx context.Context, clientID, clientSecret string) error {
	m, err := s.loadClient(ctx, clientID)
	if err != nil {
		return err
	}
	if m.JWKS != "" || !m.CheckSecret(clientSecret) { // private_key_jwt clients have no usable secret
		return oidc.ErrInvalidClient().WithDescription("invalid client credentials")
	}
	return nil
}

// checkRedirectURI accepts a redirect URI that is registered verbatim or,
// for public clients, a loopback URI that differs from a registered
// loopback URI only in its port (RFC 8252 §7.3). op's own check ignores
// the scheme and host among loopback URIs; this one does not.
func checkRedirectURI(c *models.Client, uri string) bool {
	if c.RedirectURIs.Contains(uri) {
		return true
	}
	if !c.Public {
		return false
	}
	u, ok := loopbackURL(uri)
	if !ok {
		return false
	}
	for _, r := range c.RedirectURIs {
		reg, ok := loopbackURL(r)
		if ok && reg.Scheme == u.Scheme && reg.Hostname() == u.Hostname() &&
			reg.EscapedPath() == u.EscapedPath() && reg.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}

// loopbackURL parses an http URL whose host is a loopback IP literal or
// "localhost", without user info or fragment.
func loopbackURL(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, false
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, true
	}
	ip := net.ParseIP(host)
	return u, ip != nil && ip.IsLoopback()
}

// ClientStorageError returns the error of loading the client clientID when
// it is a storage failure, and nil when the client loads or is unknown
// (op answers that). The authorization endpoint asks it first, so that a
// database outage shows the browser an error page rather than op's
// "unable to retrieve client by id", which reads as the client's fault.
func (p *Provider) ClientStorageError(ctx context.Context, clientID string) error {
	if clientID == "" {
		return nil
	}
	_, err := p.storage.loadClient(ctx, clientID)
	var oe *oidc.Error
	if err == nil || errors.As(err, &oe) {
		return nil
	}
	return err
}
