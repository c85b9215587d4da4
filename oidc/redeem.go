package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
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

// RedeemCode redeems an authorization code at this provider's own token
// endpoint, in process (the built-in admin console client needs no network
// path to the public issuer URL), and verifies the ID token as a relying
// party must (OIDC Core §3.1.3.7: issuer, audience, signature, expiry,
// nonce). Errors describe why the code or token was refused.
func (p *Provider) RedeemCode(ctx context.Context, r CodeRedemption) (*SignedIn, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {r.Code},
		"redirect_uri":  {r.RedirectURI},
		"code_verifier": {r.CodeVerifier},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.Issuer+p.op.TokenEndpoint().Relative(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(r.ClientID), url.QueryEscape(r.ClientSecret))
	w := &memoryResponse{header: http.Header{}, status: http.StatusOK}
	p.handler.ServeHTTP(w, req)
	var tok struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
		Desc    string `json:"error_description"`
	}
	if err := json.Unmarshal(w.body, &tok); err != nil {
		return nil, fmt.Errorf("token response (status %d): %w", w.status, err)
	}
	if w.status != http.StatusOK || tok.IDToken == "" {
		return nil, fmt.Errorf("token endpoint refused the code: %s %s", tok.Error, tok.Desc)
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

// memoryResponse collects a response served in process.
type memoryResponse struct {
	header http.Header
	status int
	body   []byte
}

func (m *memoryResponse) Header() http.Header    { return m.header }
func (m *memoryResponse) WriteHeader(status int) { m.status = status }
func (m *memoryResponse) Write(b []byte) (int, error) {
	m.body = append(m.body, b...)
	return len(b), nil
}
