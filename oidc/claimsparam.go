package oidc

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// The claims request parameter (OpenID Connect Core §5.5), which op does
// not read: a JSON object whose members "id_token" and "userinfo" name
// individual claims, each null or {"essential", "value", "values"}.
//
//   - A claim requested for the ID token is put in it when the user's
//     granted scopes release it (consent is per scope, so the parameter
//     never releases a claim the user did not agree to): a "minimal"
//     client can thus ask for one claim in its ID token. Userinfo already
//     answers every claim of the granted scopes, so a "userinfo" member
//     is accepted and needs nothing more.
//   - acr requested as essential with value or values (§5.5.1.1) is a
//     requirement, as acr_values is: the sign-in must reach one of them or
//     fails (signin.Service); with acr_values too, both must hold, so the
//     values in common count. A voluntary acr request changes nothing: the
//     ID token always carries acr.
//   - "essential" on any other claim is informational (§5.5.1).
//
// Authorize (server.go) parses it, the auth request and then the grant
// keep it normalized (models.AuthRequest.Claims, models.Grant.Claims),
// and the ID token of the code and of every refresh adds the claims
// (clientKeys.SetUserinfoFromRequest). A malformed parameter is
// invalid_request at /authorize and at the PAR endpoint.

// claimsParam is the parameter's name.
const claimsParam = "claims"

// maxClaimsParam bounds the parameter and the claims it may name.
const (
	maxClaimsParam  = 4 << 10
	maxClaimsNamed  = 64
	claimACR        = "acr"
	claimsIDToken   = "id_token"
	claimsUserinfo  = "userinfo"
	claimsParamDesc = "the claims parameter must be a JSON object whose id_token and userinfo members map claim names to null or to {essential, value, values} (OpenID Connect Core §5.5)"
)

// claimsRequest is the parsed claims parameter.
type claimsRequest struct {
	IDToken  map[string]*claimRequest `json:"id_token,omitempty"`
	UserInfo map[string]*claimRequest `json:"userinfo,omitempty"`
}

// claimRequest is one claim's request; nil is a voluntary request with no
// value (§5.5.1).
type claimRequest struct {
	Essential bool  `json:"essential,omitempty"`
	Value     any   `json:"value,omitempty"`
	Values    []any `json:"values,omitempty"`
}

// parseClaimsRequest parses and checks a claims parameter; it returns nil
// for "". Errors: invalid_request.
func parseClaimsRequest(raw string) (*claimsRequest, error) {
	if raw == "" {
		return nil, nil
	}
	bad := func(err error) error {
		return oidc.ErrInvalidRequest().WithDescription(claimsParamDesc).WithParent(err)
	}
	if len(raw) > maxClaimsParam {
		return nil, oidc.ErrInvalidRequest().WithDescription("the claims parameter is too large")
	}
	// Each member must be an object (or absent); other members are
	// ignored (§5.5).
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &top); err != nil || top == nil {
		return nil, bad(err)
	}
	c := new(claimsRequest)
	for name, dst := range map[string]*map[string]*claimRequest{claimsIDToken: &c.IDToken, claimsUserinfo: &c.UserInfo} {
		m, ok := top[name]
		if !ok || bytes.Equal(m, []byte("null")) {
			continue
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(m, &members); err != nil || members == nil {
			return nil, bad(err)
		}
		out := map[string]*claimRequest{}
		for claim, v := range members {
			if claim == "" {
				return nil, bad(nil)
			}
			var r *claimRequest
			if !bytes.Equal(v, []byte("null")) {
				dec := json.NewDecoder(bytes.NewReader(v))
				if err := dec.Decode(&r); err != nil || r == nil {
					return nil, bad(err)
				}
			}
			out[claim] = r
		}
		*dst = out
	}
	if len(c.IDToken)+len(c.UserInfo) > maxClaimsNamed {
		return nil, oidc.ErrInvalidRequest().WithDescription("the claims parameter names too many claims")
	}
	if _, err := c.requiredACR(); err != nil {
		return nil, err
	}
	return c, nil
}

// encode is the normalized JSON kept with the request; "" for none.
func (c *claimsRequest) encode() string {
	if c == nil || len(c.IDToken) == 0 && len(c.UserInfo) == 0 {
		return ""
	}
	b, err := json.Marshal(c)
	if err != nil {
		return ""
	}
	return string(b)
}

// requiredACR returns the acr values the claims request makes essential
// (§5.5.1.1): value or values of an essential acr request for the ID
// token or userinfo; nil when none. Values must be strings.
// Errors: invalid_request.
func (c *claimsRequest) requiredACR() ([]string, error) {
	if c == nil {
		return nil, nil
	}
	var out []string
	for _, m := range []map[string]*claimRequest{c.IDToken, c.UserInfo} {
		r := m[claimACR]
		if r == nil || !r.Essential {
			continue
		}
		vals := r.Values
		if r.Value != nil {
			vals = append([]any{r.Value}, vals...)
		}
		for _, v := range vals {
			s, ok := v.(string)
			if !ok || s == "" {
				return nil, oidc.ErrInvalidRequest().WithDescription("acr values in the claims parameter must be strings")
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// applyClaimsRequest reads the claims parameter of an authorization
// request into req: an essential acr becomes required acr values,
// intersected with acr_values when both are given. It returns the
// normalized parameter to keep. Errors: invalid_request.
func applyClaimsRequest(req *oidc.AuthRequest, raw string) (string, error) {
	c, err := parseClaimsRequest(raw)
	if err != nil || c == nil {
		return "", err
	}
	acr, _ := c.requiredACR() // checked by parseClaimsRequest
	switch {
	case len(acr) == 0:
	case len(req.ACRValues) == 0:
		req.ACRValues = acr
	default:
		var both []string
		for _, v := range req.ACRValues {
			if slices.Contains(acr, v) {
				both = append(both, v)
			}
		}
		if len(both) == 0 {
			return "", oidc.ErrInvalidRequest().WithDescription("acr_values and the essential acr of the claims parameter have no value in common")
		}
		req.ACRValues = both
	}
	return c.encode(), nil
}

// requestedClaimser is a token request that carries a claims parameter.
type requestedClaimser interface{ requestedClaims() string }

func (r *authRequest) requestedClaims() string         { return r.m.Claims }
func (r *refreshTokenRequest) requestedClaims() string { return r.m.Claims }

// addRequestedIDTokenClaims puts in info the claims the request's claims
// parameter asks for in the ID token that the granted scopes release
// (full holds every claim they release).
func addRequestedIDTokenClaims(info *oidc.UserInfo, full *oidc.UserInfo, raw string) {
	c, err := parseClaimsRequest(raw)
	if err != nil || c == nil || len(c.IDToken) == 0 {
		return
	}
	b, err := json.Marshal(full)
	if err != nil {
		return
	}
	var all map[string]any
	if json.Unmarshal(b, &all) != nil {
		return
	}
	for name := range c.IDToken {
		if v, ok := all[name]; ok && !reservedIDTokenClaim[name] {
			info.AppendClaims(name, v)
		}
	}
}

// reservedIDTokenClaim are claims op sets in the ID token itself; the
// claims parameter never overrides them.
var reservedIDTokenClaim = map[string]bool{
	"iss": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true, "nonce": true, "auth_time": true,
	"acr": true, "amr": true, "azp": true, "at_hash": true, "c_hash": true, "sub": true, "sid": true,
}
