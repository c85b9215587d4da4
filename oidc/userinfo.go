package oidc

import (
	"context"
	"errors"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/latchkey-idp/latchkey/models"
)

// reservedClaims may not be set by a user's custom claims: they are
// registered JWT/OIDC/introspection claims or claims Latchkey fills itself.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"auth_time": true, "nonce": true, "acr": true, "amr": true, "azp": true, "at_hash": true,
	"c_hash": true, "sid": true, "act": true, "cnf": true, "client_id": true, "scope": true,
	"active": true, "token_type": true, "username": true, "groups": true,
	"name": true, "given_name": true, "family_name": true, "middle_name": true, "nickname": true,
	"preferred_username": true, "profile": true, "picture": true, "website": true, "email": true,
	"email_verified": true, "gender": true, "birthdate": true, "zoneinfo": true, "locale": true,
	"phone_number": true, "phone_number_verified": true, "address": true, "updated_at": true,
}

// setUserinfo fills info with the claims the scopes grant: sub always;
// profile → name, preferred_username, updated_at and locale (the user's
// chosen language, a BCP 47 tag, OIDC Core §5.1) when one is set; email → email,
// email_verified; groups → groups (names). Custom claims are added unless
// they would shadow a reserved claim.
func setUserinfo(info *oidc.UserInfo, u *models.User, scopes []string) {
	info.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.DisplayName
		if info.Name == "" {
			info.Name = u.Username
		}
		info.PreferredUsername = u.Username
		info.UpdatedAt = oidc.FromTime(u.UpdatedAt)
		if u.Locale != "" {
			if tag, err := language.Parse(u.Locale); err == nil {
				info.Locale = oidc.NewLocale(tag)
			}
		}
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(u.EmailVerified)
		// op's UserInfoEmail drops email_verified when false (omitempty);
		// clients read a missing claim as unknown, so it always comes with
		// email as a boolean (OIDC Core §5.1). The claim map fills in false.
		info.AppendClaims("email_verified", u.EmailVerified)
	}
	if slices.Contains(scopes, scopeGroups) {
		info.AppendClaims(scopeGroups, u.GroupNames())
	}
	for k, v := range u.CustomClaims {
		if !reservedClaims[k] {
			info.AppendClaims(k, v)
		}
	}
}

// SetUserinfoFromScopes is deprecated in op; SetUserinfoFromRequest does
// the work.
func (s *Storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims for the scopes
// op passes (all granted scopes for a "scoped" client, client.go) and adds
// sid, the browser session the grant started in.
func (s *Storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	var u *models.User
	if r, ok := req.(interface{ loadedUser() loadedUser }); ok {
		// Loaded (and checked live) by this same request's
		// AuthRequestByCode or TokenRequestByRefreshToken.
		if l := r.loadedUser(); l.u != nil && l.u.ID == req.GetSubject() && (l.groups || !slices.Contains(scopes, scopeGroups)) {
			u = l.u
		}
	}
	if u == nil {
		var err error
		if u, err = s.db.UserByID(ctx, req.GetSubject()); err != nil {
			return err
		}
	}
	setUserinfo(info, u, scopes)
	if r, ok := req.(sessionIDer); ok && r.GetSessionID() != "" {
		info.AppendClaims("sid", r.GetSessionID())
	}
	return nil
}

// liveAccess is a live access token issued from a user's grant.
type liveAccess struct {
	grant  *models.Grant
	id     accessTokenID
	scopes []string // the token's
}

// activeToken returns the access token if it is live and belongs to
// subject; otherwise an error (userinfo answers 401, introspection
// active=false). Every request checks the token's expiry and MAC and, in
// one statement, its grant (not revoked), the user (enabled) and the
// session (not ended), and loads the user (instant revocation).
func (s *Storage) activeToken(ctx context.Context, tokenID, subject string) (*liveAccess, *models.User, error) {
	t, err := s.tokens.decode(tokenID)
	if err != nil || t.grant == "" || !s.now().Before(t.expires) {
		return nil, nil, errInvalidToken()
	}
	g, u, err := s.db.LiveGrant(ctx, t.grant, idHash(tokenID), func(g *models.Grant) bool {
		return slices.Contains(scopesOf(t.scopes, g.Scopes), scopeGroups)
	})
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, errInvalidToken().WithParent(err)
	}
	if err != nil {
		return nil, nil, err
	}
	if g.UserID != subject {
		return nil, nil, errInvalidToken()
	}
	return &liveAccess{grant: g, id: t, scopes: scopesOf(t.scopes, g.Scopes)}, u, nil
}

// scopesOf returns the token's scopes, or the grant's when it has none of
// its own.
func scopesOf(token []string, grant models.StringList) []string {
	if token != nil {
		return token
	}
	return grant
}

// errInvalidToken is the error for a revoked, expired or foreign token.
func errInvalidToken() *oidc.Error {
	return &oidc.Error{ErrorType: "invalid_token", Description: "the access token is invalid"}
}

// SetUserinfoFromToken answers /userinfo for a live access token.
// Errors: invalid_token when it is revoked, expired, or its user disabled
// or session ended.
func (s *Storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	at, u, err := s.activeToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	setUserinfo(info, u, at.scopes)
	return nil
}

// SetIntrospectionFromToken answers introspection (RFC 7662) for a live
// access token. Only a client the token was issued to (or that is in its
// audience) learns about it; for anyone else the token is inactive.
func (s *Storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	if ok, err := s.introspectServiceToken(ctx, resp, tokenID, subject, clientID); ok { // clientcredentials.go
		return err
	}
	at, u, err := s.activeToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	g := at.grant
	if g.ClientID != clientID && !g.Audience.Contains(clientID) {
		return errInvalidToken()
	}
	info := new(oidc.UserInfo)
	setUserinfo(info, u, at.scopes)
	if g.SessionID != nil {
		info.AppendClaims("sid", *g.SessionID)
	}
	resp.SetUserInfo(info)
	resp.Scope = oidc.SpaceDelimitedArray(at.scopes)
	resp.ClientID = g.ClientID
	setIntrospectionBinding(resp, at.id.jkt)
	resp.Subject = g.UserID
	resp.Expiration = oidc.FromTime(at.id.expires)
	resp.IssuedAt = oidc.FromTime(at.id.issued)
	resp.Audience = oidc.Audience(g.Audience)
	resp.JWTID = tokenID
	resp.Issuer = s.cfg.Issuer
	return nil
}

// GetPrivateClaimsFromScopes adds no private claims to JWT access tokens:
// APIs get user claims from userinfo or introspection.
func (s *Storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// ValidateJWTProfileScopes refuses the JWT bearer grant (not supported).
func (s *Storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnauthorizedClient().WithDescription("JWT bearer grant is not supported")
}
