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
)

// sessionCookie returns the browser's session cookie value at the issuer.
func (b *browser) sessionCookie() string {
	b.t.Helper()
	u, _ := url.Parse(b.app.issuer)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "latchkey_session" {
			return c.Value
		}
	}
	return ""
}

// TestSignInReplacesSessionCookie: every passkey sign-in hands the browser
// a new session identifier, also when the same user signs in again
// (prompt=login), and the old one stops working at once, so a cookie that
// someone planted or copied earlier does not ride on the new sign-in
// (session fixation). The sid the applications hold stays, so back-channel
// logout still reaches them.
func TestSignInReplacesSessionCookie(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	_, setup := app.newUser("sam", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(client.ID, secret, redirect)

	authURL, f := r.authURL()
	_, idt := r.exchange(b.signIn(authURL), f)
	var first idClaims
	_ = idt.Claims(&first)
	old := b.sessionCookie()
	if old == "" {
		t.Fatal("no session cookie after the first sign-in")
	}

	app.clock.Advance(time.Minute)
	authURL, f = r.authURL(oauth2.SetAuthURLParam("prompt", "login"))
	_, idt = r.exchange(b.signIn(authURL), f)
	var second idClaims
	_ = idt.Claims(&second)
	renewed := b.sessionCookie()
	if renewed == "" || renewed == old {
		t.Fatalf("the same user's second sign-in kept the session cookie %q", old)
	}
	if second.SID != first.SID || second.AuthTime <= first.AuthTime {
		t.Errorf("sid %s → %s, auth_time %d → %d: want the same sid with a later auth_time", first.SID, second.SID, first.AuthTime, second.AuthTime)
	}

	// Over HTTP: the old cookie is no session any more, the new one is.
	withCookie := func(v string) string {
		req, _ := http.NewRequest(http.MethodGet, app.issuer+"/account", nil)
		req.Header.Set("Cookie", "latchkey_session="+v)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return readBody(t, resp)
	}
	if body := withCookie(old); strings.Contains(body, "Signed in as") {
		t.Fatal("the session cookie from before the second sign-in still opens the account page")
	}
	if body := withCookie(renewed); !strings.Contains(body, "Signed in as") {
		t.Fatalf("the renewed cookie does not open the account page:\n%s", body)
	}
	if _, err := app.db.ActiveSession(ctx, old); err == nil {
		t.Fatal("the old token still names an active session")
	}
	// And the account page's own passkey confirmation (no auth request)
	// renews it too.
	_, csrf := b.page("/account", http.StatusOK)
	var begin beginResp
	if st := b.postJSON("/account/login/begin", csrf, map[string]string{}, &begin); st != http.StatusOK {
		t.Fatalf("confirm begin: %d %s", st, begin.Error)
	}
	assertion, err := b.auth.Get(begin.Options)
	if err != nil {
		t.Fatal(err)
	}
	var fin struct{ Redirect, Error string }
	if st := b.postJSON("/account/login/finish", csrf, map[string]any{"ceremonyID": begin.CeremonyID, "credential": json.RawMessage(assertion)}, &fin); st != http.StatusOK {
		t.Fatalf("confirm finish: %d %+v", st, fin)
	}
	if again := b.sessionCookie(); again == renewed || again == "" {
		t.Fatal("the account page's sign-in kept the session cookie")
	}
	if body := withCookie(renewed); strings.Contains(body, "Signed in as") {
		t.Fatal("the cookie from before the account confirmation still works")
	}
}
