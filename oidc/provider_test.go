package oidc

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		probs  int
	}{
		{"defaults ok", func(*Config) {}, 0},
		{"no issuer", func(c *Config) { c.Issuer = "" }, 1},
		{"relative issuer", func(c *Config) { c.Issuer = "/id" }, 2},
		{"issuer with query", func(c *Config) { c.Issuer = "https://id.example.com/?a=b" }, 1},
		{"issuer ftp", func(c *Config) { c.Issuer = "ftp://id.example.com" }, 1},
		{"negative TTLs and long code", func(c *Config) { c.AccessTokenTTL = -1; c.CodeTTL = 2 * 60e9 }, 2},
		{"bad paths", func(c *Config) { c.LoginPath = "login"; c.LoggedOutPath = "//evil" }, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Issuer: "https://id.example.com/"}
			c.Defaults()
			tc.mutate(&c)
			if probs := c.Validate(); len(probs) != tc.probs {
				t.Fatalf("problems = %q, want %d", probs, tc.probs)
			}
		})
	}
}

// newHTTPEnv serves a provider whose issuer is the test server's URL.
func newHTTPEnv(t *testing.T) (*env, *httptest.Server) {
	e := newEnv(t)
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	p, err := New(e.ctx, Config{Issuer: srv.URL, Now: e.clock.Now}, e.db, e.sealer)
	if err != nil {
		t.Fatal(err)
	}
	e.p, e.s, h = p, p.storage, p.Handler()
	return e, srv
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func getJSON(t *testing.T, u string) (map[string]any, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m, resp.Header
}

func TestDiscoveryAndKeys(t *testing.T) {
	e, srv := newHTTPEnv(t)
	d, _ := getJSON(t, srv.URL+"/.well-known/openid-configuration")
	if d["issuer"] != srv.URL {
		t.Fatalf("issuer %v", d["issuer"])
	}
	want := map[string]string{ //nolint:gosec // discovery values, not credentials (G101)
		"code_challenge_methods_supported":      `["S256"]`,
		"response_types_supported":              `["code"]`,
		"grant_types_supported":                 `["authorization_code","refresh_token","client_credentials","urn:ietf:params:oauth:grant-type:device_code"]`,
		"token_endpoint_auth_methods_supported": `["client_secret_basic","client_secret_post","private_key_jwt","none"]`,
		"backchannel_logout_supported":          `true`,
		"backchannel_logout_session_supported":  `true`,
		"id_token_signing_alg_values_supported": `["RS256","ES256"]`,
		// Signed request objects (jar.go), PAR (par.go), iss (iss.go).
		"request_parameter_supported":                    `true`,
		"request_uri_parameter_supported":                `false`,
		"request_object_signing_alg_values_supported":    `["RS256","ES256","PS256"]`,
		"authorization_response_iss_parameter_supported": `true`,
		"pushed_authorization_request_endpoint":          `"` + srv.URL + `/oauth/par"`,
		"require_pushed_authorization_requests":          `false`,
	}
	for k, v := range want {
		if got, _ := json.Marshal(d[k]); string(got) != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	for _, k := range []string{"frontchannel_logout_supported", "check_session_iframe"} {
		if _, ok := d[k]; ok {
			t.Errorf("discovery advertises %s", k)
		}
	}
	jwks, h := getJSON(t, d["jwks_uri"].(string))
	if h.Get("Cache-Control") == "" {
		t.Error("JWKS has no Cache-Control")
	}
	var kids []string
	for _, k := range jwks["keys"].([]any) {
		kids = append(kids, k.(map[string]any)["kid"].(string))
	}
	for _, c := range []*models.Client{e.conf, e.pub} {
		k, err := e.s.forClient(c).SigningKey(e.ctx)
		if err != nil || !slices.Contains(kids, k.ID()) {
			t.Fatalf("JWKS %v lacks %s key", kids, c.IDTokenAlg)
		}
	}
}

// codeFlow runs authorize → (sign-in) → callback → token and returns the
// token response.
func codeFlow(t *testing.T, e *env, srv *httptest.Server, c *models.Client, secret string) map[string]any {
	t.Helper()
	q := url.Values{"client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]}, "response_type": {"code"},
		"scope": {"openid profile groups offline_access"}, "state": {"st"}, "nonce": {"nn"},
		"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
	resp, err := noRedirect.Get(srv.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	id := loc.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusFound || loc.Path != "/login" || id == "" {
		t.Fatalf("authorize: %s %s", resp.Status, loc)
	}
	if err := e.db.CompleteAuthRequest(e.ctx, id, models.Completion{UserID: e.user.ID, SessionID: e.session.ID, AuthTime: e.clock.Now(), AMR: []string{"hwk", "user"}}); err != nil {
		t.Fatal(err)
	}
	cb := e.p.CallbackURL(e.ctx, id)
	if !strings.HasPrefix(cb, srv.URL+"/authorize/callback?id=") {
		t.Fatalf("callback URL %s", cb)
	}
	resp, err = noRedirect.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" || loc.Query().Get("state") != "st" {
		t.Fatalf("callback: %s %s", resp.Status, loc)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}
	return tokenRequest(t, srv, c, secret, form, http.StatusOK)
}

func tokenRequest(t *testing.T, srv *httptest.Server, c *models.Client, secret string, form url.Values, status int) map[string]any {
	t.Helper()
	if secret == "" {
		form.Set("client_id", c.ID)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(c.ID, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("token: %s %s", resp.Status, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("token response is cacheable")
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return m
}

func jwtParts(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func userinfoStatus(t *testing.T, srv *httptest.Server, at string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestCodeFlowOverHTTP(t *testing.T) {
	e, srv := newHTTPEnv(t)
	tests := []struct {
		name   string
		client *models.Client
		secret string
		alg    string
		jwtAT  bool
	}{
		{"confidential RS256 JWT access token", e.conf, e.secret, "RS256", true},
		{"public ES256 opaque access token", e.pub, "", "ES256", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := codeFlow(t, e, srv, tc.client, tc.secret)
			h, claims := jwtParts(t, tok["id_token"].(string))
			if h["alg"] != tc.alg || claims["sub"] != e.user.ID || claims["nonce"] != "nn" || claims["sid"] != e.session.ID ||
				claims["iss"] != srv.URL || claims["aud"] == nil || claims["auth_time"] == nil {
				t.Fatalf("id token %v %v", h, claims)
			}
			if amr, _ := json.Marshal(claims["amr"]); string(amr) != `["hwk","user"]` {
				t.Fatalf("amr %s", amr)
			}
			at := tok["access_token"].(string)
			if isJWT := strings.Count(at, ".") == 2; isJWT != tc.jwtAT {
				t.Fatalf("access token format: %q", at)
			}
			if st, ui := userinfoStatus(t, srv, at); st != 200 || ui["sub"] != e.user.ID || ui["preferred_username"] != "alice" {
				t.Fatalf("userinfo %d %v", st, ui)
			}
			rt := tok["refresh_token"].(string)
			tok2 := tokenRequest(t, srv, tc.client, tc.secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, http.StatusOK)
			if h, _ := jwtParts(t, tok2["id_token"].(string)); h["alg"] != tc.alg {
				t.Fatalf("refreshed id token alg %v", h["alg"])
			}
			// replaying the old refresh token after the reuse grace kills
			// the family, including the new access token
			e.clock.Advance(6 * time.Second)
			tokenRequest(t, srv, tc.client, tc.secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, http.StatusBadRequest)
			if st, _ := userinfoStatus(t, srv, tok2["access_token"].(string)); st != http.StatusUnauthorized {
				t.Fatalf("userinfo after family revocation: %d", st)
			}
		})
	}
}

func TestFailAuthRequest(t *testing.T) {
	e, srv := newHTTPEnv(t)
	ar := e.authRequest(e.conf, "openid")
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, srv.URL+"/login", nil)
	e.p.FailAuthRequest(w, r, ar.GetID(), LoginRequired, "no session")
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusFound || loc.Host != "app.example.com" || loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != "st" {
		t.Fatalf("fail: %d %s", w.Code, loc)
	}
	w = httptest.NewRecorder()
	e.p.FailAuthRequest(w, r, ar.GetID(), AccessDenied, "")
	if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
		t.Fatalf("second fail on deleted request: %d %s", w.Code, w.Header().Get("Location"))
	}
}
