package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/latchkey-idp/latchkey/models"
)

// JWT-secured authorization requests (RFC 9101): a "request" parameter at
// /authorize or at the PAR endpoint is a JWT signed with a key the client
// registered for private_key_jwt (models.Client.JWKS). Its parameters are
// merged over the request's own, the object winning (OpenID Connect Core
// §6.3.3); client_id and response_type must agree (RFC 9101 §5, Core
// §6.1). Unsigned objects (alg "none") and encrypted ones are refused: an
// object proves the client wrote the request only when it is signed (RFC
// 9101 §10.2). op's own request-object support is not used: it accepts
// RS256 only and answers invalid_request rather than
// invalid_request_object.

// requestObjectAlgs are the algorithms a request object may be signed
// with: those of client assertions (the same keys).
var requestObjectAlgs = clientAssertionAlgs

// requestObjectClockSkew is how far exp and nbf may be off.
const requestObjectClockSkew = time.Minute

// maxRequestObject bounds a request object before it is parsed: an
// authorization request's parameters fit many times over (the claims
// parameter alone is bounded at maxClaimsParam).
const maxRequestObject = 16 << 10

// errInvalidRequestObject is RFC 9101 §6.1's error for an object that
// cannot be used.
func errInvalidRequestObject(format string, args ...any) *oidc.Error {
	return (&oidc.Error{ErrorType: "invalid_request_object"}).WithDescription(format, args...)
}

// registeredClaims are the JWT claims of a request object that are not
// authorization request parameters.
var registeredClaims = []string{"iss", "aud", "exp", "iat", "nbf", "jti", "sub"}

// resolveRequestObject replaces the "request" parameter of params (a
// request of clientID) with the parameters of the object, which win.
// params is changed in place. Errors: invalid_request_object, and
// invalid_request when request and request_uri are both given.
func (p *Provider) resolveRequestObject(ctx context.Context, clientID string, params url.Values) error {
	raw := params.Get("request")
	if raw == "" {
		return nil
	}
	if params.Has("request_uri") {
		return oidc.ErrInvalidRequest().WithDescription("request and request_uri must not both be given (RFC 9101 §5)")
	}
	obj, err := p.requestObject(ctx, clientID, raw)
	if err != nil {
		return err
	}
	if rt := params.Get("response_type"); rt != "" && obj.Has("response_type") && obj.Get("response_type") != rt {
		return errInvalidRequestObject("the request object's response_type differs from the request's")
	}
	params.Del("request")
	for k, v := range obj {
		params[k] = v
	}
	return nil
}

// requestObject verifies a request object of clientID and returns its
// parameters. Errors: invalid_request_object.
func (p *Provider) requestObject(ctx context.Context, clientID, raw string) (url.Values, error) {
	if clientID == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("client_id is required with a request object (RFC 9101 §5)")
	}
	if len(raw) > maxRequestObject {
		return nil, errInvalidRequestObject("the request object is larger than %d bytes", maxRequestObject)
	}
	jws, err := jose.ParseSignedCompact(raw, toSigAlgs(requestObjectAlgs))
	if err != nil {
		return nil, errInvalidRequestObject("the request object must be a JWT signed with one of %v (unsigned and encrypted objects are refused)", requestObjectAlgs).WithParent(err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errInvalidRequestObject("the request object must have one signature")
	}
	if err := p.checkFAPI2RequestObjectAlg(ctx, clientID, jws.Signatures[0].Header.Algorithm); err != nil {
		return nil, err
	}
	key, err := p.storage.GetKeyByIDAndClientID(ctx, jws.Signatures[0].Header.KeyID, clientID)
	var oe *oidc.Error
	if err != nil && !errors.As(err, &oe) {
		return nil, err // a storage failure, not the client's fault
	}
	if err != nil {
		return nil, errInvalidRequestObject("the request object is not signed with a key the client registered").WithParent(err)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, errInvalidRequestObject("the request object's signature does not verify").WithParent(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, errInvalidRequestObject("the request object's payload is not a JSON object").WithParent(err)
	}
	if err := p.checkRequestObjectClaims(clientID, claims); err != nil {
		return nil, err
	}
	out := url.Values{}
	for k, v := range claims {
		if slices.Contains(registeredClaims, k) {
			continue
		}
		s, err := paramValue(v)
		if err != nil {
			return nil, errInvalidRequestObject("parameter %q: %v", k, err)
		}
		out.Set(k, s)
	}
	return out, nil
}

// checkRequestObjectClaims checks who wrote the object for whom and when:
// iss and client_id are the client (RFC 9101 §5), aud names this issuer
// (RFC 9101 §10.8: an object for another server must not be replayed
// here), exp and nbf hold, and it does not nest request or request_uri
// (RFC 9101 §4).
func (p *Provider) checkRequestObjectClaims(clientID string, claims map[string]any) error {
	for _, k := range []string{"iss", "client_id"} {
		if v, ok := claims[k]; ok && v != clientID {
			return errInvalidRequestObject("the request object's %s is not the client", k)
		}
	}
	var aud oidc.Audience
	if raw, err := json.Marshal(claims["aud"]); err != nil || json.Unmarshal(raw, &aud) != nil || !slices.Contains(aud, p.cfg.Issuer) {
		return errInvalidRequestObject("the request object's aud must name the issuer %s", p.cfg.Issuer)
	}
	now := p.storage.now()
	if exp, ok := claims["exp"].(float64); ok && now.After(time.Unix(int64(exp), 0).Add(requestObjectClockSkew)) {
		return errInvalidRequestObject("the request object has expired")
	} else if _, present := claims["exp"]; present && !ok {
		return errInvalidRequestObject("exp is not a number")
	}
	if nbf, ok := claims["nbf"].(float64); ok && now.Add(requestObjectClockSkew).Before(time.Unix(int64(nbf), 0)) {
		return errInvalidRequestObject("the request object is not valid yet")
	}
	if _, ok := claims["request"]; ok {
		return errInvalidRequestObject("a request object must not contain request")
	}
	if _, ok := claims["request_uri"]; ok {
		return errInvalidRequestObject("a request object must not contain request_uri")
	}
	return nil
}

// paramValue is the form value of a request object claim: strings as
// they are, numbers in decimal, booleans as words, objects (claims) as
// JSON.
func paramValue(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case map[string]any:
		b, err := json.Marshal(x)
		return string(b), err
	}
	return "", fmt.Errorf("a %T is not an authorization request parameter", v)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = vs
	}
	return out
}

func toSigAlgs(names []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(names))
	for i, n := range names {
		out[i] = jose.SignatureAlgorithm(n)
	}
	return out
}

// checkFAPI2RequestObjectAlg refuses a request object of a client under
// the FAPI 2.0 profile signed with another algorithm than ES256 or PS256
// (FAPI 2.0 Security Profile, cryptography). An unknown client passes on to the key look-up,
// which refuses it.
func (p *Provider) checkFAPI2RequestObjectAlg(ctx context.Context, clientID, alg string) error {
	c, err := p.storage.loadClient(ctx, clientID)
	var oe *oidc.Error
	if errors.As(err, &oe) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.FAPI2() && !slices.Contains(models.FAPI2Algs, alg) {
		return errInvalidRequestObject("the FAPI 2.0 profile allows request objects signed with %v only", models.FAPI2Algs)
	}
	return nil
}
