package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// server is op's LegacyServer with the endpoint methods Latchkey answers
// differently. Each override returns data (or an oidc.Error) and op
// writes it; nothing here edits a response op has written.
//
//   - Discovery and Keys: the precomputed documents (provider.go).
//   - VerifyAuthRequest, Authorize: pushed authorization requests and
//     request_uri (par.go).
//   - VerifyClient: every token, device and revocation request's client
//     authentication, including the single use of private_key_jwt
//     assertions (assertion.go), which op does not check.
//   - CodeExchange, RefreshToken, DeviceToken, ClientCredentialsExchange:
//     the token response is built here (tokenResponse), so that a JWT
//     access token is signed once with typ "at+jwt" (RFC 9068 §2.1) and
//     the ID token once, its at_hash over that access token.
//   - UserInfo: an unusable access token is 401, not op's 403 (RFC 6750
//     §3.1; the WWW-Authenticate header is added by adapters.go).
//   - EndSession: ends the browser session of the request's cookie too
//     and clears the cookie (logout.go).
type server struct {
	*op.LegacyServer
	p *Provider
}

var _ op.ExtendedLegacyServer = (*server)(nil)

func (s *server) Discovery(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	return s.document(s.p.discovery, "public, max-age=3600"), nil
}

func (s *server) Keys(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	return s.document(s.p.storage.keys.jwks(ctx), "public, max-age=300"), nil
}

// endpointURL is the absolute URL of the endpoint a request was sent to:
// the issuer's origin and the request's path.
func (p *Provider) endpointURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	iss, err := url.Parse(p.cfg.Issuer)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: iss.Scheme, Host: iss.Host, Path: u.Path}).String()
}

func (s *server) document(body []byte, cacheControl string) *op.Response {
	resp := op.NewResponse(json.RawMessage(body))
	resp.Header.Set("Cache-Control", cacheControl)
	return resp
}

// VerifyAuthRequest is op's, except that an /authorize request with a
// request_uri uses the parameters pushed to the PAR endpoint, and only
// those (RFC 9126 §4); a request_uri we did not issue is refused with
// invalid_request_uri and never fetched (par.go). A request object (RFC
// 9101) is verified and its parameters win (jar.go).
func (s *server) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	if r.Form.Get("request") != "" { // RFC 9101 (jar.go)
		params := cloneValues(r.Form)
		var oe *oidc.Error
		switch err := s.p.resolveRequestObject(ctx, r.Data.ClientID, params); {
		case errors.As(err, &oe):
			// Refused in Authorize, once the redirect URI is known to
			// be the client's, so that the error goes back to it (RFC
			// 9101 §6.2, RFC 6749 §4.1.2.1).
		case err != nil:
			return nil, err
		default:
			data, err := decodeAuthRequest(params)
			if err != nil {
				return nil, err
			}
			r.Data = data
			usePushedExtras(r, params)
		}
	} else if uri := r.Form.Get("request_uri"); uri != "" {
		pushed, params, err := s.p.pushedAuthRequest(ctx, uri, r.Data.ClientID)
		if err != nil {
			return nil, err
		}
		r.Data = pushed
		usePushedExtras(r, params)
	}
	return s.LegacyServer.VerifyAuthRequest(ctx, r)
}

