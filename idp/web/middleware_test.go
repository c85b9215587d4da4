package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
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

// TestProbesAreLoggedOnlyWhenTheyFail: orchestrators call the health and
// readiness probes every few seconds; a passing probe writes no log line,
// a failing one does, and every other route is logged as before.
func TestProbesAreLoggedOnlyWhenTheyFail(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	e := echo.New()
	e.Use(RequestLogger(log, "/healthz", "/readyz"))
	ready := true
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/readyz", func(c echo.Context) error {
		if ready {
			return c.String(http.StatusOK, "ready")
		}
		return c.String(http.StatusServiceUnavailable, "database unreachable")
	})
	e.GET("/metrics", func(c echo.Context) error { return c.String(http.StatusOK, "") })
	get := func(path string) {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	}
	routes := func() []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var v struct {
				Route  string
				Status int
			}
			if line != "" && json.Unmarshal([]byte(line), &v) == nil {
				out = append(out, fmt.Sprintf("%s %d", v.Route, v.Status))
			}
		}
		buf.Reset()
		return out
	}
	get("/healthz")
	get("/readyz")
	if got := routes(); len(got) != 0 {
		t.Fatalf("passing probes logged: %q", got)
	}
	ready = false
	get("/readyz")
	get("/metrics")
	if got, want := strings.Join(routes(), ","), "/readyz 503,/metrics 200"; got != want {
		t.Fatalf("logged %q, want %q", got, want)
	}
}
