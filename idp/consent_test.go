package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/signin"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// toConsent follows an authorize URL through sign-in (ceremony if needed)
// and returns the next URL: the consent page, or the client callback.
func (b *browser) toConsent(authorizeURL string) *url.URL {
	b.t.Helper()
	a := b.authorize(authorizeURL)
	if a.redirect != nil {
		return a.redirect
	}
	arID, csrf := a.arID, a.csrf
	var begin beginResp
	if st := b.postJSON("/login/passkey/begin", csrf, map[string]string{"authRequestID": arID}, &begin); st != http.StatusOK {
		b.t.Fatalf("begin: %d", st)
	}
	assertion, err := b.auth.Get(begin.Options)
	if err != nil {
		b.t.Fatal(err)
	}
	var fin struct{ Redirect, Error string }
	if st := b.postJSON("/login/passkey/finish", csrf, map[string]any{"authRequestID": arID, "ceremonyID": begin.CeremonyID, "credential": json.RawMessage(assertion)}, &fin); st != http.StatusOK {
		b.t.Fatalf("finish: %d %s", st, fin.Error)
	}
	u, _ := url.Parse(fin.Redirect)
	return u
}

// consent answers the consent page at u and returns where it leads.
func (b *browser) consent(u *url.URL, decision string) *url.URL {
	b.t.Helper()
	body, _ := b.page(u.String(), http.StatusOK)
	csrf := hiddenCSRF.FindStringSubmatch(body)[1]
	resp := b.postForm("/consent", csrf, url.Values{"authRequestID": {u.Query().Get("authRequestID")}, "decision": {decision}})
	readBody(b.t, resp)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		b.t.Fatalf("POST /consent = %d", resp.StatusCode)
	}
	next, _ := resp.Location()
	loc := next.String()
	if next.Query().Get("error") != "" || !strings.HasPrefix(loc, b.app.issuer) {
		return next
	}
	return b.followToClient(next)
}

func TestConsent(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	user, setup := app.newUser("cora", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect, func(c *models.Client) { c.Name = "Photo Printer"; c.SkipConsent = false })
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(client.ID, secret, redirect, "openid", "profile")

	authURL, f := r.authURL()
	next := b.toConsent(authURL)
	if next.Path != "/consent" {
		t.Fatalf("first sign-in went to %s, want the consent page", next)
	}
	body, _ := b.page(next.String(), http.StatusOK)
	for _, want := range []string{"Photo Printer", "Your name, username and language", "preferred_username", "locale", `value="deny"`} {
		if !strings.Contains(body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(body, "consent-unverified") {
		t.Error("the consent page of an admin-made client says it registered itself")
	}

	// Jumping to the op's callback before answering the consent page must
	// end this very request (the client's redirect URI, with f's state) in
	// an error response, not a code.
	t.Run("no code before consent", func(t *testing.T) {
		arID := next.Query().Get("authRequestID")
		cb := b.in(t).followToClient(mustURL(t, app.srv.Provider().CallbackURL(ctx, arID)))
		if cb.Query().Get("code") != "" {
			t.Fatalf("op issued a code without consent: %s", cb)
		}
		if !strings.HasPrefix(cb.String(), redirect) || cb.Query().Get("state") != f.state {
			t.Fatalf("callback %s is not the client's answer to this request (state %q)", cb, f.state)
		}
		if cb.Query().Get("error") == "" {
			t.Fatalf("callback without consent carries neither a code nor an error: %s", cb)
		}
	})

	t.Run("another browser cannot answer it", func(t *testing.T) {
		other := app.newBrowserFor(b)
		other.accountSignIn()
		body, csrf := other.page("/account", http.StatusOK)
		_ = body
		resp := other.postForm("/consent", csrf, url.Values{"authRequestID": {next.Query().Get("authRequestID")}, "decision": {"allow"}})
		readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("foreign consent: %d", resp.StatusCode)
		}
	})

	// The earlier probe of the callback ended that request; start again.
	authURL, f = r.authURL()
	cb := b.consent(b.toConsent(authURL), "allow")
	r.exchange(cb, f)
	if evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: signin.EventConsentGranted}); len(evs) != 1 {
		t.Errorf("consent audited %d times", len(evs))
	}

	t.Run("remembered", func(t *testing.T) {
		r, b := r.in(t), b.in(t)
		authURL, f := r.authURL()
		r.exchange(b.signIn(authURL), f)
	})

	t.Run("prompt=consent always asks", func(t *testing.T) {
		authURL, f := r.authURL(oauth2.SetAuthURLParam("prompt", "consent"))
		next := b.toConsent(authURL)
		if next.Path != "/consent" {
			t.Fatalf("prompt=consent went to %s", next)
		}
		r.exchange(b.consent(next, "allow"), f)
	})

	t.Run("prompt=none with a new scope gives consent_required", func(t *testing.T) {
		r2 := app.newRP(client.ID, secret, redirect, "openid", "email")
		authURL, f := r2.authURL(oauth2.SetAuthURLParam("prompt", "none"))
		cb := b.followToClient(b.expectRedirect(authURL))
		if cb.Query().Get("error") != "consent_required" || cb.Query().Get("state") != f.state {
			t.Fatalf("prompt=none: %s", cb)
		}
	})

	t.Run("deny gives access_denied", func(t *testing.T) {
		r2 := app.newRP(client.ID, secret, redirect, "openid", "email")
		authURL, f := r2.authURL()
		cb := b.consent(b.toConsent(authURL), "deny")
		if cb.Query().Get("error") != "access_denied" || cb.Query().Get("state") != f.state || !strings.HasPrefix(cb.String(), redirect) {
			t.Fatalf("deny: %s", cb)
		}
	})

	t.Run("withdrawn on the account page", func(t *testing.T) {
		body, csrf := b.page("/account", http.StatusOK)
		if !strings.Contains(body, "Applications you allowed") || !strings.Contains(body, "Photo Printer") {
			t.Fatalf("account page does not list the consent:\n%s", body)
		}
		if loc := b.expectRedirectAfter("/account/apps/"+client.ID+"/revoke", csrf, url.Values{}); !strings.HasPrefix(loc, "/account") {
			t.Fatalf("revoke went to %s", loc)
		}
		if ok, _ := app.db.ConsentCovers(ctx, user.ID, client.ID, []string{"openid"}); ok {
			t.Fatal("consent still recorded")
		}
		authURL, _ := r.authURL()
		if next := b.toConsent(authURL); next.Path != "/consent" {
			t.Fatalf("after withdrawal went to %s", next)
		}
	})
}
