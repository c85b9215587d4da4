package idp

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// RFC 9207: every authorization response carries iss, success and error,
// query, fragment and form_post, and the metadata says so; RFC 8414
// metadata is the discovery document.
func TestAuthorizationResponseIss(t *testing.T) {
	app, b, _, r, _ := enrolled(t)

	oidcDoc := b.getBody("/.well-known/openid-configuration")
	if asDoc := b.getBody("/.well-known/oauth-authorization-server"); asDoc != oidcDoc {
		t.Fatalf("RFC 8414 metadata differs from discovery:\n%s\n%s", asDoc, oidcDoc)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(oidcDoc), &d); err != nil {
		t.Fatal(err)
	}
	if d["authorization_response_iss_parameter_supported"] != true || d["issuer"] != app.issuer {
		t.Fatalf("metadata: iss parameter %v, issuer %v", d["authorization_response_iss_parameter_supported"], d["issuer"])
	}
	// Served through echo as well (a method the fast path leaves alone).
	req, _ := http.NewRequest(http.MethodOptions, app.issuer+"/.well-known/oauth-authorization-server", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("CORS preflight of the metadata: %d %v", resp.StatusCode, resp.Header)
	}

	wantIss := func(t *testing.T, where string, params url.Values) {
		t.Helper()
		if got := params["iss"]; len(got) != 1 || got[0] != app.issuer {
			t.Fatalf("%s: iss = %v, want [%s]", where, got, app.issuer)
		}
	}
	t.Run("success, query", func(t *testing.T) {
		authURL, f := r.authURL()
		cb := b.in(t).signIn(authURL)
		wantIss(t, cb.String(), cb.Query())
		r.in(t).exchange(cb, f)
	})
	t.Run("success, fragment", func(t *testing.T) {
		authURL, _ := r.authURL(oauth2.SetAuthURLParam("response_mode", "fragment"))
		cb := b.in(t).signIn(authURL)
		params, err := url.ParseQuery(cb.Fragment)
		if err != nil || params.Get("code") == "" {
			t.Fatalf("fragment %q: %v", cb.Fragment, err)
		}
		wantIss(t, cb.String(), params)
	})
	t.Run("error from op's validation, query", func(t *testing.T) {
		authURL, f := r.authURL(oauth2.SetAuthURLParam("code_challenge_method", "plain"))
		a := b.in(t).authorize(authURL)
		if a.redirect == nil || a.redirect.Query().Get("error") != "invalid_request" || a.redirect.Query().Get("state") != f.state {
			t.Fatalf("PKCE plain: %+v", a.redirect)
		}
		wantIss(t, a.redirect.String(), a.redirect.Query())
	})
	t.Run("error after the sign-in page, query", func(t *testing.T) {
		fresh := app.newBrowser().in(t)
		authURL, _ := r.authURL(oauth2.SetAuthURLParam("prompt", "none"))
		loc := fresh.followToClient(fresh.expectRedirect(authURL))
		if loc.Query().Get("error") != "login_required" {
			t.Fatalf("prompt=none: %s", loc)
		}
		wantIss(t, loc.String(), loc.Query())
	})
	formParams := func(t *testing.T, body string) url.Values {
		t.Helper()
		if !strings.Contains(body, `<form method="post" action="http://localhost:9999/callback">`) {
			t.Fatalf("not a form_post page:\n%s", body)
		}
		return url.Values{"iss": {regexpFind(t, body, `name="iss" value="([^"]+)"`)}}
	}
	t.Run("success, form_post", func(t *testing.T) {
		b := b.in(t)
		authURL, _ := r.authURL(oauth2.SetAuthURLParam("response_mode", "form_post"))
		next := b.toConsent(authURL)
		if !strings.HasPrefix(next.String(), app.issuer) {
			next = mustURL(t, app.issuer+next.String())
		}
		body := b.getBody(next.String())
		if !strings.Contains(body, `name="code"`) {
			t.Fatalf("no code:\n%s", body)
		}
		wantIss(t, "form_post", formParams(t, body))
	})
	t.Run("error, form_post", func(t *testing.T) {
		fresh := app.newBrowser().in(t)
		authURL, _ := r.authURL(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("response_mode", "form_post"))
		loc := fresh.expectRedirect(authURL)
		body := fresh.getBody(loc.String())
		if !strings.Contains(body, `name="error" value="login_required"`) {
			t.Fatalf("no error:\n%s", body)
		}
		wantIss(t, "form_post error", formParams(t, body))
	})
}