// Authorize is op's, except that a client that must use PAR (RFC 9126
// §6) is refused a request that was not pushed, and a request object
// VerifyAuthRequest could not use is refused; op redirects the refusal
// to the (validated) redirect URI.
func (s *server) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	if r.Data.RequestParam != "" { // a request object VerifyAuthRequest refused
		if err := s.p.resolveRequestObject(ctx, r.Data.ClientID, cloneValues(r.Form)); err != nil {
			return nil, err
		}
		return nil, oidc.ErrRequestNotSupported()
	}
	if r.Form.Get("request_uri") == "" && s.p.requiresPAR(r.Client) {
		return nil, oidc.ErrInvalidRequest().WithDescription("authorization requests of this client must be pushed to the pushed authorization request endpoint (RFC 9126)")
	}
	jkt := r.Form.Get(oidc.DPoPJKTParam) // RFC 9449 §10: binds the code to a DPoP key
	rawClaims := r.Form.Get(claimsParam) // OIDC Core §5.5 (claimsparam.go)
	if jkt == "" && rawClaims == "" {
		return s.LegacyServer.Authorize(ctx, r)
	}
	if jkt != "" && !oidc.ValidDPoPJKT(jkt) {
		return nil, oidc.ErrInvalidRequest().WithDescription("dpop_jkt must be the base64url SHA-256 thumbprint of a JWK (RFC 7638)")
	}
	claims, err := applyClaimsRequest(r.Data, rawClaims)
	if err != nil {
		return nil, err
	}
	// op's LegacyServer.Authorize, with the dpop_jkt and claims op's
	// request lacks.
	userID, err := op.ValidateAuthReqIDTokenHint(ctx, r.Data.IDTokenHint, s.Provider().IDTokenHintVerifier(ctx))
	if err != nil {
		return nil, err
	}
	req, err := s.p.storage.createAuthRequest(ctx, r.Data, userID, jkt, claims)
	if err != nil {
		return op.TryErrorRedirect(ctx, r.Data, oidc.DefaultToServerError(err, "unable to save auth request"), s.Provider().Encoder(), nil)
	}
	return op.NewRedirect(r.Client.LoginURL(req.GetID())), nil
}

// usePushedExtras makes the dpop_jkt and claims of a request object or
// pushed request (params) the request's, for Authorize, which reads them
// from the form as op's request has no field for them: those parameters
// replace the ones in the URL (RFC 9101 §6.3, RFC 9126 §4).
func usePushedExtras(r *op.Request[oidc.AuthRequest], params url.Values) {
	form := cloneValues(r.Form)
	for _, k := range []string{oidc.DPoPJKTParam, claimsParam} {
		form.Del(k)
		if v := params.Get(k); v != "" {
			form.Set(k, v)
		}
	}
	r.Form = form
}

// VerifyClient authenticates the client of a token endpoint, device
// authorization or revocation request: client_secret_basic,
// client_secret_post or private_key_jwt (op has refused a request that
// uses more than one). Public clients pass with their client_id.
// Errors: invalid_client.
func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	cc := r.Data
	st := s.p.storage
	if cc.ClientAssertion != "" { // op checked client_assertion_type
		id, err := s.p.useClientAssertion(ctx, cc.ClientAssertion, s.p.endpointURL(r.URL))
		if err != nil {
			return nil, err
		}
		if cc.ClientID != "" && cc.ClientID != id {
			return nil, oidc.ErrInvalidClient().WithDescription("client_id does not match the assertion")
		}
		c, err := st.loadClient(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := s.p.checkFAPI2Assertion(c, cc.ClientAssertion); err != nil {
			return nil, err
		}
		return &clientAdapter{m: c, cfg: &st.cfg}, nil
	}
	c, err := st.loadClient(ctx, cc.ClientID)
	if err != nil {
		return nil, err
	}
	if c.Public && oidc.GrantType(r.Form.Get("grant_type")) == oidc.GrantTypeClientCredentials {
		return nil, oidc.ErrInvalidClient().WithDescription("public clients cannot use the client credentials grant")
	}
	if c.FAPI2() { // FAPI 2.0 Security Profile: private_key_jwt or mTLS (mTLS is not offered)
		return nil, oidc.ErrInvalidClient().WithDescription("the FAPI 2.0 profile requires private_key_jwt client authentication")
	}
	if !c.Public && (c.JWKS != "" || !c.CheckSecret(cc.ClientSecret)) { // private_key_jwt clients have no usable secret
		return nil, oidc.ErrInvalidClient().WithDescription("invalid client credentials")
	}
	return &clientAdapter{m: c, cfg: &st.cfg}, nil
}

