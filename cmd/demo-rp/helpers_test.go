package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// roundTripFunc lets a test stand in for the network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// offlineClient fails every request and counts them, proving a path never
// needed the provider.
func offlineClient(calls *atomic.Int32) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errors.New("provider is offline in this test")
	})}
}

func testConfig(t *testing.T, issuer string, client *http.Client) config {
	t.Helper()
	return config{
		Issuer:      issuer,
		ClientID:    "demo-client",
		Listen:      "localhost:9090",
		RedirectURL: "http://localhost:9090/callback",
		Scopes:      strings.Fields(defaultScopes),
		HTTPClient:  client,
		Logger:      slog.New(slog.NewTextHandler(tWriter{t}, nil)),
	}
}

func newTestServer(t *testing.T, cfg config) *server {
	t.Helper()
	s, err := newServer(cfg)
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	return s
}

// tWriter sends server logs to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func do(t *testing.T, h http.Handler, method, target string, body io.Reader, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// fakeDiscovery serves only a discovery document, answering 503 until up is set.
func fakeDiscovery(t *testing.T, up *atomic.Bool) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" || !up.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                 srv.URL,
			"authorization_endpoint": srv.URL + "/authorize",
			"token_endpoint":         srv.URL + "/oauth/token",
			"userinfo_endpoint":      srv.URL + "/userinfo",
			"jwks_uri":               srv.URL + "/keys",
			"end_session_endpoint":   srv.URL + "/end_session",
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sessionCookieFrom(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in response; headers %v", sessionCookie, rec.Header())
	return nil
}

// fixedClock is a settable fake clock.
type fixedClock struct{ now atomic.Int64 }

func (c *fixedClock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *fixedClock) Advance(d time.Duration) { c.now.Add(int64(d)) }
