package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// Dynamic client registration (RFC 7591) and client management (RFC
// 7592), driven over HTTP with requests built from the RFCs (go-oidc and
// x/oauth2 have no registration client); the registered clients then sign
// in through go-oidc + x/oauth2.

// regAnswer is an answer of the registration or configuration endpoint.
type regAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

func (r regAnswer) str(k string) string { s, _ := r.body[k].(string); return s }

// regCall sends method to path (relative to the issuer) with body (JSON
// unless a string) and an optional bearer token.
func (a *testApp) regCall(method, path string, body any, bearer string) regAnswer {
	a.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.issuer+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	raw := readBody(a.t, resp)
	ans := regAnswer{status: resp.StatusCode, header: resp.Header}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &ans.body); err != nil {
			a.t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		a.t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, cc)
	}
	return ans
}

func (a *testApp) register(md map[string]any, bearer string) regAnswer {
	a.t.Helper()
	return a.regCall(http.MethodPost, oidc.RegistrationEndpoint, md, bearer)
}

func (a *testApp) clientCount() int64 {
	a.t.Helper()
	var n int64
	if err := a.db.Gorm().Model(&models.Client{}).Count(&n).Error; err != nil {
		a.t.Fatal(err)
	}
	return n
}

func (a *testApp) auditCount(typ string) int64 {
	a.t.Helper()
	var n int64
	if err := a.db.Gorm().Model(&models.AuditEvent{}).Where("type = ?", typ).Count(&n).Error; err != nil {
		a.t.Fatal(err)
	}
	return n
}

// wantRefused checks an OAuth error answer of the registration endpoints.
func wantRefused(t *testing.T, ans regAnswer, status int, code string) {
	t.Helper()
	if ans.status != status || ans.str("error") != code {
		t.Fatalf("answer %d %v, want %d %s", ans.status, ans.body, status, code)
	}
	if status == http.StatusUnauthorized && !strings.Contains(ans.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("401 without the Bearer challenge: %q", ans.header.Get("WWW-Authenticate"))
	}
}

// authMethodKey is RFC 7591's metadata name (not a credential).
const authMethodKey = "token_endpoint_auth_method" //nolint:gosec // G101: a metadata name

func withRegistration(mode string, patterns ...string) func(*Config) {
	return func(c *Config) { c.OIDC.Registration, c.OIDC.RegistrationRedirectPatterns = mode, patterns }
}

