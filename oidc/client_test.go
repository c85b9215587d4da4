package oidc

import (
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

func TestGetClientByClientID(t *testing.T) {
	e := newEnv(t)
	_, err := e.s.GetClientByClientID(e.ctx, "unknown")
	wantOAuthError(t, err, "invalid_client")

	tests := []struct {
		name      string
		id        string
		appType   op.ApplicationType
		method    oidc.AuthMethod
		tokenType op.AccessTokenType
	}{
		{"confidential", e.conf.ID, op.ApplicationTypeWeb, oidc.AuthMethodBasic, op.AccessTokenTypeJWT},
		{"public", e.pub.ID, op.ApplicationTypeNative, oidc.AuthMethodNone, op.AccessTokenTypeBearer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.s.GetClientByClientID(e.ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if c.GetID() != tc.id || c.ApplicationType() != tc.appType || c.AuthMethod() != tc.method || c.AccessTokenType() != tc.tokenType {
				t.Fatalf("client %s: type %v method %v token %v", tc.id, c.ApplicationType(), c.AuthMethod(), c.AccessTokenType())
			}
			if c.LoginURL("a b") != "/login?authRequestID=a+b" || c.IDTokenLifetime() != time.Hour || c.ClockSkew() != 0 ||
				!c.IDTokenUserinfoClaimsAssertion() || c.DevMode() {
				t.Fatalf("client settings wrong")
			}
			// Client credentials only for confidential clients (issue 5).
			if !op.ValidateGrantType(c, oidc.GrantTypeRefreshToken) || !op.ValidateGrantType(c, oidc.GrantTypeCode) ||
				!op.ValidateGrantType(c, oidc.GrantTypeDeviceCode) ||
				op.ValidateGrantType(c, oidc.GrantTypeClientCredentials) != (tc.method != oidc.AuthMethodNone) {
				t.Fatal("grant types wrong")
			}
			if len(c.ResponseTypes()) != 1 || c.ResponseTypes()[0] != oidc.ResponseTypeCode {
				t.Fatal("response types wrong")
			}
			if !c.IsScopeAllowed("groups") || c.IsScopeAllowed("admin:all") {
				t.Fatal("scope allowlist wrong")
			}
		})
	}
}

func TestAuthorizeClientIDSecret(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, id, secret string
		ok               bool
	}{
		{"right secret", e.conf.ID, e.secret, true},
		{"wrong secret", e.conf.ID, "wrong", false},
		{"empty secret", e.conf.ID, "", false},
		{"unknown client", "nope", e.secret, false},
		{"public client", e.pub.ID, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.s.AuthorizeClientIDSecret(e.ctx, tc.id, tc.secret)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantOAuthError(t, err, "invalid_client")
		})
	}
}
