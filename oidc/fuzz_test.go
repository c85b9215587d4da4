package oidc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// FuzzCheckRedirectURI: a URI is accepted only if it is registered
// verbatim, or for a public client a loopback http URI that differs from a
// registered one in its port alone.
func FuzzCheckRedirectURI(f *testing.F) {
	conf := &models.Client{RedirectURIs: models.StringList{"https://app.example.com/cb", "http://127.0.0.1/callback"}}
	pub := &models.Client{Public: true, RedirectURIs: models.StringList{"http://127.0.0.1/callback", "http://localhost/cb?x=1", "com.example.app:/cb"}}
	for _, s := range []string{"https://app.example.com/cb", "https://app.example.com/cb/", "https://APP.example.com/cb", "https://app.example.com/cb#x",
		"http://127.0.0.1:5000/callback", "http://127.0.0.2:5000/callback", "http://[::1]:80/callback", "http://localhost:1/cb?x=1",
		"http://user@127.0.0.1:5000/callback", "https://127.0.0.1:5000/callback", "com.example.app:/cb", "com.example.app:/cb2", "\x00", "http://127.0.0.1:5000/callback/../callback"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		if checkRedirectURI(conf, uri) && !conf.RedirectURIs.Contains(uri) {
			t.Fatalf("confidential client accepted unregistered %q", uri)
		}
		if !checkRedirectURI(pub, uri) || pub.RedirectURIs.Contains(uri) {
			return
		}
		u, ok := loopbackURL(uri)
		if !ok {
			t.Fatalf("public client accepted non-loopback %q", uri)
		}
		for _, r := range pub.RedirectURIs {
			reg, ok := loopbackURL(r)
			if ok && reg.Hostname() == u.Hostname() && reg.EscapedPath() == u.EscapedPath() && reg.RawQuery == u.RawQuery && u.Fragment == "" && u.User == nil {
				return
			}
		}
		t.Fatalf("public client accepted %q, which matches no registered URI but for the port", uri)
	})
}

// FuzzTokenRequest sends arbitrary token requests (form body, Basic user,
// content type): the client-ID extraction and op must never fail with a
// 5xx, and nothing is ever issued.
func FuzzTokenRequest(f *testing.F) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Now().UTC()}
	db, err := models.Open(ctx, models.Options{DSN: filepath.Join(f.TempDir(), "fuzz.db"), Now: clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	sealer, _ := models.NewSealer(make([]byte, 32))
	p, err := New(ctx, Config{Issuer: testIssuer, Now: clock.Now}, db, sealer)
	if err != nil {
		f.Fatal(err)
	}
	c := &models.Client{Name: "web", RedirectURIs: models.StringList{"https://app.example.com/cb"}}
	secret, err := db.CreateClient(ctx, c)
	if err != nil {
		f.Fatal(err)
	}
	h := p.Handler()
	f.Add("grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb", c.ID, secret, "application/x-www-form-urlencoded")
	f.Add("grant_type=refresh_token&refresh_token=abc&client_id="+url.QueryEscape(c.ID), "", "", "application/x-www-form-urlencoded")
	f.Add("client_id=%ff%fe&grant_type=client_credentials", "%zz", "x", "application/x-www-form-urlencoded; charset=utf-8")
	f.Add(`{"grant_type":"authorization_code"}`, "", "", "application/json")
	f.Add(strings.Repeat("a=b&", 20000), "", "", "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, body, user, pass, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code == http.StatusOK {
			t.Fatalf("token request %q (user %q): %d %s", body, user, rec.Code, rec.Body)
		}
	})
}
