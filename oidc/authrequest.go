package oidc

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// s256Challenge is the shape of BASE64URL(SHA256(verifier)) (RFC 7636 §4.2).
var s256Challenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// CreateAuthRequest stores a validated /authorize request. op has already
// checked the client, redirect URI, response type and scopes; this adds
// what op does not enforce:
//   - PKCE is S256 only; "plain" and a missing method are refused (op
//     accepts them although discovery says S256). Public clients must send
//     a challenge (OAuth 2.0 Security BCP §2.1.1).
//   - a loopback redirect URI of a public client must match a registered
//     one in everything but the port.
//   - scopes outside the client's allowlist are dropped.
//
// The id_token_hint subject (userID) is not stored: the signed-in user is
// recorded only by CompleteAuthRequest.
//
// Errors: invalid_request (redirected to the client, except for a bad
// redirect URI), invalid_client.
func (s *Storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	return s.createAuthRequest(ctx, req, userID, "", "")
}

// createAuthRequest is CreateAuthRequest with the code bound to the DPoP
// key dpopJKT ("" unbound; RFC 9449 §10) and the normalized claims
// parameter (claimsparam.go; "" none), which server.go Authorize reads.
func (s *Storage) createAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string, dpopJKT, claims string) (op.AuthRequest, error) {
	c, err := s.loadClient(ctx, req.ClientID)
	if err != nil {
		return nil, err
	}
	scopes, err := s.checkAuthRequest(c, req)
	if err != nil {
		return nil, err
	}
	now := s.now()
	m := &models.AuthRequest{
		ClientID:            c.ID,
		RedirectURI:         req.RedirectURI,
		State:               req.State,
		Nonce:               req.Nonce,
		Scopes:              models.StringList(scopes),
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt:              models.StringList(req.Prompt),
		LoginHint:           req.LoginHint,
		ACRValues:           models.StringList(req.ACRValues),
		UILocales:           uiLocales(req.UILocales),
		AMR:                 models.StringList{},
		CreatedAt:           now,
		ExpiresAt:           now.Add(s.cfg.AuthRequestTTL),
		DPoPJKT:             dpopJKT,
		Claims:              claims,
	}
	if s.cfg.NewLoginChallenge != nil {
		ch, exp, err := s.cfg.NewLoginChallenge()
		if err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		m.LoginChallenge, m.LoginChallengeExpiresAt = ch, &exp
	}
	if m.Prompt == nil {
		m.Prompt = models.StringList{}
	}
	if m.ACRValues == nil {
		m.ACRValues = models.StringList{}
	}
	if req.MaxAge != nil {
		v := int64(*req.MaxAge) //nolint:gosec // max_age comes from op as uint; seconds never reach 2^63
		m.MaxAge = &v
	}
	if err := s.db.CreateAuthRequest(ctx, m); err != nil {
		return nil, err
	}
	return &authRequest{m: m}, nil
}

// checkAuthRequest is what CreateAuthRequest (and the PAR endpoint,
// par.go) checks beyond op's validation; it returns the scopes the client
// may have.
func (s *Storage) checkAuthRequest(c *models.Client, req *oidc.AuthRequest) ([]string, error) {
	if !checkRedirectURI(c, req.RedirectURI) {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri is not registered for this client")
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return nil, oidc.ErrInvalidRequest().WithDescription("only response_type=code is supported")
	}
	if err := checkPKCE(c, req.CodeChallenge, req.CodeChallengeMethod); err != nil {
		return nil, err
	}
	switch req.ResponseMode {
	case "", oidc.ResponseModeQuery, oidc.ResponseModeFragment, oidc.ResponseModeFormPost:
	default:
		return nil, oidc.ErrInvalidRequest().WithDescription("unsupported response_mode")
	}
	client := &clientAdapter{m: c, cfg: &s.cfg}
	scopes := slices.DeleteFunc(slices.Clone([]string(req.Scopes)), func(sc string) bool { return !client.IsScopeAllowed(sc) })
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		return nil, oidc.ErrInvalidScope().WithDescription("the openid scope is required")
	}
	return scopes, nil
}

