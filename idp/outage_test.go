package idp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey-idp/latchkey/models"
)

// A storage failure is never reported as the client's fault: with the
// database gone under a signed-in user, every grant answers 500
// server_error or 503 temporarily_unavailable (with Retry-After), never
// invalid_grant or invalid_client, and the pages answer an error page in
// our style (issue 19). The database is "stopped" by closing its pools,
// which fails every later query as an outage does.
func TestStorageOutageIsNotTheClientsFault(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.OIDC.DevicePollInterval = time.Second })
	ctx := context.Background()
	_, setup := app.newUser("olga", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	svc, svcSecret := app.newClient(redirect, func(c *models.Client) { c.AllowedScopes = models.StringList{"api:read"} })
	tv, _ := app.newClient(redirect, func(c *models.Client) { c.Public = true })
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(client.ID, secret, redirect)

	// Tokens with a refresh token, and a code not yet redeemed.
	authURL, f := r.authURL()
	tok, _ := r.exchange(b.signIn(authURL), f)
	authURL, f2 := r.authURL()
	code := b.signIn(authURL).Query().Get("code")
	// An approved device code not yet redeemed.
	dev := oauth2.Config{ClientID: tv.ID, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: app.issuer + "/device_authorization", TokenURL: app.issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	da, err := dev.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.deviceDecide(da.VerificationURIComplete, "allow")
	authURL, _ = r.authURL()
	// A client no request has loaded yet (not in the client cache).
	fresh, freshSecret := app.newClient(redirect)
	freshURL, _ := app.newRP(fresh.ID, freshSecret, redirect).authURL()
	app.clock.Advance(2 * time.Second) // past the client cache and the poll interval

	for _, p := range app.db.Pools() {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}

	grantErr := func(t *testing.T, err error) {
		t.Helper()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Fatalf("error %v, want an OAuth error answer", err)
		}
		st := re.Response.StatusCode
		ok := (st == http.StatusInternalServerError && re.ErrorCode == "server_error") ||
			(st == http.StatusServiceUnavailable && re.ErrorCode == "temporarily_unavailable" && re.Response.Header.Get("Retry-After") != "")
		if !ok {
			t.Fatalf("answer %d %q (Retry-After %q), want 500 server_error or 503 temporarily_unavailable with Retry-After",
				st, re.ErrorCode, re.Response.Header.Get("Retry-After"))
		}
	}
	t.Run("authorization_code", func(t *testing.T) {
		_, err := r.oauth.Exchange(r.ctx, code, oauth2.VerifierOption(f2.verifier))
		grantErr(t, err)
	})
	t.Run("refresh_token", func(t *testing.T) {
		_, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		grantErr(t, err)
	})
	t.Run("device_code", func(t *testing.T) {
		_, err := dev.Exchange(ctx, "", oauth2.SetAuthURLParam("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
			oauth2.SetAuthURLParam("device_code", da.DeviceCode))
		grantErr(t, err)
	})
	t.Run("client_credentials", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: svc.ID, ClientSecret: svcSecret, TokenURL: app.issuer + "/oauth/token", Scopes: []string{"api:read"}}
		_, err := cc.Token(ctx)
		grantErr(t, err)
	})
	t.Run("userinfo", func(t *testing.T) {
		_, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
		if err == nil || !strings.HasPrefix(err.Error(), "50") {
			t.Fatalf("userinfo: %v, want a 5xx answer", err)
		}
	})
	// Introspection and revocation (RFC 7662 §2.2, RFC 7009 §2.2.1): an
	// outage is not "inactive" (which tells a resource server the token
	// was revoked) nor "revoked"; it is an error the caller retries.
	for _, ep := range []string{"/oauth/introspect", "/revoke"} {
		t.Run(ep, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, app.issuer+ep, strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(client.ID), url.QueryEscape(secret))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			ok := (resp.StatusCode == http.StatusInternalServerError && strings.Contains(body, `"server_error"`)) ||
				(resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, `"temporarily_unavailable"`) && resp.Header.Get("Retry-After") != "")
			if !ok {
				t.Fatalf("POST %s during an outage: %d %s, want 500 server_error or 503 temporarily_unavailable", ep, resp.StatusCode, body)
			}
		})
	}
	// A client already in the client cache: op gets as far as storing the
	// request and sends the client server_error (RFC 6749 §4.1.2.1), which
	// does not blame it.
	t.Run("authorize, cached client", func(t *testing.T) {
		resp := b.in(t).get(authURL)
		readBody(t, resp)
		loc, err := resp.Location()
		if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirect) ||
			(loc.Query().Get("error") != "server_error" && loc.Query().Get("error") != "temporarily_unavailable") {
			t.Fatalf("GET /authorize: %d %v, want the client told server_error", resp.StatusCode, loc)
		}
	})
	// The outage page speaks the browser's language.
	t.Run("page in German", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, app.issuer+"/account", nil)
		req.Header.Set("Accept-Language", "de-DE,de;q=0.9")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `<html lang="de">`) ||
			!strings.Contains(body, "Vorübergehend nicht verfügbar") || !strings.Contains(body, "Versuchen Sie es in ein paar Sekunden erneut.") {
			t.Fatalf("GET /account in German during an outage: %d\n%s", resp.StatusCode, body)
		}
	})
	// Every page the signed-in user's browser can reach that reads the
	// database answers our 503 page, never a 4xx or a bare text.
	for _, page := range []string{freshURL, "/login?authRequestID=" + url.QueryEscape(models.NewUUID()), "/account",
		"/setup/" + models.NewToken(), "/end_session?client_id=" + url.QueryEscape(client.ID), "/device?user_code=BCDF-GHJK",
		"/apps/" + url.PathEscape(client.ID) + "/logo", "/email/verify/" + models.NewToken()} {
		t.Run("page "+strings.SplitN(strings.TrimPrefix(page, app.issuer), "?", 2)[0]+" "+page[len(page)-6:], func(t *testing.T) {
			resp := b.in(t).get(page)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
				!strings.Contains(body, `<html lang="en">`) || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("GET %s: %d %s Retry-After %q, want our 503 error page\n%s", page, resp.StatusCode, resp.Header.Get("Content-Type"),
					resp.Header.Get("Retry-After"), body)
			}
		})
	}
}

