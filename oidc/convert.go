package oidc

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// authRequest adapts models.AuthRequest to op.AuthRequest.
type authRequest struct {
	m    *models.AuthRequest
	user loadedUser // set by AuthRequestByCode
}

var (
	_ op.AuthRequest    = (*authRequest)(nil)
	_ op.LogAuthRequest = (*authRequest)(nil)
)

func (a *authRequest) GetID() string       { return a.m.ID }
func (a *authRequest) GetACR() string      { return a.m.ACR }
func (a *authRequest) GetAMR() []string    { return slices.Clone(a.m.AMR) }
func (a *authRequest) GetClientID() string { return a.m.ClientID }
func (a *authRequest) GetNonce() string    { return a.m.Nonce }
func (a *authRequest) GetState() string    { return a.m.State }
func (a *authRequest) GetScopes() []string { return slices.Clone(a.m.Scopes) }
func (a *authRequest) Done() bool          { return a.m.Done && a.m.UserID != nil && !a.m.ConsentPending }

// GetAudience is the client: Latchkey issues tokens for one audience.
func (a *authRequest) GetAudience() []string { return []string{a.m.ClientID} }

// GetRedirectURI is the redirect URI validated by op at /authorize.
func (a *authRequest) GetRedirectURI() string { return a.m.RedirectURI }

func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(a.m.ResponseType) }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.m.ResponseMode) }

// GetAuthTime is when the user signed in with the passkey.
func (a *authRequest) GetAuthTime() time.Time {
	if a.m.AuthTime == nil {
		return time.Time{}
	}
	return *a.m.AuthTime
}

// GetSubject is the signed-in user's ID, empty before sign-in.
func (a *authRequest) GetSubject() string { return deref(a.m.UserID) }

// GetSessionID is the browser session the request was completed in (the
// sid claim).
func (a *authRequest) GetSessionID() string { return deref(a.m.SessionID) }

// GetCodeChallenge returns the PKCE challenge; only S256 is ever stored.
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.m.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.m.CodeChallenge, Method: oidc.CodeChallengeMethodS256}
}

// LogValue lets op log the request without secrets.
func (a *authRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", a.m.ID),
		slog.String("client_id", a.m.ClientID),
		slog.String("redirect_uri", a.m.RedirectURI),
		slog.Bool("done", a.m.Done),
	)
}

// refreshTokenRequest adapts the grant of a usable refresh token to
// op.RefreshTokenRequest.
type refreshTokenRequest struct {
	m          *models.Grant
	generation int64      // of the refresh token presented (the current one for a retry)
	retry      bool       // a retry within the refresh reuse grace
	scopes     []string   // the scopes asked for in this grant (a subset)
	user       loadedUser // set by TokenRequestByRefreshToken
}

var _ op.RefreshTokenRequest = (*refreshTokenRequest)(nil)

func (r *refreshTokenRequest) GetAMR() []string       { return slices.Clone(r.m.AMR) }
func (r *refreshTokenRequest) GetAudience() []string  { return slices.Clone(r.m.Audience) }
func (r *refreshTokenRequest) GetAuthTime() time.Time { return r.m.AuthTime }
func (r *refreshTokenRequest) GetClientID() string    { return r.m.ClientID }
func (r *refreshTokenRequest) GetScopes() []string    { return slices.Clone(r.scopes) }
func (r *refreshTokenRequest) GetSubject() string     { return r.m.UserID }
func (r *refreshTokenRequest) GetSessionID() string   { return deref(r.m.SessionID) }

// SetCurrentScopes narrows the scopes of the tokens issued now; the new
// refresh token keeps the original scopes (RFC 6749 §6).
func (r *refreshTokenRequest) SetCurrentScopes(scopes []string) { r.scopes = slices.Clone(scopes) }

// loadedUser is the user a token request already loaded (and found
// enabled, with a live session) earlier in the same HTTP request, passed
// along so that the ID token's claims need not load it again. It never
// outlives the request.
type loadedUser struct {
	u      *models.User
	groups bool // u.Groups was loaded
}

func (a *authRequest) loadedUser() loadedUser         { return a.user }
func (r *refreshTokenRequest) loadedUser() loadedUser { return r.user }

// sessionIDer is implemented by requests that carry a browser session.
type sessionIDer interface{ GetSessionID() string }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func logError(ctx context.Context, msg string, err error, args ...any) {
	slog.ErrorContext(ctx, msg, append(args, "error", err)...)
}