// checkPKCE enforces S256 (RFC 7636 §4.2; plain offers no protection once
// the challenge leaks) and requires a challenge from public clients.
func checkPKCE(c *models.Client, challenge string, method oidc.CodeChallengeMethod) error {
	if challenge == "" {
		if method != "" {
			return oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
		}
		if c.Public {
			return oidc.ErrInvalidRequest().WithDescription("code_challenge (PKCE, S256) is required for public clients")
		}
		if c.NeedsPKCE() {
			return oidc.ErrInvalidRequest().WithDescription("code_challenge (PKCE, S256) is required for this client")
		}
		return nil
	}
	if method != oidc.CodeChallengeMethodS256 {
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if !s256Challenge.MatchString(challenge) {
		return oidc.ErrInvalidRequest().WithDescription("code_challenge is not a base64url SHA-256 value")
	}
	return nil
}

func uiLocales(l oidc.Locales) string {
	parts := make([]string, 0, len(l))
	for _, t := range l {
		parts = append(parts, t.String())
	}
	return strings.Join(parts, " ")
}

// AuthRequestByID loads a pending or completed request.
// Errors: invalid_request if unknown or expired.
func (s *Storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	m, err := s.db.AuthRequestByID(ctx, id)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) || errors.Is(err, models.ErrExpired) {
			return nil, oidc.ErrInvalidRequest().WithDescription("the sign-in request is unknown or has expired").WithParent(err)
		}
		return nil, err
	}
	return &authRequest{m: m}, nil
}

// SaveAuthCode stores the hash of the code issued for a completed request;
// the code expires after Config.CodeTTL (op does not expire codes).
// Errors: invalid_request if the request is not completed or already has
// a code.
func (s *Storage) SaveAuthCode(ctx context.Context, id, code string) error {
	// The code and the session's new client are written in one
	// transaction (one commit on SQLite's single writer).
	return s.db.InTx(ctx, func(tx *models.DB) error {
		ar, err := tx.IssueAuthCode(ctx, id, models.HashToken(code), s.cfg.CodeTTL)
		if errors.Is(err, models.ErrConflict) {
			return oidc.ErrInvalidRequest().WithDescription("an authorization code was already issued for this request").WithParent(err)
		}
		if err != nil {
			return err
		}
		// The session now signed in to the client: back-channel logout
		// will notify it (backchannel.go).
		if ar.SessionID != nil {
			return tx.RecordSessionClient(ctx, *ar.SessionID, ar.ClientID)
		}
		return nil
	})
}

// AuthRequestByCode redeems a code: it is single use and expires after
// CodeTTL. A replayed code revokes every token issued from it and is
// audited (RFC 6749 §4.1.2). The user must still be enabled and the
// browser session live.
// Errors: invalid_grant.
func (s *Storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	m, err := s.db.RedeemAuthCode(ctx, models.HashToken(code))
	return s.redeemed(ctx, m, err)
}

// authRequestByBoundCode is AuthRequestByCode for a token request whose
// DPoP proof is of key jkt ("" none): a code bound to another key is
// invalid_grant and stays unused (RFC 9449 §10), so that its owner can
// still redeem it.
func (s *Storage) authRequestByBoundCode(ctx context.Context, code, jkt string) (op.AuthRequest, error) {
	m, err := s.db.RedeemBoundAuthCode(ctx, models.HashToken(code), jkt)
	if errors.Is(err, models.ErrWrongKey) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code is bound to another DPoP key (dpop_jkt)").WithParent(err)
	}
	return s.redeemed(ctx, m, err)
}

// redeemed finishes a code redemption (AuthRequestByCode).
func (s *Storage) redeemed(ctx context.Context, m *models.AuthRequest, err error) (op.AuthRequest, error) {
	if errors.Is(err, models.ErrCodeReused) {
		ev := &models.AuditEvent{Type: models.EventCodeReuse, Success: false, Detail: models.JSONMap{}}
		if m != nil {
			ev.UserID, ev.ClientID = deref(m.UserID), m.ClientID
			ev.Detail["auth_request_id"] = m.ID
		}
		s.audit(ctx, ev)
		return nil, oidc.ErrInvalidGrant().WithDescription("authorization code already used").WithParent(err)
	}
	if err != nil {
		return nil, grantError(err, "authorization code")
	}
	if !m.Done || m.UserID == nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("authorization code is invalid")
	}
	groups := slices.Contains(m.Scopes, scopeGroups)
	u, err := s.db.LiveUser(ctx, *m.UserID, deref(m.SessionID), groups)
	if errors.Is(err, models.ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the user or session is no longer active")
	}
	if err != nil {
		return nil, err
	}
	return &authRequest{m: m, user: loadedUser{u: u, groups: groups}}, nil
}

// DeleteAuthRequest removes a request that never got a code; requests with
// a code are kept until they expire so a replayed code is recognised. The
// code exchange (server.go CodeExchange) does not call it.
func (s *Storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.db.DeleteAuthRequest(ctx, id)
}
