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
	// rotateFrom is the grant of the refresh token presented, at
	// generation fromGeneration.
	rotateFrom     *models.Grant
	fromGeneration int64
	// retry marks the rotation that answers a retry within the refresh
	// reuse grace (refreshRequest).
	retry bool
	// dpopJKT is the key of the request's DPoP proof: the access token is
	// bound to it, and a new grant of a public client too (RFC 9449 §5).
	dpopJKT string
	// claims is the sign-in's claims parameter, kept with a new grant.
	claims string
}

// grantFromAuthRequest is the grant of a redeemed authorization code.
func grantFromAuthRequest(r *authRequest) *grantInfo {
	return &grantInfo{
		clientID: r.m.ClientID, userID: deref(r.m.UserID), sessionID: deref(r.m.SessionID),
		authRequestID: r.m.ID, scopes: r.GetScopes(), grantScopes: r.GetScopes(),
		audience: r.GetAudience(), amr: r.GetAMR(), acr: r.m.ACR, authTime: r.GetAuthTime(), claims: r.m.Claims,
	}
}

// grantFromRefreshToken is the grant of a usable refresh token, which the
// tokens issued now rotate out.
func grantFromRefreshToken(r *refreshTokenRequest) *grantInfo {
	return &grantInfo{
		clientID: r.m.ClientID, userID: r.m.UserID, sessionID: deref(r.m.SessionID),
		authRequestID: deref(r.m.AuthRequestID), scopes: r.GetScopes(), grantScopes: slices.Clone(r.m.Scopes),
		audience: r.GetAudience(), amr: r.GetAMR(), acr: r.m.ACR, authTime: r.m.AuthTime, rotateFrom: r.m, fromGeneration: r.generation, retry: r.retry,
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

// issuedAccess is an access token issued now: what its JWT says, or what
// op encrypts into an opaque token (its ID and subject).
type issuedAccess struct {
	id, clientID, subject string
	scopes, audience      []string
	issued, expires       time.Time
	jkt                   string // the DPoP key it is bound to
}

// CreateAccessToken issues an access token for a grant without a refresh
// token (op.Storage; Latchkey's token endpoint, server.go, calls
// issueTokens itself).
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
	return at.id, at.expires, nil
}

// CreateAccessAndRefreshTokens is issueTokens with a refresh token
// (op.Storage, like CreateAccessToken).
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
	return at.id, raw, at.expires, nil
}