// CodeExchange redeems an authorization code (RFC 6749 §4.1.3) with the
// checks of op's LegacyServer.CodeExchange. The auth request is kept:
// models keeps a redeemed request until it expires so that a replayed
// code is recognised (AuthRequestByCode).
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	jkt, err := s.p.tokenDPoP(ctx, dpopRequest(r.Request), r.Client) // dpop.go
	if err != nil {
		return nil, err
	}
	ar, err := s.p.storage.authRequestByBoundCode(ctx, r.Data.Code, jkt) // a bound code is checked before it is spent
	if err != nil {
		return nil, err
	}
	if r.Client.AuthMethod() == oidc.AuthMethodNone || r.Data.CodeVerifier != "" {
		if err := op.AuthorizeCodeChallenge(r.Data.CodeVerifier, ar.GetCodeChallenge()); err != nil {
			return nil, err
		}
	}
	if r.Client.GetID() != ar.GetClientID() {
		return nil, oidc.ErrInvalidGrant()
	}
	if r.Data.RedirectURI != ar.GetRedirectURI() {
		return nil, oidc.ErrInvalidGrant().WithDescription("redirect_uri does not correspond")
	}
	a := ar.(*authRequest)
	if a.m.DPoPJKT != "" && a.m.DPoPJKT != jkt { // RFC 9449 §10
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code is bound to another DPoP key (dpop_jkt)")
	}
	refresh := slices.Contains(a.m.Scopes, oidc.ScopeOfflineAccess) && op.ValidateGrantType(r.Client, oidc.GrantTypeRefreshToken)
	g := grantFromAuthRequest(a)
	g.dpopJKT = jkt
	return s.tokenResponse(ctx, r.Client, a, g, r.Data.Code, "", refresh, true)
}

// RefreshToken answers the refresh_token grant (RFC 6749 §6) with the
// checks of op's LegacyServer.RefreshToken; the presented token is
// rotated.
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	jkt, err := s.p.tokenDPoP(ctx, dpopRequest(r.Request), r.Client) // dpop.go
	if err != nil {
		return nil, err
	}
	rt, err := s.p.storage.refreshRequest(ctx, r.Data.RefreshToken, r.Client.GetID())
	if err != nil {
		return nil, err
	}
	if r.Client.GetID() != rt.GetClientID() {
		return nil, oidc.ErrInvalidGrant()
	}
	if err := op.ValidateRefreshTokenScopes(r.Data.Scopes, rt); err != nil {
		return nil, err
	}
	if rt.m.DPoPJKT != "" && rt.m.DPoPJKT != jkt { // RFC 9449 §5: a public client's refresh token is bound to its key
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token is bound to another DPoP key")
	}
	g := grantFromRefreshToken(rt)
	g.dpopJKT = jkt
	return s.tokenResponse(ctx, r.Client, rt, g, "", r.Data.RefreshToken, true, true)
}

// DeviceToken answers a device_code poll (RFC 8628 §3.4, §3.5) with the
// error mapping of op's CheckDeviceAuthorizationState. The client was
// authenticated before the grant is looked at, so a poll without a
// confidential client's credentials cannot redeem it.
func (s *server) DeviceToken(ctx context.Context, r *op.ClientRequest[oidc.DeviceAccessTokenRequest]) (*op.Response, error) {
	jkt, err := s.p.tokenDPoP(ctx, dpopRequest(r.Request), r.Client) // dpop.go
	if err != nil {
		return nil, err
	}
	st, d, err := s.p.storage.deviceState(ctx, r.Client.GetID(), r.Data.DeviceCode, &jkt)
	switch {
	case errors.Is(err, models.ErrWrongKey): // RFC 9449 §10, as for a code
		return nil, oidc.ErrInvalidGrant().WithDescription("the device code is bound to another DPoP key (dpop_jkt)").WithParent(err)
	case errors.Is(err, context.DeadlineExceeded):
		return nil, oidc.ErrSlowDown().WithParent(err)
	case errors.Is(err, models.ErrNotFound), errors.Is(err, models.ErrConflict):
		return nil, oidc.ErrAccessDenied().WithParent(err)
	case err != nil:
		// A storage failure is ours, not a denial (RFC 6749 §5.2 has no
		// code for it; server_error as op answers a plain error).
		return nil, op.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusInternalServerError)
	case st.Denied:
		return nil, oidc.ErrAccessDenied()
	case !st.Done && time.Now().After(st.Expires): // op's clock, as in GetDeviceAuthorizatonState
		return nil, oidc.ErrExpiredDeviceCode()
	case !st.Done:
		return nil, oidc.ErrAuthorizationPending()
	}
	refresh := slices.Contains(st.Scopes, oidc.ScopeOfflineAccess) && op.ValidateGrantType(r.Client, oidc.GrantTypeRefreshToken)
	idToken := slices.Contains(st.Scopes, oidc.ScopeOpenID)
	g := deviceGrant(d, st)
	g.dpopJKT = jkt
	return s.tokenResponse(ctx, r.Client, st, g, "", "", refresh, idToken)
}

