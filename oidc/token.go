package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// grantInfo is what a token grant carries over from the sign-in.
type grantInfo struct {
	clientID      string
	userID        string
	sessionID     string
	authRequestID string
	scopes        []string // scopes of the access token issued now
	grantScopes   []string // scopes of the refresh token (the whole grant)
	audience      []string
	amr           []string
	acr           string
	authTime      time.Time
	rotateFrom    *models.RefreshToken
}

// grantFromAuthRequest is the grant of a redeemed authorization code.
func grantFromAuthRequest(r *authRequest) *grantInfo {
	return &grantInfo{
		clientID: r.m.ClientID, userID: deref(r.m.UserID), sessionID: deref(r.m.SessionID),
		authRequestID: r.m.ID, scopes: r.GetScopes(), grantScopes: r.GetScopes(),
		audience: r.GetAudience(), amr: r.GetAMR(), acr: r.m.ACR, authTime: r.GetAuthTime(),
	}
}

// grantFromRefreshToken is the grant of a usable refresh token, which the
// tokens issued now rotate out.
func grantFromRefreshToken(r *refreshTokenRequest) *grantInfo {
	return &grantInfo{
		clientID: r.m.ClientID, userID: r.m.UserID, sessionID: deref(r.m.SessionID),
		authRequestID: deref(r.m.AuthRequestID), scopes: r.GetScopes(), grantScopes: slices.Clone(r.m.Scopes),
		audience: r.GetAudience(), amr: r.GetAMR(), acr: r.m.ACR, authTime: r.m.AuthTime, rotateFrom: r.m,
	}
}

// grantFromRequest extracts the grant from a token request op hands to
// CreateAccessToken or CreateAccessAndRefreshTokens. Latchkey's own token
// endpoint (server.go) does not go through them; the device grant does
// not either, as its state lacks the session (deviceGrant).
func grantFromRequest(req op.TokenRequest) (*grantInfo, error) {
	switch r := req.(type) {
	case *authRequest:
		return grantFromAuthRequest(r), nil
	case *refreshTokenRequest:
		return grantFromRefreshToken(r), nil
	}
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("grant not supported")
}

// newAccessToken builds the access token record for a grant to c.
func (s *Storage) newAccessToken(g *grantInfo, c *models.Client) *models.AccessToken {
	ca := &clientAdapter{m: c, cfg: &s.cfg}
	now := s.now()
	return &models.AccessToken{
		ID:            models.NewTimeOrderedID(),
		ClientID:      g.clientID,
		Subject:       g.userID,
		UserID:        ptr(g.userID),
		SessionID:     ptr(g.sessionID),
		AuthRequestID: ptr(g.authRequestID),
		Scopes:        models.StringList(g.scopes),
		Audience:      models.StringList(g.audience),
		CreatedAt:     now,
		ExpiresAt:     now.Add(ca.accessTokenTTL()),
	}
}

// CreateAccessToken records an access token for a grant without a refresh
// token (op.Storage; server.go calls issueTokens).
func (s *Storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	g, err := grantFromRequest(req)
	if err != nil {
		return "", time.Time{}, err
	}
	c, err := s.loadClient(ctx, g.clientID)
	if err != nil {
		return "", time.Time{}, err
	}
	at, _, err := s.issueTokens(ctx, g, c, false, "")
	if err != nil {
		return "", time.Time{}, err
	}
	return at.ID, at.ExpiresAt, nil
}

