package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey-idp/latchkey/models"
)

// Standards corners (issue 19): the behaviour the specifications require
// where clients met something else.

// crossSitePost posts form to u as a browser does when another site's page
// submits a form to the issuer.
func (b *browser) crossSitePost(u string, form url.Values) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.abs(u), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://localhost:9999")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp
}

// OIDC Core §3.1.2.1: the authorization endpoint accepts POST
// (form-encoded) as well as GET.
func TestAuthorizeAcceptsPOST(t *testing.T) {
	app, b, user, r, _ := enrolled(t)
	authURL, f := r.authURL()
	u := mustURL(t, authURL)
	resp := b.crossSitePost(u.Scheme+"://"+u.Host+u.Path, u.Query())
	body := readBody(t, resp)
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || loc.Path != "/login" {
		t.Fatalf("POST /authorize: %d %v\n%s", resp.StatusCode, loc, body)
	}
	cb := b.signIn(app.issuer + loc.RequestURI())
	_, idt := r.exchange(cb, f)
	if idt.Subject != user.ID {
		t.Fatalf("sub = %s", idt.Subject)
	}
}

// OAuth 2.0 Form Post Response Mode §2: error responses are POSTed to the
// client like successful ones.
func TestFormPostErrorResponses(t *testing.T) {
	app, b, _, r, _ := enrolled(t)
	check := func(t *testing.T, resp *http.Response, f flow, wantErr string) {
		t.Helper()
		body := readBody(t, resp) // closes the body
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d (Location %q), want op's form_post page\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "'sha256-") {
			t.Errorf("CSP %q does not let the form submit itself", csp)
		}
		if !strings.Contains(body, `action="http://localhost:9999/callback"`) ||
			!strings.Contains(body, `name="error" value="`+wantErr+`"`) || !strings.Contains(body, `name="state" value="`+f.state+`"`) {
			t.Fatalf("form_post page, want error %s and state:\n%s", wantErr, body)
		}
	}
	t.Run("login_required", func(t *testing.T) {
		authURL, f := r.authURL(oauth2.SetAuthURLParam("response_mode", "form_post"), oauth2.SetAuthURLParam("prompt", "none"))
		loc := app.newBrowser().in(t).expectRedirect(authURL)
		resp := app.newBrowser().in(t).get(loc.String())
		defer func() { _ = resp.Body.Close() }()
		check(t, resp, f, "login_required")
	})
	// The page a browser without scripts shows speaks the request's
	// ui_locales (OIDC Core §3.1.2.1).
	t.Run("login_required in German", func(t *testing.T) {
		authURL, f := r.authURL(oauth2.SetAuthURLParam("response_mode", "form_post"), oauth2.SetAuthURLParam("prompt", "none"),
			oauth2.SetAuthURLParam("ui_locales", "de-CH fr"))
		loc := app.newBrowser().in(t).expectRedirect(authURL)
		resp := app.newBrowser().in(t).get(loc.String())
		defer func() { _ = resp.Body.Close() }()
		body := readBody(t, resp)
		if !strings.Contains(body, `<html lang="de">`) || !strings.Contains(body, "<title>Zurück zur Anwendung</title>") ||
			!strings.Contains(body, `<button type="submit">Weiter</button>`) || !strings.Contains(body, `name="state" value="`+f.state+`"`) {
			t.Fatalf("form_post page, want German:\n%s", body)
		}
	})
	t.Run("access_denied", func(t *testing.T) {
		c, secret := app.in(t).newClient("http://localhost:9999/callback", func(c *models.Client) { c.SkipConsent = false })
		r2 := app.in(t).newRP(c.ID, secret, "http://localhost:9999/callback", "openid")
		authURL, f := r2.authURL(oauth2.SetAuthURLParam("response_mode", "form_post"))
		bt := b.in(t)
		next := bt.toConsent(authURL)
		if next.Path != "/consent" {
			t.Fatalf("went to %s, want consent", next)
		}
		page, _ := bt.page(next.String(), http.StatusOK)
		csrf := hiddenCSRF.FindStringSubmatch(page)[1]
		resp := bt.postForm("/consent", csrf, url.Values{"authRequestID": {next.Query().Get("authRequestID")}, "decision": {"deny"}})
		defer func() { _ = resp.Body.Close() }()
		check(t, resp, f, "access_denied")
	})
}

// RFC 7523 §3 and OIDC Core §9: a client assertion's aud may be the token
// endpoint URL (the URL it is sent to) as well as the issuer; its jti
// stays single use. (Introspection and revocation advertise no
// private_key_jwt.)
func TestClientAssertionAudienceEndpointURL(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	key := newClientKey(t, "rp-key-1")
	client, _ := app.newClient("http://localhost:9999/callback", func(c *models.Client) {
		c.JWKS = key.jwks(t)
		c.AllowedScopes = models.StringList{"openid", "api:read"}
	})
	tokenURL := app.issuer + "/oauth/token"
	cc := clientcredentials.Config{ClientID: client.ID, TokenURL: tokenURL, Scopes: []string{"api:read"}, AuthStyle: oauth2.AuthStyleInParams}
	a := key.assertion(t, client.ID, tokenURL)
	cc.EndpointParams = assertionParams(a)
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("assertion with aud = token endpoint: %v", err)
	}
	if _, err := cc.Token(ctx); !isOAuthError(err, "invalid_client") {
		t.Fatalf("replayed assertion: %v", err)
	}
	// Another endpoint's URL is not this one's audience.
	cc.EndpointParams = assertionParams(key.assertion(t, client.ID, app.issuer+"/revoke"))
	if _, err := cc.Token(ctx); !isOAuthError(err, "invalid_client") {
		t.Fatalf("aud = another endpoint: %v", err)
	}
}

