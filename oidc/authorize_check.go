package oidc

import (
	"context"
	"errors"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// AuthorizeProblem says why an authorization request cannot be answered
// to its client: RFC 6749 §4.1.2.1 forbids redirecting to a redirect_uri
// that is missing, invalid or not the client's, and without a known
// client there is nobody to redirect to. The browser must be told
// instead, on a page of ours (op would write a bare error).
type AuthorizeProblem int

// The problems CheckAuthorizeTarget finds.
const (
	AuthorizeOK             AuthorizeProblem = iota
	AuthorizeNoClientID                      // client_id missing
	AuthorizeUnknownClient                   // client_id names no client
	AuthorizeNoRedirectURI                   // redirect_uri missing
	AuthorizeBadRedirectURI                  // not registered for the client (or not usable with it)
)

// CheckAuthorizeTarget runs, before op, the checks of an authorization
// request whose failure op cannot redirect: the client (op's
// LegacyServer.VerifyAuthRequest) and the redirect_uri (op's
// ValidateAuthReqRedirectURI, then the stricter loopback rule
// CreateAuthRequest applies, checkRedirectURI). err is a storage failure
// loading the client, never the client's fault.
func (p *Provider) CheckAuthorizeTarget(ctx context.Context, clientID, redirectURI, responseType string) (AuthorizeProblem, error) {
	if clientID == "" {
		return AuthorizeNoClientID, nil
	}
	c, err := p.storage.loadClient(ctx, clientID)
	var oe *oidc.Error
	switch {
	case errors.As(err, &oe):
		return AuthorizeUnknownClient, nil
	case err != nil:
		return AuthorizeOK, err
	case redirectURI == "":
		return AuthorizeNoRedirectURI, nil
	}
	ca := &clientAdapter{m: c, cfg: &p.storage.cfg}
	// op's refusal is the answer, not a failure of this check.
	registered := op.ValidateAuthReqRedirectURI(ca, redirectURI, oidc.ResponseType(responseType)) == nil && checkRedirectURI(c, redirectURI)
	if !registered {
		return AuthorizeBadRedirectURI, nil
	}
	return AuthorizeOK, nil
}

// CheckPostLogoutRedirect reports whether an RP-initiated logout request
// may go on: a post_logout_redirect_uri must be registered for the client
// (RP-Initiated Logout 1.0 §3: "MUST NOT perform post-logout redirection"
// otherwise), the client being client_id or the azp of a valid
// id_token_hint, which must agree (§2). ok is false with a reason for the
// user; err is a storage failure.
func (p *Provider) CheckPostLogoutRedirect(ctx context.Context, clientID, idTokenHint, uri string) (ok bool, reason string, err error) {
	if idTokenHint != "" {
		hctx := op.ContextWithIssuer(ctx, p.cfg.Issuer)
		claims, herr := op.VerifyIDTokenHint[*oidc.IDTokenClaims](hctx, idTokenHint, p.op.IDTokenHintVerifier(hctx))
		var expired op.IDTokenHintExpiredError // signed by us, expired: fine for logout (§2)
		if herr == nil || errors.As(herr, &expired) {
			azp := claims.GetAuthorizedParty()
			if clientID != "" && clientID != azp {
				return false, "The sign-out request names one application but carries the sign-in of another.", nil
			}
			clientID = azp
		}
	}
	if clientID == "" {
		if uri != "" {
			return false, "The application asked to send you to an address after signing out without saying which application it is, so the address cannot be checked.", nil
		}
		return true, "", nil
	}
	c, err := p.storage.loadClient(ctx, clientID)
	var oe *oidc.Error
	switch {
	case errors.As(err, &oe):
		return false, "The application that sent you here is not registered with Latchkey.", nil
	case err != nil:
		return false, "", err
	}
	registered := uri == "" || op.ValidateEndSessionPostLogoutRedirectURI(uri, &clientAdapter{m: c, cfg: &p.storage.cfg}) == nil
	if !registered {
		return false, "The application asked to send you, after signing out, to an address it has not registered with Latchkey.", nil
	}
	return true, "", nil
}
