package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// CodeRedemption is an authorization code a client of this provider
// received, with what is needed to redeem it.
type CodeRedemption struct {
	ClientID, ClientSecret string
	Code, RedirectURI      string
	CodeVerifier           string // PKCE (RFC 7636)
	Nonce                  string // the nonce sent in the authorization request
}

// SignedIn is what a verified ID token says about the user.
type SignedIn struct {
	Subject   string
	SessionID string
	AMR       []string
}

// RedeemCode redeems an authorization code with this provider's own token
// endpoint methods, in process (the built-in admin console client needs no
// network path to the public issuer URL): the client authentication and
// code exchange of /oauth/token (server.go), without HTTP. The ID token is
// verified as a relying party must (OIDC Core §3.1.3.7: issuer, audience,
// signature, expiry, nonce). Errors describe why the code or token was
// refused.
func (p *Provider) RedeemCode(ctx context.Context, r CodeRedemption) (*SignedIn, error) {
	ctx = op.ContextWithIssuer(ctx, p.cfg.Issuer)
	form := url.Values{"grant_type": {string(oidc.GrantTypeCode)}}
	client, err := p.server.VerifyClient(ctx, &op.Request[op.ClientCredentials]{Method: http.MethodPost, Form: form, PostForm: form,
		Data: &op.ClientCredentials{ClientID: r.ClientID, ClientSecret: r.ClientSecret}})
	if err != nil {
		return nil, fmt.Errorf("token endpoint refused the client: %w", err)
	}
	resp, err := p.server.CodeExchange(ctx, &op.ClientRequest[oidc.AccessTokenRequest]{
		Request: &op.Request[oidc.AccessTokenRequest]{Method: http.MethodPost, Form: form, PostForm: form,
			Data: &oidc.AccessTokenRequest{Code: r.Code, RedirectURI: r.RedirectURI, CodeVerifier: r.CodeVerifier}},
		Client: client,
	})
	if err != nil {
		return nil, fmt.Errorf("token endpoint refused the code: %w", err)
	}
	tok, ok := resp.Data.(*oidc.AccessTokenResponse)
	if !ok || tok.IDToken == "" {
		return nil, errors.New("token endpoint issued no ID token")
	}
	v := rp.NewIDTokenVerifier(p.cfg.Issuer, r.ClientID, p.storage.keys,
		rp.WithNonce(func(context.Context) string { return r.Nonce }),
		rp.WithSupportedSigningAlgorithms(SigningAlgorithms()...))
	claims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](ctx, tok.IDToken, v)
	if err != nil {
		return nil, fmt.Errorf("verify ID token: %w", err)
	}
	return &SignedIn{Subject: claims.Subject, SessionID: claims.SessionID, AMR: claims.AuthenticationMethodsReferences}, nil
}