// DeviceAuthorization is op's device authorization endpoint (RFC 8628
// §3.1) plus DPoP: a dpop_jkt parameter or a DPoP proof binds the device
// code to that key (RFC 9449 §10, as for PAR), so that only a poll with
// the key's proof can redeem it. The binding is stored before the device
// code is answered, so no poll can come first.
func (s *server) DeviceAuthorization(ctx context.Context, r *op.ClientRequest[oidc.DeviceAuthorizationRequest]) (*op.Response, error) {
	jkt, err := s.p.deviceDPoP(ctx, r.Request)
	if err != nil {
		return nil, err
	}
	resp, err := s.LegacyServer.DeviceAuthorization(ctx, r)
	if err != nil || jkt == "" {
		return resp, err
	}
	d, ok := resp.Data.(*oidc.DeviceAuthorizationResponse)
	if !ok {
		return nil, op.NewStatusError(oidc.ErrServerError().WithDescription("unexpected device authorization response"), http.StatusInternalServerError)
	}
	if err := s.p.db.BindDeviceAuthorization(ctx, models.HashToken(d.DeviceCode), jkt); err != nil {
		return nil, op.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusInternalServerError)
	}
	return resp, nil
}

// ClientCredentialsExchange answers the client_credentials grant (RFC 6749
// §4.4) for the client VerifyClient authenticated.
func (s *server) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	c, ok := r.Client.(*clientAdapter)
	if !ok {
		return nil, oidc.ErrInvalidClient()
	}
	jkt, err := s.p.tokenDPoP(ctx, dpopRequest(r.Request), r.Client) // dpop.go
	if err != nil {
		return nil, err
	}
	resp, err := s.p.storage.clientCredentialsToken(ctx, c.m, r.Data.Scope, r.Form["resource"], jkt)
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// tokenResponse issues the tokens of a grant: the access token (and a
// refresh token when refresh is set, rotating currentRefresh), signed as
// at+jwt or encrypted by op as an opaque token, then the ID token when
// idToken is set, through op.CreateIDToken with the client's algorithm.
func (s *server) tokenResponse(ctx context.Context, client op.Client, req op.IDTokenRequest, g *grantInfo, code, currentRefresh string, refresh, idToken bool) (*op.Response, error) {
	c, ok := client.(*clientAdapter)
	if !ok {
		return nil, oidc.ErrInvalidClient()
	}
	st := s.p.storage
	at, newRefresh, err := st.issueTokens(ctx, g, c.m, refresh, currentRefresh)
	if err != nil {
		return nil, err
	}
	var access string
	if c.AccessTokenType() == op.AccessTokenTypeJWT {
		access, err = st.signAccessToken(ctx, c.m, at)
	} else {
		access, err = op.CreateBearerToken(at.id, at.subject, s.p.op.Crypto())
	}
	if err != nil {
		return nil, err
	}
	resp := &oidc.AccessTokenResponse{
		AccessToken: access, RefreshToken: newRefresh, TokenType: tokenType(at.jkt),
		ExpiresIn: uint64(max(at.expires.Sub(st.now()), 0).Seconds()), Scope: req.GetScopes(),
	}
	if idToken {
		if resp.IDToken, err = op.CreateIDToken(ctx, s.p.cfg.Issuer, req, c.IDTokenLifetime(), access, code, st.forClient(c.m), c); err != nil {
			return nil, err
		}
	}
	return op.NewResponse(resp), nil
}

