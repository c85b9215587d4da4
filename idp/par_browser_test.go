package idp

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// In Chromium with a virtual authenticator: the admin registers an
// application that requires PAR with the console's checkbox; its
// unpushed request goes back with invalid_request and iss; a pushed one
// signs in and its code redeems (coreos/go-oidc checks the ID token).
func TestBrowserPushedAuthorizationRequest(t *testing.T) {
	exe := findChromium(t)
	app := newAdminApp(t)
	_, adminLink := app.newUser("root", true)
	cb := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("callback"))
	}))
	redirect := cb + "/callback"

	admin := newChrome(t, exe, true)
	admin.setUpPasskey(adminLink, "Admin laptop")
	admin.do("open the console", chromedp.Navigate(app.adminURL+"/admin"))
	admin.passkeySignInUntil(app.issuer, func(s pageState) bool {
		u, ok := sameOrigin(s.Href, app.adminURL)
		return ok && u.Path == "/admin" && strings.Contains(s.Text, "Sign-ins per day")
	})
	admin.do("register an application that requires PAR",
		chromedp.Navigate(app.adminURL+"/admin/clients/new"),
		chromedp.WaitVisible(chromedp.ID("client-name")),
		chromedp.SendKeys(chromedp.ID("client-name"), "Bank"),
		chromedp.SendKeys(chromedp.ID("redirect-uris"), redirect),
		chromedp.Click(chromedp.ID("skip-consent")),
		chromedp.Click(chromedp.ID("require-par")),
		chromedp.Click(chromedp.ID("save-client")),
		chromedp.WaitVisible(chromedp.ID("client-secret")),
	)
	secret := admin.value("client-secret")
	clientID, err := chromedp.Run(admin.ctx, chromedp.Text(chromedp.ID("client-id")))
	if err != nil || secret == "" {
		admin.fatalf("client id %q secret %q: %v", clientID, secret, err)
	}
	if c := clientNamed(t, app.db, "Bank"); !c.RequirePAR || c.ID != clientID {
		t.Fatalf("stored client %+v", c)
	}
	r := app.newRP(clientID, secret, redirect, "openid", "email")

	// The browser ends at the callback listener; its address is the answer.
	landAt := func(what, u string) *url.URL {
		t.Helper()
		admin.do(what, chromedp.Navigate(u))
		var got *url.URL
		admin.passkeySignInUntil(app.issuer, func(s pageState) bool {
			u, ok := sameOrigin(s.Href, cb)
			if ok && u.Path == "/callback" {
				got = u
			}
			return got != nil
		})
		return got
	}
	f := newFlow()
	refused := landAt("an unpushed request", app.issuer+"/authorize?"+r.authParams(f).Encode())
	if q := refused.Query(); q.Get("error") != "invalid_request" || q.Get("state") != f.state || q.Get("iss") != app.issuer || q.Get("code") != "" {
		t.Fatalf("unpushed request answered %s", refused)
	}
	ans := app.push(r.authParams(f), clientID, secret)
	if ans.status != http.StatusCreated {
		t.Fatalf("PAR: %+v", ans)
	}
	done := landAt("the pushed request", parAuthorizeURL(app.issuer, clientID, ans.RequestURI))
	if done.Query().Get("iss") != app.issuer {
		t.Fatalf("callback %s without iss", done)
	}
	r.exchange(done, f)
}
