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

// grantFromRequest extracts the grant from the token requests op hands
// over: an *authRequest (code exchange) or a *refreshTokenRequest.
func grantFromRequest(req op.TokenRequest) (*grantInfo, error) {
	switch r := req.(type) {
	case *authRequest:
		return &grantInfo{
			clientID: r.m.ClientID, userID: deref(r.m.UserID), sessionID: deref(r.m.SessionID),
			authRequestID: r.m.ID, scopes: r.GetScopes(), grantScopes: r.GetScopes(),
			audience: r.GetAudience(), amr: r.GetAMR(), acr: r.m.ACR, authTime: r.GetAuthTime(),
		}, nil
	case *op.DeviceAuthorizationState:
		return nil, oidc.ErrServerError().WithDescription("device grant needs its context") // see grantFromContext
	case *refreshTokenRequest:
		return &grantInfo{
			clientID: r.m.ClientID, userID: r.m.UserID, sessionID: deref(r.m.SessionID),
			authRequestID: deref(r.m.AuthRequestID), scopes: r.GetScopes(), grantScopes: slices.Clone(r.m.Scopes),
			audience: r.GetAudience(), amr: r.GetAMR(), acr: r.m.ACR, authTime: r.m.AuthTime, rotateFrom: r.m,
		}, nil
	}
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("grant not supported")
}

// grantFromContext is grantFromRequest plus the device grant (device.go),
// whose details travel in the request context.
func grantFromContext(ctx context.Context, req op.TokenRequest) (*grantInfo, error) {
	if st, ok := req.(*op.DeviceAuthorizationState); ok {
		return deviceGrant(ctx, st)
	}
	return grantFromRequest(req)
}

// newAccessToken builds the access token record for a grant.
func (s *Storage) newAccessToken(ctx context.Context, g *grantInfo) (*models.AccessToken, *clientAdapter, error) {
	m, err := s.loadClient(ctx, g.clientID)
	if err != nil {
		return nil, nil, err
	}
	c := &clientAdapter{m: m, cfg: &s.cfg}
	now := s.now()
	at := &models.AccessToken{
		ID:            models.NewTimeOrderedID(),
		ClientID:      g.clientID,
		Subject:       g.userID,
		UserID:        ptr(g.userID),
		SessionID:     ptr(g.sessionID),
		AuthRequestID: ptr(g.authRequestID),
		Scopes:        models.StringList(g.scopes),
		Audience:      models.StringList(g.audience),
		CreatedAt:     now,
		ExpiresAt:     now.Add(c.accessTokenTTL()),
	}
	return at, c, nil
}

// CreateAccessToken records an access token for a code exchange without
// offline_access. The returned ID is the JWT jti or is encrypted into the
// opaque token by op.
func (s *Storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	g, err := grantFromContext(ctx, req)
	if err != nil {
		return "", time.Time{}, err
	}
	at, _, err := s.newAccessToken(ctx, g)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := s.db.IssueTokens(ctx, at, nil, ""); err != nil {
		return "", time.Time{}, err
	}
	return at.ID, at.ExpiresAt, nil
}

// CreateAccessAndRefreshTokens issues an access token and an opaque refresh
// token (only its hash is stored). For a refresh grant the presented token
// is rotated out in the same transaction; if it was rotated concurrently
// the grant fails with invalid_grant and nothing is issued.
func (s *Storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	g, err := grantFromContext(ctx, req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	if (currentRefreshToken != "") != (g.rotateFrom != nil) {
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token does not match the grant")
	}
	at, c, err := s.newAccessToken(ctx, g)
	if err != nil {
		return "", "", time.Time{}, err
	}
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
		ExpiresAt:     at.CreatedAt.Add(c.refreshTokenTTL()),
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
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used").WithParent(err)
		}
		return "", "", time.Time{}, err
	}
	return at.ID, raw, at.ExpiresAt, nil
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