// TestIntrospectionAnswers: a live token is active for its client, a
// foreign or garbage token inactive, and a caller with a wrong secret or
// an unknown client_id gets 401 invalid_client (RFC 7662 §2.1, RFC 6749
// §5.2), never an answer about the token.
func TestIntrospectionAnswers(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("ida", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	other, otherSecret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(client.ID, secret, redirect)
	authURL, f := r.authURL()
	tok, _ := r.exchange(b.signIn(authURL), f)
	if !app.introspect(client.ID, secret, tok.AccessToken) {
		t.Fatal("a live token is inactive for its client")
	}
	if app.introspect(other.ID, otherSecret, tok.AccessToken) || app.introspect(client.ID, secret, "garbage") {
		t.Fatal("a foreign client or a garbage token got active")
	}
	// (Without a secret op refuses the request itself: 400 invalid_client.)
	for _, c := range []struct{ id, secret string }{{client.ID, "wrong"}, {models.NewUUID(), secret}} {
		req, _ := http.NewRequest(http.MethodPost, app.issuer+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"invalid_client"`) || strings.Contains(body, "active") {
			t.Fatalf("introspection as %q/%q: %d %s", c.id, c.secret, resp.StatusCode, body)
		}
	}
}

// TestConsoleAndAPIDuringOutage: with the database gone under a signed-in
// admin, console pages answer our 503 page with Retry-After, the admin
// API a JSON 503 and SCIM a SCIM error with 503, never a 4xx that sends the admin to sign in again or
// blames the request (issue 19).
func TestConsoleAndAPIDuringOutage(t *testing.T) {
	app := newAdminApp(t)
	admin, _ := adminWithConsole(t, app)
	token, _, err := app.db.CreateAPIToken(context.Background(), "outage", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	scimToken, _, err := app.db.CreateSCIMToken(context.Background(), "entra", "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range app.db.Pools() {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{"/admin", "/admin/users", "/admin/audit"} {
		resp := admin.get(app.adminURL + path)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "<html lang=") {
			t.Errorf("GET %s during an outage: %d %q Retry-After %q, want our 503 page\n%s", path, resp.StatusCode,
				resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), body)
		}
	}
	// SCIM (RFC 7644 §3.12): an error in SCIM's JSON shape with 503, so a
	// directory retries instead of deprovisioning.
	sreq, _ := http.NewRequest(http.MethodGet, app.issuer+"/scim/v2/Users", nil)
	sreq.Header.Set("Authorization", "Bearer "+scimToken)
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	sbody := readBody(t, sresp)
	var se map[string]any
	if sresp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal([]byte(sbody), &se) != nil || se["status"] == nil {
		t.Errorf("GET /scim/v2/Users during an outage: %d %s, want a SCIM 503", sresp.StatusCode, sbody)
	}
	req, _ := http.NewRequest(http.MethodGet, app.adminURL+"/api/v1/users", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	var e map[string]any
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &e) != nil || e["error"] == nil || resp.Header.Get("Retry-After") == "" {
		t.Errorf("GET /api/v1/users during an outage: %d %s (Retry-After %q), want a JSON 503", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}
