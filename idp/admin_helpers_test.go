package idp

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// adminApp is the test app with its internal listener (admin console and
// API) served too, on http://localhost:PORT.
type adminApp struct {
	*testApp
	adminURL string
}

func newAdminApp(t *testing.T, mutate ...func(*Config)) *adminApp {
	t.Helper()
	ln, adminURL := listenLoopback(t)
	app := newTestApp(t, append([]func(*Config){func(c *Config) { c.AdminURL = adminURL }}, mutate...)...)
	serveOn(t, ln, app.srv.InternalHandler())
	return &adminApp{testApp: app, adminURL: adminURL}
}

// consoleSignIn signs the browser in to the admin console through the
// built-in OIDC client and returns the final response's location.
func (a *adminApp) consoleSignIn(b *browser) *http.Response {
	b.t.Helper()
	loc := b.expectRedirect(a.adminURL + "/admin")
	if !strings.HasSuffix(loc.Path, "/admin/login") {
		b.t.Fatalf("unauthenticated /admin redirected to %s", loc)
	}
	authz := b.expectRedirect(loc.String())
	if !strings.HasPrefix(authz.String(), a.issuer+"/authorize?") {
		b.t.Fatalf("console login redirected to %s, want the issuer's /authorize", authz)
	}
	cb := b.signIn(authz.String())
	if !strings.HasPrefix(cb.String(), a.adminURL+"/admin/callback?") {
		b.t.Fatalf("sign-in ended at %s, want the console callback", cb)
	}
	return b.get(cb.String())
}

var hiddenCSRF = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

// postForm posts a classic HTML form with its CSRF field.
func (b *browser) postForm(u, csrf string, form url.Values) *http.Response {
	b.t.Helper()
	form.Set("_csrf", csrf)
	resp, err := b.client.PostForm(b.abs(u), form)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp
}

// adminPage GETs a console page and returns body and CSRF token.
func (b *browser) adminPage(u string, want int) (string, string) {
	b.t.Helper()
	body, csrf := b.page(u, want)
	if csrf == "" {
		if m := hiddenCSRF.FindStringSubmatch(body); m != nil {
			csrf = m[1]
		}
	}
	return body, csrf
}