// issueTokens issues the access token of grant g to client c and, when
// refresh is set, a refresh token, and returns the access token and the
// raw refresh token. A new grant (a code or device grant) is stored; a
// refresh grant moves the stored grant to the next generation, so the
// presented token (currentRefreshToken) is rotated out; if another
// request rotated it first the grant fails with invalid_grant and nothing
// is issued. A client under the FAPI 2.0 profile keeps its refresh token:
// its grant is only extended.
func (s *Storage) issueTokens(ctx context.Context, g *grantInfo, c *models.Client, refresh bool, currentRefreshToken string) (*issuedAccess, string, error) {
	if (currentRefreshToken != "") != (g.rotateFrom != nil) || (g.rotateFrom != nil && !refresh) {
		return nil, "", oidc.ErrInvalidGrant().WithDescription("refresh token does not match the grant")
	}
	ca := &clientAdapter{m: c, cfg: &s.cfg}
	now := s.now()
	at := &issuedAccess{clientID: g.clientID, subject: g.userID, scopes: g.scopes, audience: g.audience,
		issued: now, expires: now.Add(ca.accessTokenTTL()), jkt: g.dpopJKT}
	expires := at.expires
	if rt := now.Add(ca.refreshTokenTTL()); refresh && rt.After(expires) {
		expires = rt
	}
	var grantID string
	var gen int64
	if g.rotateFrom != nil {
		grantID, gen = g.rotateFrom.ID, g.fromGeneration+1
		rotate := s.db.RotateGrant
		switch {
		case g.retry:
			rotate = s.db.RotateGrantRetry
		case c.FAPI2() && len(g.rotateFrom.LegacyHash) == 0:
			// FAPI 2.0 Security Profile, authorization server: "shall
			// not use refresh token rotation except in extraordinary
			// circumstances"; its refresh tokens are useless without
			// the client's private_key_jwt key, so the token stays.
			gen, rotate = g.fromGeneration, s.db.ExtendGrant
		}
		if err := rotate(ctx, grantID, g.fromGeneration, expires); err != nil {
			if errors.Is(err, models.ErrConflict) {
				return nil, "", oidc.ErrInvalidGrant().WithDescription("refresh token already used").WithParent(err)
			}
			return nil, "", err
		}
	} else {
		grantID = models.NewTimeOrderedID()
		if refresh {
			gen = 1
		}
		bound := ""
		if c.Public && refresh { // RFC 9449 §5: only a public client's refresh tokens are bound
			bound = g.dpopJKT
		}
		err := s.db.CreateGrant(ctx, &models.Grant{
			ID: grantID, ClientID: g.clientID, UserID: g.userID, SessionID: ptr(g.sessionID), AuthRequestID: ptr(g.authRequestID),
			Scopes: models.StringList(g.grantScopes), Audience: models.StringList(g.audience), AMR: models.StringList(g.amr),
			ACR: g.acr, AuthTime: g.authTime, Generation: gen, CreatedAt: now, UpdatedAt: now, ExpiresAt: expires, DPoPJKT: bound, Claims: g.claims,
		})
		if err != nil {
			return nil, "", err
		}
	}
	id := accessTokenID{grant: grantID, generation: gen, issued: at.issued, expires: at.expires, jkt: g.dpopJKT}
	if !slices.Equal(g.scopes, g.grantScopes) {
		id.scopes = g.scopes
	}
	at.id = s.tokens.encode(id)
	raw := ""
	if refresh {
		raw = s.tokens.refreshToken(grantID, gen)
	}
	return at, raw, nil
}

// TokenRequestByRefreshToken loads the grant behind a refresh token
// (refreshRequest without a client, so without the reuse grace).
func (s *Storage) TokenRequestByRefreshToken(ctx context.Context, raw string) (op.RefreshTokenRequest, error) {
	r, err := s.refreshRequest(ctx, raw, "")
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return r, nil
}

// refreshRequest loads the grant behind a refresh token presented by
// clientID.
//
// Presenting an authentic token of an earlier generation of a live grant
// is treated as theft: the grant is revoked and the event audited (RFC
// 9700 §4.14.2). One exception, the retry of a refresh whose response was
// lost: the token rotated out last (generation current-1), presented by
// the grant's own client within RefreshReuseGrace of that rotation, while
// its successor is unused (the grant still at that successor's
// generation), rotates the grant again and gets a new token pair; the lost
// successor is then invalid. The retry is audited (EventRefreshRetry). The
// state is the grant row (generation, updated_at), so it holds across
// instances. Errors: invalid_grant for unknown, forged, replayed, revoked
// and expired tokens and for disabled users or ended sessions.
func (s *Storage) refreshRequest(ctx context.Context, raw, clientID string) (*refreshTokenRequest, error) {
	withGroups := func(g *models.Grant) bool { return slices.Contains(g.Scopes, scopeGroups) }
	var g *models.Grant
	var u *models.User
	grantID, gen, err := s.tokens.parseRefreshToken(raw)
	if err == nil {
		g, u, err = s.db.LiveGrant(ctx, grantID, nil, withGroups)
	} else {
		g, u, err = s.db.LiveLegacyGrant(ctx, models.HashToken(raw), withGroups) // issued before grants (migration 00010)
	}
	if errors.Is(err, models.ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token is invalid, expired or revoked, or its session has ended").WithParent(err)
	}
	if err != nil {
		return nil, err
	}
	if gen < g.Generation {
		detail := models.JSONMap{"family_id": g.ID, "generation": gen, "current": g.Generation}
		if s.retryWithinGrace(g, gen, clientID) {
			detail["grace"] = s.cfg.RefreshReuseGrace.String()
			s.audit(ctx, &models.AuditEvent{Type: models.EventRefreshRetry, Success: true, UserID: g.UserID, ClientID: g.ClientID, Detail: detail})
			// Rotates from the current generation: a concurrent use of
			// the successor makes one of the two fail (RotateGrant).
			return &refreshTokenRequest{m: g, generation: g.Generation, retry: true, scopes: slices.Clone(g.Scopes), user: loadedUser{u: u, groups: withGroups(g)}}, nil
		}
		if err := s.db.RevokeGrant(ctx, g.ID); err != nil {
			return nil, fmt.Errorf("revoke grant: %w", err)
		}
		s.audit(ctx, &models.AuditEvent{Type: models.EventRefreshReuse, Success: false, UserID: g.UserID, ClientID: g.ClientID, Detail: detail})
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token is no longer valid")
	}
	if gen > g.Generation {
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token is invalid")
	}
	return &refreshTokenRequest{m: g, generation: gen, scopes: slices.Clone(g.Scopes), user: loadedUser{u: u, groups: withGroups(g)}}, nil
}

