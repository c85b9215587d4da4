package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-idp/latchkey/models"
)

// maxAssertionLifetime bounds exp-iat of a client assertion, which bounds
// how long its jti must be remembered.
const maxAssertionLifetime = 5 * time.Minute

// useClientAssertion verifies a private_key_jwt assertion (signature with
// the client's registered keys, aud, exp, iat) and spends its jti: OpenID
// Connect Core §9 requires the jti and allows an assertion to be used only
// once, which op does not check. The audience may be the issuer or
// endpoint, the URL of the endpoint the assertion was sent to (RFC 7523
// §3: "the token endpoint URL of the authorization server"; OIDC Core §9:
// "the URL of the Token Endpoint"), which most client libraries send. It
// returns the client ID. Errors: invalid_client.
func (p *Provider) useClientAssertion(ctx context.Context, assertion, endpoint string) (string, error) {
	var claims struct {
		JTI string        `json:"jti"`
		IAT int64         `json:"iat"`
		EXP int64         `json:"exp"`
		AUD oidc.Audience `json:"aud"`
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "", oidc.ErrInvalidClient().WithDescription("invalid client assertion")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		return "", oidc.ErrInvalidClient().WithDescription("invalid client assertion")
	}
	audience := p.cfg.Issuer
	if endpoint != "" && !slices.Contains(claims.AUD, audience) && slices.Contains(claims.AUD, endpoint) {
		audience = endpoint
	}
	ctx = op.ContextWithIssuer(ctx, audience) // the audience op's verifier expects
	req, err := op.VerifyJWTAssertion(ctx, assertion, p.op.JWTProfileVerifier(ctx))
	if err != nil {
		return "", oidc.ErrInvalidClient().WithDescription("invalid client assertion").WithParent(err)
	}
	if claims.JTI == "" {
		return "", oidc.ErrInvalidClient().WithDescription("the client assertion needs a jti (OpenID Connect Core §9)")
	}
	exp := time.Unix(claims.EXP, 0)
	if claims.IAT == 0 || exp.Sub(time.Unix(claims.IAT, 0)) > maxAssertionLifetime {
		return "", oidc.ErrInvalidClient().WithDescription("the client assertion must carry iat and live at most 5 minutes")
	}
	if err := p.db.UseClientAssertion(ctx, req.Issuer, claims.JTI, exp); err != nil {
		if errors.Is(err, models.ErrConflict) {
			return "", oidc.ErrInvalidClient().WithDescription("client assertion already used")
		}
		return "", err
	}
	return req.Issuer, nil
}

// jwtAlg is the alg of a compact JWS's header ("" when unreadable).
func jwtAlg(raw string) string {
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Alg
}

// audIsIssuer says whether a compact JWT's aud is exactly the string
// issuer (not an array, not an endpoint URL).
func audIsIssuer(raw, issuer string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		AUD json.RawMessage `json:"aud"`
	}
	var aud string
	return json.Unmarshal(payload, &c) == nil && json.Unmarshal(c.AUD, &aud) == nil && aud == issuer
}
