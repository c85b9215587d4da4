package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"github.com/zitadel/schema"

	"github.com/latchkey-idp/latchkey/models"
)

// Pushed authorization requests (RFC 9126). A client posts the parameters
// of an authorization request to PAREndpoint, authenticated as at the
// token endpoint; they are checked as /authorize would check them and
// stored (models.PushedRequest, shared by every instance) under a random
// reference. The answer is a request_uri that the client sends to
// /authorize with its client_id: op then sees the pushed parameters and
// nothing else (RFC 9126 §4). A request_uri is single use, lives
// parTTL and belongs to its client. Any other request_uri is refused: we
// never fetch one (RFC 9101 §5.2.3 lets an authorization server decline).

// PAREndpoint is the path of the pushed authorization request endpoint.
const PAREndpoint = "/oauth/par"

// requestURIPrefix starts every request_uri we issue (RFC 9126 §2.2).
const requestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// parTTL is how long a request_uri may be used (RFC 9126 §2.2: short,
// 5 to 600 seconds; a browser is sent to /authorize at once).
const parTTL = 60 * time.Second

// clientAuthParams are the parameters of client authentication: checked
// at the PAR endpoint, never part of the stored request.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// errInvalidRequestURI is RFC 9101 §7's error for a request_uri that is
// not (or no longer) valid.
func errInvalidRequestURI(description string) *oidc.Error {
	return (&oidc.Error{ErrorType: "invalid_request_uri"}).WithDescription("%s", description)
}

// parResponse is the answer of the PAR endpoint (RFC 9126 §2.2).
type parResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int    `json:"expires_in"`
}

// handlePAR is the PAR endpoint: 201 with the request_uri, or the error
// as the token endpoint answers it (RFC 9126 §2.3).
func (p *Provider) handlePAR(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	resp, err := p.pushAuthRequest(r)
	if err != nil {
		op.WriteError(w, r, err, nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(resp)
}

// pushAuthRequest authenticates the client, checks the request and stores
// it. Nothing is stored for a refused request. Errors: invalid_request
// (malformed or oversize body, request_uri in the body, mismatched
// client_id), invalid_client, and every error /authorize would answer.
func (p *Provider) pushAuthRequest(r *http.Request) (*parResponse, error) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("the request body is too large"), http.StatusRequestEntityTooLarge)
		}
		return nil, oidc.ErrInvalidRequest().WithDescription("the request body is not a form").WithParent(err)
	}
	form := r.PostForm // RFC 9126 §2.1: the parameters are in the body
	client, err := p.parClient(ctx, r, form)
	if err != nil {
		return nil, err
	}
	c, ok := client.(*clientAdapter)
	if !ok {
		return nil, oidc.ErrInvalidClient()
	}
	if form.Has("request_uri") {
		return nil, oidc.ErrInvalidRequest().WithDescription("request_uri must not be pushed (RFC 9126 §2.1)")
	}
	if id := form.Get("client_id"); id != "" && id != c.m.ID {
		return nil, oidc.ErrInvalidRequest().WithDescription("client_id does not match the authenticated client")
	}
	params := cloneValues(form)
	for _, k := range clientAuthParams {
		params.Del(k)
	}
	if obj := params.Get("request"); obj != "" {
		// RFC 9126 §3: with a request object, the body holds only it and
		// client authentication; the request is the object's parameters
		// alone (RFC 9101 §5), so anything else in the body is ignored.
		params = url.Values{"request": {obj}}
	}
	params.Set("client_id", c.m.ID)
	if err := p.resolveRequestObject(ctx, c.m.ID, params); err != nil { // jar.go
		return nil, err
	}
	req, err := decodeAuthRequest(params)
	if err != nil {
		return nil, err
	}
	if _, err := applyClaimsRequest(req, params.Get(claimsParam)); err != nil { // claimsparam.go
		return nil, err
	}
	if c.m.FAPI2() && params.Get("redirect_uri") == "" { // FAPI 2.0 Security Profile: redirect_uri is required in PAR
		return nil, oidc.ErrInvalidRequest().WithDescription("the FAPI 2.0 profile requires redirect_uri in a pushed request")
	}
	if err := p.checkPushed(ctx, c, req); err != nil {
		return nil, err
	}
	if err := p.pushedDPoP(r, params); err != nil {
		return nil, err
	}
	ref := models.NewToken()
	now := p.storage.now()
	if err := p.db.CreatePushedRequest(ctx, &models.PushedRequest{IDHash: models.HashToken(ref), ClientID: c.m.ID,
		Params: params.Encode(), CreatedAt: now, ExpiresAt: now.Add(parTTL)}); err != nil {
		return nil, err
	}
	return &parResponse{RequestURI: requestURIPrefix + ref, ExpiresIn: int(parTTL.Seconds())}, nil
}

