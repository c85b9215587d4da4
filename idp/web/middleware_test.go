package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestCSRF(t *testing.T) {
	e := testEcho(t)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/form", nil))
	var cookie *http.Cookie
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == "latchkey_csrf" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("CSRF cookie %+v", cookie)
	}
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"no token", func() *http.Request { return httptest.NewRequest(http.MethodPost, "/form", nil) }, http.StatusForbidden},
		{"cross-site", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/form", nil)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			r.AddCookie(cookie)
			r.Header.Set("X-CSRF-Token", cookie.Value)
			return r
		}, http.StatusForbidden},
		{"same-origin fetch metadata", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/form", nil)
			r.Header.Set("Sec-Fetch-Site", "same-origin")
			return r
		}, http.StatusOK},
		{"header token", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/form", nil)
			r.AddCookie(cookie)
			r.Header.Set("X-CSRF-Token", cookie.Value)
			return r
		}, http.StatusOK},
		{"form token", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/form", strings.NewReader(url.Values{"_csrf": {cookie.Value}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.AddCookie(cookie)
			return r
		}, http.StatusOK},
		{"wrong token", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/form", nil)
			r.AddCookie(cookie)
			r.Header.Set("X-CSRF-Token", "guess")
			return r
		}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, tc.req())
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
		})
	}
}