// UserInfo is op's, except that an access token that is not (or no
// longer) valid is 401 (RFC 6750 §3.1), not 403; a failure to check it is
// a server error.
func (s *server) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	resp, err := s.LegacyServer.UserInfo(ctx, r)
	if err == nil {
		return resp, nil
	}
	var oe *oidc.Error
	if errors.As(err, &oe) {
		return nil, op.NewStatusError(oe, http.StatusUnauthorized)
	}
	return nil, op.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusInternalServerError)
}

// Introspect is op's LegacyServer.Introspect (RFC 7662) except for a
// storage failure: op answers it with {"active": false}, which tells a
// resource server that a live token was revoked. RFC 7662 §2.3 has the
// server answer an error it cannot decide with; here it is 500
// server_error, which the resource server retries.
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	serverError := func(err error) error {
		return op.NewStatusError(oidc.ErrServerError().WithParent(err), http.StatusInternalServerError)
	}
	cc := r.Data.ClientCredentials
	clientID := cc.ClientID
	if cc.ClientAssertion != "" {
		id, err := s.p.useClientAssertion(ctx, cc.ClientAssertion, s.p.endpointURL(r.URL))
		if err != nil {
			return nil, err
		}
		if cc.ClientID != "" && cc.ClientID != id { // as VerifyClient
			return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client_id does not match the assertion"), http.StatusUnauthorized)
		}
		c, err := s.p.storage.loadClient(ctx, id)
		var oe *oidc.Error
		switch {
		case errors.As(err, &oe):
			return nil, op.NewStatusError(oidc.ErrInvalidClient().WithParent(err), http.StatusUnauthorized)
		case err != nil:
			return nil, serverError(err)
		}
		if err := s.p.checkFAPI2Assertion(c, cc.ClientAssertion); err != nil {
			return nil, err
		}
		clientID = id
	} else if err := s.p.storage.AuthorizeClientIDSecret(ctx, cc.ClientID, cc.ClientSecret); err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) || errors.Is(err, models.ErrNotFound) {
			return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("invalid client credentials").WithParent(err), http.StatusUnauthorized)
		}
		return nil, serverError(err)
	}
	resp := new(oidc.IntrospectionResponse)
	tokenID, subject, ok := s.tokenIDAndSubject(ctx, r.Data.Token)
	if !ok {
		return op.NewResponse(resp), nil
	}
	if err := s.p.storage.SetIntrospectionFromToken(ctx, resp, tokenID, subject, clientID); err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) {
			return op.NewResponse(new(oidc.IntrospectionResponse)), nil
		}
		return nil, serverError(err)
	}
	resp.Active = true
	return op.NewResponse(resp), nil
}

// tokenIDAndSubject is op's getTokenIDAndSubject: an opaque access token
// is decrypted, a JWT one verified.
func (s *server) tokenIDAndSubject(ctx context.Context, token string) (string, string, bool) {
	p := s.Provider()
	if plain, err := p.Crypto().Decrypt(token); err == nil {
		id, subject, ok := strings.Cut(plain, ":")
		return id, subject, ok && !strings.Contains(subject, ":")
	}
	claims, err := op.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, token, p.AccessTokenVerifier(ctx))
	if err != nil {
		return "", "", false
	}
	return claims.JWTID, claims.Subject, true
}

