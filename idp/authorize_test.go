package idp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/web"
	"golang.org/x/oauth2"
)

// /authorize stores the request and sends the browser to op's login URL,
// the sign-in page of that request, which carries the page's headers;
// every other answer is op's.
func TestAuthorizeRedirectsToSignInPage(t *testing.T) {
	app, b, user, r, client := enrolled(t)
	ctx := context.Background()

	authURL, f := r.authURL()
	resp := b.get(authURL)
	readBody(t, resp)
	loc, err := resp.Location()
	if err != nil || resp.StatusCode != http.StatusFound || loc.Path != "/login" || !strings.HasPrefix(loc.String(), app.issuer) {
		t.Fatalf("authorize: %d (Location %v), want op's redirect to the sign-in page", resp.StatusCode, loc)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("authorize: Cache-Control = %q", got)
	}
	arID := loc.Query().Get("authRequestID")
	resp = b.get(loc.String())
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, body)
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": web.ContentSecurityPolicy, // the page's policy, not form_post's
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	csrfCookie := false
	for _, c := range resp.Cookies() {
		csrfCookie = csrfCookie || strings.HasSuffix(c.Name, "latchkey_csrf")
	}
	if !csrfCookie {
		t.Error("the sign-in page set no CSRF cookie")
	}
	m := authRequestAttr.FindStringSubmatch(body)
	if m == nil || m[1] != arID || !strings.Contains(body, "Sign in with a passkey") {
		t.Fatalf("not the sign-in page of %s:\n%s", arID, body)
	}
	ar, err := app.db.AuthRequestByID(ctx, m[1])
	if err != nil || ar.Done || ar.ClientID != client.ID || ar.State != f.state || ar.LoginChallenge == nil {
		t.Fatalf("page's request %q: %+v, %v", m[1], ar, err)
	}

	t.Run("op's refusals are unchanged", func(t *testing.T) {
		bad := strings.Replace(authURL, url.QueryEscape("http://localhost:9999/callback"), url.QueryEscape("http://evil.example/cb"), 1)
		resp := b.get(bad)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || authRequestAttr.MatchString(body) || resp.Header.Get("Location") != "" {
			t.Fatalf("unregistered redirect URI: %d, Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != web.FormPostPolicy {
			t.Errorf("op's answer has CSP %q, want op's endpoints' policy", got)
		}
	})

	t.Run("prompt=none without a session goes back at once", func(t *testing.T) {
		authURL, f := r.authURL(oauth2.SetAuthURLParam("prompt", "none"))
		loc := b.followToClient(b.expectRedirect(authURL))
		if !strings.HasPrefix(loc.String(), "http://localhost:9999/callback?") || loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != f.state {
			t.Fatalf("prompt=none: %s, want login_required at the client", loc)
		}
	})

	t.Run("a live session goes back at once with a code", func(t *testing.T) {
		r.exchange(b.signIn(authURL), f)
		authURL, f := r.authURL()
		loc := b.followToClient(b.expectRedirect(authURL)) // /login, op's callback, the client
		if !strings.HasPrefix(loc.String(), "http://localhost:9999/callback?") || loc.Query().Get("code") == "" {
			t.Fatalf("with a session: %s, want the client with a code", loc)
		}
		if _, idt := r.exchange(loc, f); idt.Subject != user.ID {
			t.Fatalf("subject %s", idt.Subject)
		}
	})
}