func TestDynamicClientRegistration(t *testing.T) {
	app := newTestApp(t, withRegistration(oidc.RegistrationToken))
	ctx := context.Background()
	user, setup := app.newUser("dora", false)
	b := app.newBrowser()
	b.register(setup)
	iat, tok, err := app.db.CreateRegistrationToken(ctx, "agents", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	const redirect = "http://localhost:9999/callback"

	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		var d map[string]any
		if err := json.Unmarshal([]byte(b.getBody(path)), &d); err != nil {
			t.Fatal(err)
		}
		if d["registration_endpoint"] != app.issuer+"/oauth/register" {
			t.Fatalf("%s: registration_endpoint = %v", path, d["registration_endpoint"])
		}
	}

	ans := app.register(map[string]any{"redirect_uris": []string{redirect}, "client_name": "Agent Smith",
		"grant_types": []string{"authorization_code", "refresh_token"}, "scope": "openid profile", "logo_uri": "https://ignored.example/l.png"}, iat)
	if ans.status != http.StatusCreated {
		t.Fatalf("register: %d %v", ans.status, ans.body)
	}
	id, rat := ans.str("client_id"), ans.str("registration_access_token")
	if id == "" || !strings.HasPrefix(rat, "lkm_") || ans.str("registration_client_uri") != app.issuer+"/oauth/register/"+id ||
		ans.str("token_endpoint_auth_method") != "none" || ans.str("client_name") != "Agent Smith" || ans.body["client_secret"] != nil ||
		ans.str("scope") != "openid profile" || ans.body["logo_uri"] != nil {
		t.Fatalf("client information %v", ans.body)
	}
	c, err := app.db.ClientByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !c.SelfRegistered() || c.RegisteredBy != tok.ID || !c.Public || c.SkipConsent || !c.NeedsPKCE() || len(c.SecretHash) != 0 ||
		bytes.Equal(c.RegistrationTokenHash, []byte(rat)) || len(c.RegistrationTokenHash) != 32 {
		t.Fatalf("stored client %+v", c)
	}
	if app.auditCount(models.EventClientRegistered) != 1 {
		t.Fatal("registration not audited")
	}

	t.Run("the registered client signs a user in with go-oidc", func(t *testing.T) {
		r := app.newRP(id, "", redirect, "openid", "profile")
		authURL, f := r.in(t).authURL()
		cu := b.in(t).toConsent(authURL) // no admin vouched for it: consent
		page, _ := b.in(t).page(cu.String(), http.StatusOK)
		if !strings.Contains(page, `id="consent-unverified"`) || !strings.Contains(page, "registered itself") || !strings.Contains(page, "localhost:9999") {
			t.Fatalf("the consent page does not warn that the client registered itself:\n%s", page)
		}
		cb := b.in(t).consent(cu, "allow")
		if _, idt := r.in(t).exchange(cb, f); idt.Subject != user.ID {
			t.Fatalf("sub = %s", idt.Subject)
		}
	})

	t.Run("read rotates the registration access token", func(t *testing.T) {
		got := app.in(t).regCall(http.MethodGet, "/oauth/register/"+id, nil, rat)
		if got.status != http.StatusOK || got.str("client_id") != id || got.str("registration_access_token") == rat {
			t.Fatalf("read: %d %v", got.status, got.body)
		}
		wantRefused(t, app.in(t).regCall(http.MethodGet, "/oauth/register/"+id, nil, rat), http.StatusUnauthorized, "invalid_token")
		rat = got.str("registration_access_token")
	})

	t.Run("update replaces the metadata", func(t *testing.T) {
		a := app.in(t)
		path := "/oauth/register/" + id
		before := rat
		wantRefused(t, a.regCall(http.MethodPut, path, map[string]any{"redirect_uris": []string{redirect}}, rat), http.StatusBadRequest, "invalid_request")
		wantRefused(t, a.regCall(http.MethodPut, path, map[string]any{"client_id": id, "redirect_uris": []string{redirect}, "registration_access_token": rat}, rat),
			http.StatusBadRequest, "invalid_request")
		key := newClientKey(t, "k1")
		wantRefused(t, a.regCall(http.MethodPut, path, map[string]any{"client_id": id, "redirect_uris": []string{redirect},
			authMethodKey: "private_key_jwt", "jwks": json.RawMessage(key.jwks(t))}, rat), http.StatusBadRequest, "invalid_client_metadata")
		wantRefused(t, a.regCall(http.MethodPut, path, map[string]any{"client_id": id, "redirect_uris": []string{"http://example.com/cb"}}, rat),
			http.StatusBadRequest, "invalid_redirect_uri")
		if rat != before {
			t.Fatal("refused updates changed the token")
		}
		got := a.regCall(http.MethodPut, path, map[string]any{"client_id": id, "client_name": "Agent Jones",
			"redirect_uris": []string{redirect, "https://agent.example/cb"}}, rat)
		if got.status != http.StatusOK || got.str("client_name") != "Agent Jones" || got.str("registration_access_token") == rat {
			t.Fatalf("update: %d %v", got.status, got.body)
		}
		rat = got.str("registration_access_token")
		c, err := app.db.ClientByID(ctx, id)
		if err != nil || c.Name != "Agent Jones" || len(c.RedirectURIs) != 2 || c.RegisteredBy != tok.ID || !c.Public {
			t.Fatalf("after update %+v %v", c, err)
		}
	})

	t.Run("an update that breaks the client's FAPI 2.0 profile is refused", func(t *testing.T) {
		a := app.in(t)
		key := newClientKey(t, "fapi")
		got := a.register(map[string]any{"redirect_uris": []string{redirect}, authMethodKey: "private_key_jwt",
			"jwks": json.RawMessage(key.jwks(t)), "id_token_signed_response_alg": "ES256"}, iat)
		fid := got.str("client_id")
		fc, err := app.db.ClientByID(ctx, fid)
		if err != nil {
			t.Fatal(err)
		}
		fc.Profile = models.ProfileFAPI2 // an admin puts it under the profile
		if err := app.db.SaveClient(ctx, fc); err != nil {
			t.Fatal(err)
		}
		frat := got.str("registration_access_token")
		wantRefused(t, a.regCall(http.MethodPut, "/oauth/register/"+fid, map[string]any{"client_id": fid, "redirect_uris": []string{redirect},
			authMethodKey: "private_key_jwt", "jwks": json.RawMessage(key.jwks(t)), "id_token_signed_response_alg": "RS256"}, frat),
			http.StatusBadRequest, "invalid_client_metadata")
		if c, _ := app.db.ClientByID(ctx, fid); c.IDTokenAlg != "ES256" || !c.FAPI2() {
			t.Fatalf("a refused update changed the client: %+v", c)
		}
		// The refused update left the token as it was.
		if got := a.regCall(http.MethodGet, "/oauth/register/"+fid, nil, frat); got.status != http.StatusOK {
			t.Fatalf("read after a refused update: %d %v", got.status, got.body)
		}
	})

	t.Run("another client's or an admin client's id is refused", func(t *testing.T) {
		a := app.in(t)
		admin, _ := a.newClient(redirect)
		wantRefused(t, a.regCall(http.MethodGet, "/oauth/register/"+admin.ID, nil, rat), http.StatusUnauthorized, "invalid_token")
		wantRefused(t, a.regCall(http.MethodDelete, "/oauth/register/"+admin.ID, nil, rat), http.StatusUnauthorized, "invalid_token")
		wantRefused(t, a.regCall(http.MethodGet, "/oauth/register/"+id, nil, ""), http.StatusUnauthorized, "invalid_token")
		wantRefused(t, a.regCall(http.MethodGet, "/oauth/register/"+id, nil, iat), http.StatusUnauthorized, "invalid_token")
		if _, err := app.db.ClientByID(ctx, admin.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a private_key_jwt client registers and redeems with an assertion", func(t *testing.T) {
		a := app.in(t)
		key := newClientKey(t, "agent-key")
		got := a.register(map[string]any{"redirect_uris": []string{redirect}, authMethodKey: "private_key_jwt",
			"jwks": json.RawMessage(key.jwks(t)), "id_token_signed_response_alg": "ES256"}, iat)
		if got.status != http.StatusCreated || got.str("token_endpoint_auth_method") != "private_key_jwt" || got.body["jwks"] == nil {
			t.Fatalf("register: %d %v", got.status, got.body)
		}
		kid := got.str("client_id")
		if gts := fmt.Sprint(got.body["grant_types"]); !strings.Contains(gts, "authorization_code") || strings.Contains(gts, "client_credentials") {
			t.Fatalf("grant_types %v", got.body["grant_types"])
		}
		cc := withParams(url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}, assertionParams(key.assertion(t, kid, app.issuer)))
		if ans := app.in(t).send(http.MethodPost, "/oauth/token", cc, nil); ans.str("error") != "unauthorized_client" {
			t.Fatalf("client credentials for a self-registered client: %d %v", ans.status, ans.body)
		}
		r := app.newRP(kid, "", redirect, "openid")
		r.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		authURL, f := r.authURL()
		cb := b.in(t).consent(b.in(t).toConsent(authURL), "allow")
		if _, err := r.oauth.Exchange(r.ctx, cb.Query().Get("code"), oauth2.VerifierOption(f.verifier)); !isOAuthError(err, "invalid_client") {
			t.Fatalf("exchange without the assertion: %v", err)
		}
		authURL, f = r.authURL()
		cb = b.in(t).signIn(authURL)
		a2 := assertionParams(key.assertion(t, kid, app.issuer))
		tok, err := r.oauth.Exchange(r.ctx, cb.Query().Get("code"), oauth2.VerifierOption(f.verifier),
			oauth2.SetAuthURLParam("client_assertion_type", a2.Get("client_assertion_type")), oauth2.SetAuthURLParam("client_assertion", a2.Get("client_assertion")))
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("exchange with private_key_jwt: %v", err)
		}
	})

	t.Run("delete removes the client", func(t *testing.T) {
		a := app.in(t)
		got := a.regCall(http.MethodDelete, "/oauth/register/"+id, nil, rat)
		if got.status != http.StatusNoContent {
			t.Fatalf("delete: %d %v", got.status, got.body)
		}
		if _, err := app.db.ClientByID(ctx, id); err == nil {
			t.Fatal("client still there")
		}
		wantRefused(t, a.regCall(http.MethodGet, "/oauth/register/"+id, nil, rat), http.StatusUnauthorized, "invalid_token")
		if a.auditCount(models.EventClientRegistrationDelete) != 1 {
			t.Fatal("deletion not audited")
		}
	})

	t.Run("bad initial access tokens are refused and store nothing", func(t *testing.T) {
		a := app.in(t)
		md := map[string]any{"redirect_uris": []string{redirect}}
		n := a.clientCount()
		wantRefused(t, a.register(md, ""), http.StatusUnauthorized, "invalid_token")
		wantRefused(t, a.register(md, "lkr_not-a-token"), http.StatusUnauthorized, "invalid_token")
		wantRefused(t, a.register(md, rat), http.StatusUnauthorized, "invalid_token")
		other, ot, err := app.db.CreateRegistrationToken(ctx, "revoked", "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := app.db.RevokeRegistrationToken(ctx, ot.ID); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, a.register(md, other), http.StatusUnauthorized, "invalid_token")
		api, _, err := app.db.CreateAPIToken(ctx, "api", "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		wantRefused(t, a.register(md, api), http.StatusUnauthorized, "invalid_token")
		if a.clientCount() != n {
			t.Fatal("a refused registration stored a client")
		}
		if a.auditCount(models.EventClientRegistrationFailed) < 5 {
			t.Fatal("refusals not audited")
		}
	})

	t.Run("bad metadata is refused with RFC 7591's error and stores nothing", func(t *testing.T) {
		a := app.in(t)
		priv := newClientKey(t, "p")
		privJWKS, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.priv, KeyID: "p", Algorithm: "ES256", Use: "sig"}}})
		if err != nil || !strings.Contains(string(privJWKS), `"d":`) {
			t.Fatalf("private JWKS %s %v", privJWKS, err)
		}
		many := make([]string, 11)
		for i := range many {
			many[i] = redirect + "/" + string(rune('a'+i))
		}
		cases := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"no redirect URI", map[string]any{"client_name": "x"}, 400, "invalid_redirect_uri"},
			{"http on a public host", map[string]any{"redirect_uris": []string{"http://example.com/cb"}}, 400, "invalid_redirect_uri"},
			{"fragment", map[string]any{"redirect_uris": []string{"https://example.com/cb#x"}}, 400, "invalid_redirect_uri"},
			{"relative", map[string]any{"redirect_uris": []string{"/cb"}}, 400, "invalid_redirect_uri"},
			{"javascript scheme", map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}, 400, "invalid_redirect_uri"},
			{"custom scheme without a dot", map[string]any{"redirect_uris": []string{"myapp:/cb"}}, 400, "invalid_redirect_uri"},
			{"too many redirect URIs", map[string]any{"redirect_uris": many}, 400, "invalid_redirect_uri"},
			{"oversize redirect URI", map[string]any{"redirect_uris": []string{"https://example.com/" + strings.Repeat("a", 1100)}}, 400, "invalid_redirect_uri"},
			{"bad post-logout URI", map[string]any{"redirect_uris": []string{redirect}, "post_logout_redirect_uris": []string{"http://example.com/bye"}}, 400, "invalid_client_metadata"},
			{"client_secret_basic", map[string]any{"redirect_uris": []string{redirect}, authMethodKey: "client_secret_basic"}, 400, "invalid_client_metadata"},
			{"jwks_uri", map[string]any{"redirect_uris": []string{redirect}, authMethodKey: "private_key_jwt", "jwks_uri": "https://example.com/jwks"}, 400, "invalid_client_metadata"},
			{"private_key_jwt without jwks", map[string]any{"redirect_uris": []string{redirect}, authMethodKey: "private_key_jwt"}, 400, "invalid_client_metadata"},
			{"jwks with a private key", map[string]any{"redirect_uris": []string{redirect}, "jwks": json.RawMessage(privJWKS)}, 400, "invalid_client_metadata"},
			{"jwks for a public client", map[string]any{"redirect_uris": []string{redirect}, authMethodKey: "none", "jwks": json.RawMessage(priv.jwks(t))}, 400, "invalid_client_metadata"},
			{"implicit grant", map[string]any{"redirect_uris": []string{redirect}, "grant_types": []string{"implicit"}}, 400, "invalid_client_metadata"},
			{"client credentials grant", map[string]any{"redirect_uris": []string{redirect}, "grant_types": []string{"client_credentials"}}, 400, "invalid_client_metadata"},
			{"token response type", map[string]any{"redirect_uris": []string{redirect}, "response_types": []string{"token"}}, 400, "invalid_client_metadata"},
			{"unknown scope", map[string]any{"redirect_uris": []string{redirect}, "scope": "openid admin"}, 400, "invalid_client_metadata"},
			{"long name", map[string]any{"redirect_uris": []string{redirect}, "client_name": strings.Repeat("n", 101)}, 400, "invalid_client_metadata"},
			{"control character in name", map[string]any{"redirect_uris": []string{redirect}, "client_name": "a\u0007b"}, 400, "invalid_client_metadata"},
			{"bad ID token algorithm", map[string]any{"redirect_uris": []string{redirect}, "id_token_signed_response_alg": "none"}, 400, "invalid_client_metadata"},
			{"client_id chosen by the client", map[string]any{"redirect_uris": []string{redirect}, "client_id": "mine"}, 400, "invalid_client_metadata"},
			{"client_secret", map[string]any{"redirect_uris": []string{redirect}, "client_secret": "s3cret"}, 400, "invalid_client_metadata"},
			{"redirect_uris of the wrong type", `{"redirect_uris": "` + redirect + `"}`, 400, "invalid_client_metadata"},
			{"not JSON", `redirect_uris=x`, 400, "invalid_client_metadata"},
			{"two JSON values", `{"redirect_uris":["` + redirect + `"]} {}`, 400, "invalid_client_metadata"},
			{"oversize body", `{"client_name":"` + strings.Repeat("x", 40<<10) + `"}`, 413, "invalid_request"},
		}
		n := a.clientCount()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				wantRefused(t, app.in(t).regCall(http.MethodPost, oidc.RegistrationEndpoint, tc.body, iat), tc.status, tc.code)
			})
		}
		req, _ := http.NewRequest(http.MethodPost, app.issuer+oidc.RegistrationEndpoint, strings.NewReader(`{"redirect_uris":["`+redirect+`"]}`))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+iat)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
			t.Fatalf("form body: %d %s", resp.StatusCode, body)
		}
		if a.clientCount() != n {
			t.Fatal("a refused registration stored a client")
		}
	})

	t.Run("an expired initial access token is refused", func(t *testing.T) {
		a := app.in(t)
		exp := app.clock.Now().Add(time.Hour)
		short, _, err := app.db.CreateRegistrationToken(ctx, "short", "test", &exp)
		if err != nil {
			t.Fatal(err)
		}
		app.clock.Advance(2 * time.Hour)
		defer app.clock.Advance(-2 * time.Hour)
		wantRefused(t, a.register(map[string]any{"redirect_uris": []string{redirect}}, short), http.StatusUnauthorized, "invalid_token")
	})
}