// parClient authenticates the client of a PAR request exactly as the token
// endpoint does (VerifyClient): client_secret_basic, client_secret_post,
// private_key_jwt with a single-use jti, or a public client's client_id.
// As at the token endpoint (RFC 6749 §2.3), one method only.
func (p *Provider) parClient(ctx context.Context, r *http.Request, form url.Values) (op.Client, error) {
	cc := op.ClientCredentials{
		ClientID: form.Get("client_id"), ClientSecret: form.Get("client_secret"),
		ClientAssertion: form.Get("client_assertion"), ClientAssertionType: form.Get("client_assertion_type"),
	}
	if id, secret, ok := r.BasicAuth(); ok {
		if cc.ClientSecret != "" || cc.ClientAssertion != "" {
			return nil, oidc.ErrInvalidRequest().WithDescription("client authentication must not use more than one method")
		}
		var err1, err2 error
		cc.ClientID, err1 = url.QueryUnescape(id) // RFC 6749 §2.3.1: form-encoded
		cc.ClientSecret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("invalid basic auth header")
		}
	}
	switch {
	case cc.ClientAssertion != "" && cc.ClientSecret != "":
		return nil, oidc.ErrInvalidRequest().WithDescription("client authentication must not use more than one method")
	case cc.ClientAssertion != "" && cc.ClientAssertionType != oidc.ClientAssertionTypeJWTAssertion:
		return nil, oidc.ErrInvalidRequest().WithDescription("invalid client_assertion_type")
	case cc.ClientID == "" && cc.ClientAssertion == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("client_id or client_assertion must be provided")
	}
	return p.server.VerifyClient(ctx, &op.Request[op.ClientCredentials]{
		Method: r.Method, URL: r.URL, Header: r.Header, Form: form, PostForm: form, Data: &cc,
	})
}

// checkPushed checks a pushed request as /authorize checks one: op's
// validation (redirect URI, prompt, scopes, response type, PKCE method,
// id_token_hint), then CreateAuthRequest's (checkAuthRequest).
func (p *Provider) checkPushed(ctx context.Context, c *clientAdapter, req *oidc.AuthRequest) error {
	if req.RequestParam != "" {
		return oidc.ErrRequestNotSupported()
	}
	if _, err := op.ValidateAuthRequestClient(ctx, req, c, p.op.IDTokenHintVerifier(ctx)); err != nil {
		return err
	}
	_, err := p.storage.checkAuthRequest(c.m, req)
	return err
}

// requiresPAR says whether client c may only send pushed requests (RFC
// 9126 §6: per client, or for the whole server). The global switch spares
// the built-in admin console client, whose requests Latchkey builds
// itself, so that --require-par does not lock the admins out.
func (p *Provider) requiresPAR(c op.Client) bool {
	a, ok := c.(*clientAdapter)
	if !ok {
		return p.cfg.RequirePAR
	}
	return a.m.NeedsPAR() || p.cfg.RequirePAR && !a.m.Builtin
}

// pushedAuthRequest resolves the request_uri of an /authorize request:
// the pushed parameters of clientID, consumed. Errors: invalid_request_uri
// for a request_uri we did not issue (never fetched), or one that is
// unknown, used, expired or another client's; invalid_request without
// client_id (RFC 9126 §4).
func (p *Provider) pushedAuthRequest(ctx context.Context, requestURI, clientID string) (*oidc.AuthRequest, url.Values, error) {
	ref, ok := strings.CutPrefix(requestURI, requestURIPrefix)
	if !ok || ref == "" {
		return nil, nil, errInvalidRequestURI("only a request_uri from this server's pushed authorization request endpoint is accepted")
	}
	if clientID == "" {
		return nil, nil, oidc.ErrInvalidRequest().WithDescription("client_id is required with request_uri")
	}
	pr, err := p.db.ConsumePushedRequest(ctx, models.HashToken(ref), clientID)
	if errors.Is(err, models.ErrNotFound) || errors.Is(err, models.ErrExpired) {
		return nil, nil, errInvalidRequestURI("the request_uri is unknown, used, expired or another client's").WithParent(err)
	}
	if err != nil {
		return nil, nil, err
	}
	params, err := url.ParseQuery(pr.Params)
	if err != nil {
		return nil, nil, oidc.ErrServerError().WithParent(err)
	}
	req, err := decodeAuthRequest(params)
	return req, params, err
}

// authRequestDecoder decodes authorization request parameters as op does
// (schema, unknown keys ignored).
var authRequestDecoder = func() *schema.Decoder {
	d := schema.NewDecoder()
	d.IgnoreUnknownKeys(true)
	return d
}()

func decodeAuthRequest(params url.Values) (*oidc.AuthRequest, error) {
	req := new(oidc.AuthRequest)
	if err := authRequestDecoder.Decode(req, params); err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("malformed authorization request parameters").WithParent(err)
	}
	return req, nil
}

// pushedDPoP checks the dpop_jkt of a pushed request and its DPoP proof
// (RFC 9449 §10.1): with a proof, the code is bound to the proof's key,
// which must be dpop_jkt's when both are sent. The proof's jti is spent
// last, once everything else passed.
func (p *Provider) pushedDPoP(r *http.Request, params url.Values) error {
	jkt := params.Get(oidc.DPoPJKTParam)
	if jkt != "" && !oidc.ValidDPoPJKT(jkt) {
		return oidc.ErrInvalidRequest().WithDescription("dpop_jkt must be the base64url SHA-256 thumbprint of a JWK (RFC 7638)")
	}
	proof, err := p.checkDPoPProof(r.Header, r.Method, p.endpointURL(r.URL), "")
	if err != nil || proof == nil {
		return err
	}
	if jkt != "" && jkt != proof.jkt {
		return errInvalidDPoPProof("dpop_jkt is not the thumbprint of the DPoP proof's key")
	}
	params.Set(oidc.DPoPJKTParam, proof.jkt)
	return p.usedDPoPProof(r.Context(), proof)
}
