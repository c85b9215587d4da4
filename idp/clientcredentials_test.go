package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey-idp/latchkey/models"
)

// jwtHeader decodes the protected header of a compact JWS.
func jwtHeader(t *testing.T, jws string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// verifyJWT checks a JWT's signature against the published JWKS and
// returns its claims.
func (a *testApp) verifyJWT(raw string) map[string]any {
	a.t.Helper()
	ks := gooidc.NewRemoteKeySet(context.Background(), a.issuer+"/keys")
	payload, err := ks.VerifySignature(context.Background(), raw)
	if err != nil {
		a.t.Fatalf("JWT signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		a.t.Fatal(err)
	}
	return claims
}

func TestClientCredentialsGrant(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	const api = "https://api.example.com"
	svc, secret := app.newClient("http://localhost:9999/cb", func(c *models.Client) {
		c.Name = "Billing job"
		c.AllowedScopes = models.StringList{"api:read", "api:write"}
		c.AccessTokenAudience = models.StringList{api, "https://reports.example.com"}
		c.AccessTokenFormat = models.AccessTokenOpaque // ignored: RFC 9068 JWTs for services
	})
	cc := clientcredentials.Config{ClientID: svc.ID, ClientSecret: secret, TokenURL: app.issuer + "/oauth/token", Scopes: []string{"api:read"}}

	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	if tok.RefreshToken != "" || tok.Extra("id_token") != nil {
		t.Fatalf("client credentials returned a refresh or ID token: %+v", tok)
	}
	if h := jwtHeader(t, tok.AccessToken); h["typ"] != "at+jwt" || h["kid"] == "" {
		t.Fatalf("access token header = %v, want typ at+jwt (RFC 9068 §2.1)", h)
	}
	cl := app.verifyJWT(tok.AccessToken)
	for k, want := range map[string]any{"iss": app.issuer, "sub": svc.ID, "client_id": svc.ID, "scope": "api:read"} {
		if cl[k] != want {
			t.Errorf("claim %s = %v, want %v", k, cl[k], want)
		}
	}
	if aud, _ := cl["aud"].([]any); len(aud) != 1 || aud[0] != api {
		t.Errorf("aud = %v, want the client's configured audience %s", cl["aud"], api)
	}
	for _, k := range []string{"exp", "iat", "jti"} {
		if cl[k] == nil {
			t.Errorf("claim %s missing", k)
		}
	}

	t.Run("resource selects the audience", func(t *testing.T) {
		c := cc
		c.EndpointParams = url.Values{"resource": {"https://reports.example.com"}}
		tok, err := c.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if aud, _ := app.verifyJWT(tok.AccessToken)["aud"].([]any); len(aud) != 1 || aud[0] != "https://reports.example.com" {
			t.Fatalf("aud = %v", aud)
		}
	})

	t.Run("introspection by the service, userinfo refused", func(t *testing.T) {
		if !app.introspect(svc.ID, secret, tok.AccessToken) {
			t.Fatal("service token inactive at introspection")
		}
		req, _ := http.NewRequest(http.MethodGet, app.issuer+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("userinfo with a service token: %d, want 401", resp.StatusCode)
		}
		app.revoke(svc.ID, secret, tok.AccessToken)
		if app.introspect(svc.ID, secret, tok.AccessToken) {
			t.Fatal("revoked service token still active")
		}
	})

	pub, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Public = true })
	refusals := []struct {
		name string
		cfg  func(*clientcredentials.Config)
		code string
	}{
		{"wrong secret", func(c *clientcredentials.Config) { c.ClientSecret = "nope" }, "invalid_client"},
		{"public client", func(c *clientcredentials.Config) { c.ClientID, c.ClientSecret = pub.ID, "" }, "invalid_client"},
		{"openid scope", func(c *clientcredentials.Config) { c.Scopes = []string{"openid"} }, "invalid_scope"},
		{"offline_access", func(c *clientcredentials.Config) { c.Scopes = []string{"offline_access"} }, "invalid_scope"},
		{"scope not allowed", func(c *clientcredentials.Config) { c.Scopes = []string{"api:admin"} }, "invalid_scope"},
		{"resource not allowed", func(c *clientcredentials.Config) {
			c.EndpointParams = url.Values{"resource": {"https://evil.example.com"}}
		}, "invalid_target"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			c := cc
			tc.cfg(&c)
			if _, err := c.Token(ctx); !isOAuthError(err, tc.code) {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}

	t.Run("client_secret_post", func(t *testing.T) {
		c := cc
		c.AuthStyle = oauth2.AuthStyleInParams
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("discovery lists the grant", func(t *testing.T) {
		d := app.discovery()
		if !slices.Contains(d.GrantTypes, "client_credentials") {
			t.Fatalf("grant_types_supported = %v", d.GrantTypes)
		}
	})
}

// discoveryDoc is the part of the discovery document the tests check.
type discoveryDoc struct {
	Issuer                 string   `json:"issuer"`
	Authorization          string   `json:"authorization_endpoint"`
	Token                  string   `json:"token_endpoint"`
	Userinfo               string   `json:"userinfo_endpoint"`
	JWKS                   string   `json:"jwks_uri"`
	EndSession             string   `json:"end_session_endpoint"`
	Revocation             string   `json:"revocation_endpoint"`
	Introspection          string   `json:"introspection_endpoint"`
	DeviceAuthorization    string   `json:"device_authorization_endpoint"`
	GrantTypes             []string `json:"grant_types_supported"`
	ResponseTypes          []string `json:"response_types_supported"`
	ResponseModes          []string `json:"response_modes_supported"`
	TokenAuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
	TokenAuthAlgs          []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IDTokenAlgs            []string `json:"id_token_signing_alg_values_supported"`
	Scopes                 []string `json:"scopes_supported"`
	Claims                 []string `json:"claims_supported"`
	RequestParameter       bool     `json:"request_parameter_supported"`
	RequestURIParameter    bool     `json:"request_uri_parameter_supported"`
	BackchannelLogout      bool     `json:"backchannel_logout_supported"`
	BackchannelSession     bool     `json:"backchannel_logout_session_supported"`
	FrontchannelLogout     bool     `json:"frontchannel_logout_supported"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
	PromptValues           []string `json:"prompt_values_supported"`
	ACRValues              []string `json:"acr_values_supported"`
	IntrospectionAuthMeths []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationAuthMethods  []string `json:"revocation_endpoint_auth_methods_supported"`
}

func (a *testApp) discovery() discoveryDoc {
	a.t.Helper()
	resp, err := http.Get(a.issuer + "/.well-known/openid-configuration")
	if err != nil {
		a.t.Fatal(err)
	}
	var d discoveryDoc
	if err := json.Unmarshal([]byte(readBody(a.t, resp)), &d); err != nil {
		a.t.Fatal(err)
	}
	return d
}