func TestOpenClientRegistration(t *testing.T) {
	app := newTestApp(t, withRegistration(oidc.RegistrationOpen, "http://127.0.0.1:*/callback", "https://*.apps.example/cb"),
		func(c *Config) { c.OIDC.RegistrationOpenLimit = 2 })
	ctx := context.Background()

	got := app.register(map[string]any{"redirect_uris": []string{"http://127.0.0.1:53001/callback", "https://one.apps.example/cb"}}, "")
	if got.status != http.StatusCreated {
		t.Fatalf("open registration: %d %v", got.status, got.body)
	}
	c, err := app.db.ClientByID(ctx, got.str("client_id"))
	if err != nil || c.RegisteredBy != models.RegisteredOpen || c.Name != "Registered client" {
		t.Fatalf("stored %+v %v", c, err)
	}
	n := app.clientCount()
	for _, u := range []string{
		"https://evil.example/cb",
		"https://one.apps.example/cb/more",
		"https://evil.example?.apps.example/cb",
		"https://a@b.apps.example/cb",
		"https://one.apps.example.evil/cb",
		"http://127.0.0.1:80/callback/../x",
		"http://localhost:5000/callback",
	} {
		wantRefused(t, app.register(map[string]any{"redirect_uris": []string{"https://two.apps.example/cb", u}}, ""), http.StatusBadRequest, "invalid_redirect_uri")
	}
	// An update stays within the patterns.
	wantRefused(t, app.regCall(http.MethodPut, "/oauth/register/"+c.ID, map[string]any{"client_id": c.ID, "redirect_uris": []string{"https://evil.example/cb"}},
		got.str("registration_access_token")), http.StatusBadRequest, "invalid_redirect_uri")
	if app.clientCount() != n {
		t.Fatal("a refused registration stored a client")
	}
	// Open registration holds at most RegistrationOpenLimit clients.
	if got := app.register(map[string]any{"redirect_uris": []string{"https://two.apps.example/cb"}}, ""); got.status != http.StatusCreated {
		t.Fatalf("second open registration: %d %v", got.status, got.body)
	}
	wantRefused(t, app.register(map[string]any{"redirect_uris": []string{"https://three.apps.example/cb"}}, ""), http.StatusServiceUnavailable, "temporarily_unavailable")
	if app.clientCount() != n+1 {
		t.Fatal("open registration went past its limit")
	}
	// With an initial access token, the patterns do not apply.
	iat, _, err := app.db.CreateRegistrationToken(ctx, "partner", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := app.register(map[string]any{"redirect_uris": []string{"https://partner.example/cb"}}, iat); got.status != http.StatusCreated {
		t.Fatalf("registration with a token: %d %v", got.status, got.body)
	}
	// A bad token is not open registration.
	wantRefused(t, app.register(map[string]any{"redirect_uris": []string{"https://three.apps.example/cb"}}, "lkr_wrong"), http.StatusUnauthorized, "invalid_token")
}

func TestClientRegistrationOffByDefault(t *testing.T) {
	app := newTestApp(t)
	resp, err := http.Post(app.issuer+oidc.RegistrationEndpoint, "application/json", strings.NewReader(`{"redirect_uris":["https://a.example/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("registration endpoint while off: %d", resp.StatusCode)
	}
	if d := app.newBrowser().getBody("/.well-known/openid-configuration"); strings.Contains(d, "registration_endpoint") {
		t.Fatal("discovery names a registration endpoint while registration is off")
	}
	for _, bad := range []func(*Config){withRegistration("sometimes"), withRegistration(oidc.RegistrationOpen), withRegistration(oidc.RegistrationOpen, "*://x/cb")} {
		cfg := testConfig(t, "http://localhost:1", time.Now)
		bad(&cfg)
		if probs := cfg.OIDC.Validate(); len(probs) == 0 {
			cfg.OIDC.Defaults()
			if probs = cfg.OIDC.Validate(); len(probs) == 0 {
				t.Fatalf("registration %q %v accepted", cfg.OIDC.Registration, cfg.OIDC.RegistrationRedirectPatterns)
			}
		}
	}
}

// A client that registers itself may ask to be held to PAR (RFC 9126 §6,
// require_pushed_authorization_requests) and to DPoP-bound access tokens
// (RFC 9449 §5.2, dpop_bound_access_tokens): both are enforced, told
// back, and an update cannot let it off them.
func TestClientRegistrationSenderConstraintMetadata(t *testing.T) {
	app := newTestApp(t, withRegistration(oidc.RegistrationToken))
	ctx := context.Background()
	_, setup := app.newUser("sally", false)
	b := app.newBrowser()
	b.register(setup)
	iat, _, err := app.db.CreateRegistrationToken(ctx, "agents", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	const redirect = "http://localhost:9999/callback"

	n := app.clientCount()
	for _, bad := range []string{
		`{"redirect_uris":["` + redirect + `"],"dpop_bound_access_tokens":"yes"}`,
		`{"redirect_uris":["` + redirect + `"],"require_pushed_authorization_requests":1}`,
	} {
		wantRefused(t, app.regCall(http.MethodPost, oidc.RegistrationEndpoint, bad, iat), http.StatusBadRequest, "invalid_client_metadata")
	}
	if app.clientCount() != n {
		t.Fatal("a refused registration stored a client")
	}

	plain := app.register(map[string]any{"redirect_uris": []string{redirect}}, iat)
	if plain.status != http.StatusCreated || plain.body["require_pushed_authorization_requests"] != false || plain.body["dpop_bound_access_tokens"] != false {
		t.Fatalf("register without the metadata: %d %v", plain.status, plain.body)
	}

	ans := app.register(map[string]any{"redirect_uris": []string{redirect}, "client_name": "Careful agent",
		"require_pushed_authorization_requests": true, "dpop_bound_access_tokens": true}, iat)
	if ans.status != http.StatusCreated || ans.body["require_pushed_authorization_requests"] != true || ans.body["dpop_bound_access_tokens"] != true {
		t.Fatalf("register: %d %v", ans.status, ans.body)
	}
	id, rat := ans.str("client_id"), ans.str("registration_access_token")
	if c, err := app.db.ClientByID(ctx, id); err != nil || !c.RequirePAR || !c.RequireDPoP {
		t.Fatalf("stored %+v %v", c, err)
	}

	r := app.newRP(id, "", redirect, "openid")
	t.Run("an unpushed request is refused", func(t *testing.T) {
		f := newFlow()
		a := b.in(t).authorize(app.issuer + "/authorize?" + r.authParams(f).Encode())
		if a.redirect == nil || a.redirect.Query().Get("error") != "invalid_request" || a.redirect.Query().Get("state") != f.state {
			t.Fatalf("unpushed request: %+v", a.redirect)
		}
	})
	t.Run("pushed, the code redeems only with a DPoP proof", func(t *testing.T) {
		f := newFlow()
		pushed := app.in(t).push(r.authParams(f))
		if pushed.status != http.StatusCreated {
			t.Fatalf("PAR: %+v", pushed)
		}
		cb := b.in(t).consent(b.in(t).toConsent(parAuthorizeURL(app.issuer, id, pushed.RequestURI)), "allow")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {redirect},
			"client_id": {id}, "code_verifier": {f.verifier}}
		if tok := app.in(t).send(http.MethodPost, "/oauth/token", form, nil); tok.status != http.StatusBadRequest || tok.str("error") != "invalid_dpop_proof" {
			t.Fatalf("redeem without a proof: %d %v", tok.status, tok.body)
		}
		key := newDPoPKey(t)
		tok := app.in(t).send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": key.proof(http.MethodPost, app.issuer+"/oauth/token", proofOpts{})})
		if tok.status != http.StatusOK || tok.str("token_type") != "DPoP" {
			t.Fatalf("redeem with a proof: %d %v", tok.status, tok.body)
		}
		if cnf, _ := app.in(t).verifyJWT(tok.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != key.jkt {
			t.Fatalf("cnf = %v", cnf)
		}
	})
	t.Run("an update without the metadata keeps them", func(t *testing.T) {
		got := app.in(t).regCall(http.MethodPut, "/oauth/register/"+id, map[string]any{"client_id": id, "redirect_uris": []string{redirect},
			"require_pushed_authorization_requests": false}, rat)
		if got.status != http.StatusOK || got.body["require_pushed_authorization_requests"] != true || got.body["dpop_bound_access_tokens"] != true {
			t.Fatalf("update: %d %v", got.status, got.body)
		}
		if c, err := app.db.ClientByID(ctx, id); err != nil || !c.RequirePAR || !c.RequireDPoP {
			t.Fatalf("after update %+v %v", c, err)
		}
	})
	t.Run("an update may ask for them", func(t *testing.T) {
		pid := plain.str("client_id")
		got := app.in(t).regCall(http.MethodPut, "/oauth/register/"+pid, map[string]any{"client_id": pid, "redirect_uris": []string{redirect},
			"dpop_bound_access_tokens": true}, plain.str("registration_access_token"))
		if got.status != http.StatusOK || got.body["dpop_bound_access_tokens"] != true || got.body["require_pushed_authorization_requests"] != false {
			t.Fatalf("update: %d %v", got.status, got.body)
		}
		if c, err := app.db.ClientByID(ctx, pid); err != nil || c.RequirePAR || !c.RequireDPoP {
			t.Fatalf("after update %+v %v", c, err)
		}
	})
}

// A browser app (an MCP client in a web page, say) registers and manages
// itself cross-origin: the preflights of POST, PUT and DELETE with a JSON
// body and a Bearer token pass, without credentials.
func TestClientRegistrationCORS(t *testing.T) {
	app := newTestApp(t, withRegistration(oidc.RegistrationToken))
	for path, methods := range map[string][]string{oidc.RegistrationEndpoint: {http.MethodPost}, oidc.RegistrationEndpoint + "/some-id": {http.MethodGet, http.MethodPut, http.MethodDelete}} {
		for _, m := range methods {
			req, _ := http.NewRequest(http.MethodOptions, app.issuer+path, nil)
			req.Header.Set("Origin", "https://agent.example")
			req.Header.Set("Access-Control-Request-Method", m)
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.Header.Get("Access-Control-Allow-Origin") == "" || resp.Header.Get("Access-Control-Allow-Credentials") == "true" {
				t.Errorf("preflight of %s %s: %d %v", m, path, resp.StatusCode, resp.Header)
			}
		}
	}
}