// EndSession is op's RP-initiated logout, which also ends the browser
// session named by the request's session cookie (Config.SessionCookie)
// and, when it did, clears the cookie on the redirect.
func (s *server) EndSession(ctx context.Context, r *op.Request[oidc.EndSessionRequest]) (*op.Redirect, error) {
	req, err := op.ValidateEndSessionRequest(ctx, r.Data, s.Provider())
	if err != nil {
		return nil, err
	}
	raw := ""
	if ck := s.p.cfg.SessionCookie; ck != nil {
		if v, err := (&http.Request{Header: r.Header}).Cookie(ck.Name); err == nil {
			raw = v.Value
		}
	}
	redirect, ended, err := s.p.storage.terminateSession(ctx, req, raw)
	if err != nil {
		return nil, err
	}
	red := op.NewRedirect(redirect)
	if ended {
		gone := *s.p.cfg.SessionCookie //nolint:gosec // a copy of the session cookie, Secure/HttpOnly/SameSite as idp set them (G124)
		gone.Value, gone.MaxAge = "", -1
		red.Header.Add("Set-Cookie", gone.String())
	}
	return red, nil
}

// clientKeys is the Storage op.CreateIDToken signs a client's ID token
// with: op asks SigningKey for the key without saying for which client,
// so this one answers with the algorithm the client chose.
// It also knows whether the client wants minimal ID tokens, to leave out
// the user's custom claims, which SetUserinfoFromRequest adds whatever the
// scopes.
type clientKeys struct {
	*Storage
	alg     jose.SignatureAlgorithm
	minimal bool
}

func (s *Storage) forClient(c *models.Client) clientKeys {
	return clientKeys{Storage: s, alg: jose.SignatureAlgorithm(c.IDTokenAlg), minimal: c.IDTokenClaims == models.IDTokenClaimsMinimal}
}

// SetUserinfoFromRequest is Storage's, except that a "minimal" client's ID
// token gets sub and sid only, plus the claims its claims parameter asks
// for in the ID token that the granted scopes release (claimsparam.go; a
// "scoped" client's ID token has them all already).
func (k clientKeys) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if !k.minimal {
		return k.Storage.SetUserinfoFromRequest(ctx, info, req, scopes)
	}
	info.Subject = req.GetSubject()
	if r, ok := req.(sessionIDer); ok && r.GetSessionID() != "" {
		info.AppendClaims("sid", r.GetSessionID())
	}
	if r, ok := req.(requestedClaimser); ok && r.requestedClaims() != "" {
		full := new(oidc.UserInfo)
		if err := k.Storage.SetUserinfoFromRequest(ctx, full, req, req.GetScopes()); err != nil {
			return err
		}
		addRequestedIDTokenClaims(info, full, r.requestedClaims())
	}
	return nil
}

// SigningKey returns the active key with the client's algorithm.
func (k clientKeys) SigningKey(ctx context.Context) (op.SigningKey, error) {
	key, err := k.keys.signingKey(ctx, k.alg)
	if err != nil {
		return nil, err
	}
	return signingKeyAdapter{key}, nil
}

var _ op.CanSetUserinfoFromRequest = clientKeys{}

// checkFAPI2Assertion refuses a client assertion of a client under the
// FAPI 2.0 profile that is not signed ES256 or PS256 (FAPI 2.0 Security
// Profile, cryptography) or whose aud is not the issuer identifier as a
// string (the profile, and RFC 7523bis). Errors: invalid_client.
func (p *Provider) checkFAPI2Assertion(c *models.Client, assertion string) error {
	if !c.FAPI2() {
		return nil
	}
	if !slices.Contains(models.FAPI2Algs, jwtAlg(assertion)) {
		return oidc.ErrInvalidClient().WithDescription("the FAPI 2.0 profile allows client assertions signed with %v only", models.FAPI2Algs)
	}
	if !audIsIssuer(assertion, p.cfg.Issuer) {
		return oidc.ErrInvalidClient().WithDescription("the FAPI 2.0 profile accepts only the issuer identifier, as a string, as a client assertion's aud")
	}
	return nil
}