// OIDC Core §5.1: email_verified is a boolean and comes with email, false
// included, in userinfo and the ID token.
func TestEmailVerifiedFalseIsSent(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	u, setup := app.newUser("una", false)
	u.EmailVerified = false
	if err := app.db.Gorm().WithContext(ctx).Model(&models.User{}).Where("id = ?", u.ID).Update("email_verified", false).Error; err != nil {
		t.Fatal(err)
	}
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(client.ID, secret, redirect, "openid", "email")
	authURL, f := r.authURL()
	tok, idt := r.exchange(b.signIn(authURL), f)
	var idc map[string]any
	if err := idt.Claims(&idc); err != nil {
		t.Fatal(err)
	}
	ui, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	var uic map[string]any
	if err := ui.Claims(&uic); err != nil {
		t.Fatal(err)
	}
	for name, cl := range map[string]map[string]any{"userinfo": uic, "ID token": idc} {
		if cl["email"] != nil && cl["email_verified"] != false {
			t.Errorf("%s: email %v with email_verified %#v, want false", name, cl["email"], cl["email_verified"])
		}
	}
	if uic["email"] != "una@example.com" {
		t.Errorf("userinfo email = %v", uic["email"])
	}
}

// RFC 9110 §11.1: the auth scheme is case-insensitive; every /api/v1
// error is JSON {"error", "request_id"}.
func TestAdminAPIBearerCaseAndJSONErrors(t *testing.T) {
	app := newAdminApp(t)
	raw, _, err := app.db.CreateAPIToken(context.Background(), "corners", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status      int
		contentType string
	}
	do := func(method, path, auth, body string) (answer, string) {
		req, _ := http.NewRequest(method, app.adminURL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return answer{resp.StatusCode, resp.Header.Get("Content-Type")}, readBody(t, resp)
	}
	for _, auth := range []string{"bearer " + raw, "BEARER " + raw, "Bearer " + raw} {
		if a, body := do(http.MethodGet, "/api/v1/users", auth, ""); a.status != http.StatusOK {
			t.Errorf("%s…: %d %s", auth[:7], a.status, body)
		}
	}
	for _, tc := range []struct {
		method, path, auth, body string
		status                   int
	}{
		{http.MethodGet, "/api/v1/users", "", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/users", "Basic " + raw, "", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/nothing-here", "Bearer " + raw, "", http.StatusNotFound},
		{http.MethodPut, "/api/v1/users", "Bearer " + raw, "", http.StatusMethodNotAllowed},
		{http.MethodPost, "/api/v1/users", "Bearer " + raw, `{"username":"` + strings.Repeat("x", 2<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{http.MethodPost, "/api/v1/users", "Bearer " + raw, "{", http.StatusBadRequest},
	} {
		a, body := do(tc.method, tc.path, tc.auth, tc.body)
		var e struct {
			Error     string `json:"error"`
			RequestID string `json:"request_id"`
		}
		if a.status != tc.status || !strings.HasPrefix(a.contentType, "application/json") ||
			json.Unmarshal([]byte(body), &e) != nil || e.Error == "" || e.RequestID == "" {
			t.Errorf("%s %s: %d %s %q, want %d JSON {error, request_id}", tc.method, tc.path, a.status, a.contentType, body, tc.status)
		}
	}
}

// RP-Initiated Logout 1.0 §2: the end-session endpoint accepts POST, also
// from another site's form; the confirmation page is the protection.
func TestEndSessionCrossSitePOST(t *testing.T) {
	app, b, _, r, client := enrolled(t)
	authURL, f := r.authURL()
	r.exchange(b.signIn(authURL), f)
	const bye = "http://localhost:9999/callback/bye"
	resp := b.crossSitePost("/end_session", url.Values{"client_id": {client.ID}, "post_logout_redirect_uri": {bye}, "state": {"s1"}})
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cross-site POST /end_session: %d\n%s", resp.StatusCode, body)
	}
	m := hiddenCSRF.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no confirmation form:\n%s", body)
	}
	done := b.postForm("/end_session/confirm", m[1], url.Values{"client_id": {client.ID}, "post_logout_redirect_uri": {bye}, "state": {"s1"}})
	readBody(t, done)
	if loc := done.Header.Get("Location"); done.StatusCode != http.StatusSeeOther || loc != bye+"?state=s1" {
		t.Fatalf("confirm: %d %q", done.StatusCode, loc)
	}
	// Signed out: the next authorize shows the sign-in page again.
	authURL, _ = r.authURL()
	b.signInPage(authURL)
	_ = app
}

// RFC 8628 §3.5: slow_down is for polling faster than the interval; a
// client polling at the interval, measured a little short by timer
// jitter, gets authorization_pending.
func TestDevicePollAtIntervalIsNotSlowDown(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.OIDC.DevicePollInterval = 5 * time.Second })
	tv, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Public = true })
	conf := oauth2.Config{ClientID: tv.ID, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: app.issuer + "/device_authorization", TokenURL: app.issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	da, err := conf.DeviceAuth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if e := app.pollOnce(tv.ID, da.DeviceCode); e != "authorization_pending" {
		t.Fatalf("first poll: %q", e)
	}
	app.clock.Advance(4960 * time.Millisecond)
	if e := app.pollOnce(tv.ID, da.DeviceCode); e != "authorization_pending" {
		t.Fatalf("poll 4.96 s after the last (interval 5 s): %q, want authorization_pending", e)
	}
	app.clock.Advance(time.Second)
	if e := app.pollOnce(tv.ID, da.DeviceCode); e != "slow_down" {
		t.Fatalf("poll 1 s after the last: %q, want slow_down", e)
	}
}