// retryWithinGrace reports whether a refresh token of generation gen,
// presented by clientID, is the retry of a refresh whose response was
// lost: the token rotated out last, by the grant's client, at most
// RefreshReuseGrace after that rotation (updated_at; no successor has
// been used since, or the generation would have moved on), and that
// rotation was not itself a retry (Retried).
func (s *Storage) retryWithinGrace(g *models.Grant, gen int64, clientID string) bool {
	grace := s.cfg.RefreshReuseGrace
	return grace > 0 && clientID != "" && clientID == g.ClientID && gen == g.Generation-1 && !g.Retried &&
		!s.now().After(g.UpdatedAt.Add(grace))
}

// grantOfRefreshToken finds the grant a refresh token names, in any
// state; errNotOurs when it names none.
func (s *Storage) grantOfRefreshToken(ctx context.Context, raw string) (*models.Grant, error) {
	var g *models.Grant
	grantID, _, err := s.tokens.parseRefreshToken(raw)
	if err == nil {
		g, err = s.db.GrantByID(ctx, grantID)
	} else {
		g, err = s.db.GrantByLegacyHash(ctx, models.HashToken(raw))
	}
	if errors.Is(err, models.ErrNotFound) {
		return nil, errNotOurs
	}
	return g, err
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
	g, err := s.grantOfRefreshToken(ctx, token)
	if errors.Is(err, errNotOurs) {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", err
	}
	return g.UserID, token, nil
}

// RevokeToken revokes a refresh token (and with it its grant and every
// access token issued from it) or one access token (RFC 7009 §2.1). The
// token must have been issued to clientID (unauthorized_client otherwise).
// Unknown tokens are not an error (RFC 7009 §2.2).
func (s *Storage) RevokeToken(ctx context.Context, tokenOrTokenID, subject string, clientID string) *oidc.Error {
	g, err := s.grantOfRefreshToken(ctx, tokenOrTokenID)
	switch {
	case err == nil:
		if g.ClientID != clientID {
			return oidc.ErrUnauthorizedClient().WithDescription("token was not issued to this client")
		}
		if err := s.db.RevokeGrant(ctx, g.ID); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		return nil
	case !errors.Is(err, errNotOurs):
		return oidc.ErrServerError().WithParent(err)
	}
	t, ok := s.tokens.decodeOK(tokenOrTokenID)
	if !ok || !s.now().Before(t.expires) {
		return nil // not ours, or expired already
	}
	owner := subject // a client credentials token's subject is its client
	if t.grant != "" {
		g, err := s.db.GrantByID(ctx, t.grant)
		switch {
		case errors.Is(err, models.ErrNotFound):
			return nil // revoked or expired with its grant
		case err != nil:
			return oidc.ErrServerError().WithParent(err)
		}
		owner = g.ClientID
	}
	if owner != clientID {
		return oidc.ErrUnauthorizedClient().WithDescription("token was not issued to this client")
	}
	if err := s.db.RevokeAccessToken(ctx, idHash(tokenOrTokenID), t.expires); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}