// CreateAccessAndRefreshTokens is issueTokens with a refresh token
// (op.Storage; server.go calls issueTokens).
func (s *Storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	g, err := grantFromRequest(req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	c, err := s.loadClient(ctx, g.clientID)
	if err != nil {
		return "", "", time.Time{}, err
	}
	at, raw, err := s.issueTokens(ctx, g, c, true, currentRefreshToken)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return at.ID, raw, at.ExpiresAt, nil
}

// issueTokens records the access token of grant g to client c and, when
// refresh is set, an opaque refresh token (only its hash is stored), and
// returns the access token record and the raw refresh token. For a
// refresh grant the presented token (currentRefreshToken) is rotated out
// in the same transaction; if it was rotated concurrently the grant fails
// with invalid_grant and nothing is issued.
func (s *Storage) issueTokens(ctx context.Context, g *grantInfo, c *models.Client, refresh bool, currentRefreshToken string) (*models.AccessToken, string, error) {
	at := s.newAccessToken(g, c)
	if !refresh {
		if g.rotateFrom != nil {
			return nil, "", oidc.ErrInvalidGrant().WithDescription("refresh token does not match the grant")
		}
		return at, "", s.db.IssueTokens(ctx, at, nil, "")
	}
	if (currentRefreshToken != "") != (g.rotateFrom != nil) {
		return nil, "", oidc.ErrInvalidGrant().WithDescription("refresh token does not match the grant")
	}
	ca := &clientAdapter{m: c, cfg: &s.cfg}
	raw := models.NewToken()
	rt := &models.RefreshToken{
		ID:            models.NewTimeOrderedID(),
		TokenHash:     models.HashToken(raw),
		ClientID:      g.clientID,
		UserID:        g.userID,
		SessionID:     ptr(g.sessionID),
		AuthRequestID: ptr(g.authRequestID),
		Scopes:        models.StringList(g.grantScopes),
		Audience:      models.StringList(g.audience),
		AMR:           models.StringList(g.amr),
		ACR:           g.acr,
		AuthTime:      g.authTime,
		CreatedAt:     at.CreatedAt,
		ExpiresAt:     at.CreatedAt.Add(ca.refreshTokenTTL()),
	}
	if rt.AMR == nil {
		rt.AMR = models.StringList{}
	}
	rotateFrom := ""
	if g.rotateFrom != nil {
		rt.FamilyID, rotateFrom = g.rotateFrom.FamilyID, g.rotateFrom.ID
	} else {
		rt.FamilyID = rt.ID // the first token of a family names it
	}
	at.FamilyID = &rt.FamilyID
	if err := s.db.IssueTokens(ctx, at, rt, rotateFrom); err != nil {
		if errors.Is(err, models.ErrConflict) {
			return nil, "", oidc.ErrInvalidGrant().WithDescription("refresh token already used").WithParent(err)
		}
		return nil, "", err
	}
	return at, raw, nil
}

// TokenRequestByRefreshToken loads the grant behind a refresh token.
//
// Presenting a token that was already rotated out is treated as theft: the
// whole family is revoked and the event audited (RFC 9700 §4.14.2). A token
// that was merely revoked (logout, admin action, an earlier reuse) is just
// refused. Errors: invalid_grant for unknown, reused, revoked and expired
// tokens and for disabled users or ended sessions.
func (s *Storage) TokenRequestByRefreshToken(ctx context.Context, raw string) (op.RefreshTokenRequest, error) {
	rt, err := s.db.RefreshTokenByRaw(ctx, raw)
	if err != nil {
		return nil, grantError(err, "refresh token")
	}
	if rt.RotatedAt != nil {
		if err := s.db.RevokeFamily(ctx, rt.FamilyID); err != nil {
			return nil, fmt.Errorf("revoke refresh token family: %w", err)
		}
		s.audit(ctx, &models.AuditEvent{
			Type: models.EventRefreshReuse, Success: false, UserID: rt.UserID, ClientID: rt.ClientID,
			Detail: models.JSONMap{"family_id": rt.FamilyID},
		})
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token is no longer valid")
	}
	// Not rotated (above), not revoked, not expired, the user enabled and
	// the session live: models.RefreshTokenUsable, with the user's liveness
	// check also loading the user for the ID token.
	if rt.RevokedAt != nil || !s.db.Now().Before(rt.ExpiresAt) {
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token is expired or its session has ended")
	}
	groups := slices.Contains(rt.Scopes, scopeGroups)
	u, err := s.db.LiveUser(ctx, rt.UserID, deref(rt.SessionID), groups)
	if errors.Is(err, models.ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token is expired or its session has ended")
	}
	if err != nil {
		return nil, err
	}
	return &refreshTokenRequest{m: rt, scopes: slices.Clone(rt.Scopes), user: loadedUser{u: u, groups: groups}}, nil
}

// TerminateSession is op's fallback logout; op calls
// TerminateSessionFromRequest instead. It revokes the client's tokens for
// the user.
func (s *Storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	return s.db.RevokeClientTokensForUser(ctx, userID, clientID)
}

// GetRefreshTokenInfo identifies a refresh token for revocation. The
// returned tokenID is the raw token itself, which RevokeToken looks up
// again. Errors: op.ErrInvalidRefreshToken for anything that is not one of
// our refresh tokens (op then tries it as an access token).
func (s *Storage) GetRefreshTokenInfo(ctx context.Context, _ string, token string) (string, string, error) {
	rt, err := s.db.RefreshTokenByRaw(ctx, token)
	if errors.Is(err, models.ErrNotFound) {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", err
	}
	return rt.UserID, token, nil
}

// RevokeToken revokes a refresh token (and with it its whole family and
// the access tokens issued from it) or one access token (RFC 7009). The
// token must have been issued to clientID (unauthorized_client otherwise).
// Unknown tokens are not an error (RFC 7009 §2.2).
func (s *Storage) RevokeToken(ctx context.Context, tokenOrTokenID, _ string, clientID string) *oidc.Error {
	rt, err := s.db.RefreshTokenByRaw(ctx, tokenOrTokenID)
	switch {
	case err == nil:
		if rt.ClientID != clientID {
			return oidc.ErrUnauthorizedClient().WithDescription("token was not issued to this client")
		}
		if err := s.db.RevokeFamily(ctx, rt.FamilyID); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		return nil
	case !errors.Is(err, models.ErrNotFound):
		return oidc.ErrServerError().WithParent(err)
	}
	at, err := s.db.AccessTokenByID(ctx, tokenOrTokenID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return nil
	case err != nil:
		return oidc.ErrServerError().WithParent(err)
	case at.ClientID != clientID:
		return oidc.ErrUnauthorizedClient().WithDescription("token was not issued to this client")
	}
	if err := s.db.RevokeAccessToken(ctx, at.ID, clientID); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}
