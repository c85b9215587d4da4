package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPagesWithoutProvider(t *testing.T) {
	tests := []struct {
		name   string
		method string
		target string
		body   string
		status int
		check  func(t *testing.T, rec *httptest.ResponseRecorder)
	}{
		{
			name: "index signed out", method: "GET", target: "/", status: http.StatusOK,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				body := rec.Body.String()
				for _, want := range []string{"Latchkey demo app", `id="signin"`, `href="/login"`, "Sign in with Latchkey"} {
					if !strings.Contains(body, want) {
						t.Errorf("body lacks %q:\n%s", want, body)
					}
				}
				if strings.Contains(body, "Signed in as") {
					t.Error("signed-out page says Signed in as")
				}
				if strings.Contains(body, "<script") {
					t.Error("page has a script element")
				}
				if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
					t.Errorf("CSP = %q", csp)
				}
			},
		},
		{
			name: "provider error", method: "GET", target: "/callback?error=access_denied&error_description=x", status: http.StatusBadRequest,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				body := rec.Body.String()
				for _, want := range []string{"Sign-in failed", `<code id="error-code">access_denied</code>`, `<p id="error-description">x</p>`} {
					if !strings.Contains(body, want) {
						t.Errorf("body lacks %q:\n%s", want, body)
					}
				}
			},
		},
		{
			name: "provider error is escaped", method: "GET",
			target: "/callback?error=invalid_request&error_description=" + url.QueryEscape("<script>alert(1)</script>"), status: http.StatusBadRequest,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if body := rec.Body.String(); strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
					t.Errorf("description not escaped:\n%s", body)
				}
			},
		},
		{name: "bad state", method: "GET", target: "/callback?state=bad&code=c", status: http.StatusBadRequest, check: bodyHas("invalid_state")},
		{name: "no state", method: "GET", target: "/callback?code=c", status: http.StatusBadRequest, check: bodyHas("invalid_state")},
		// RFC 9207 §2.4: a present iss must be the issuer, for errors too.
		{name: "another issuer", method: "GET", target: "/callback?state=s&code=c&iss=" + url.QueryEscape("https://attacker.example"), status: http.StatusBadRequest, check: bodyHas("invalid_issuer")},
		{name: "another issuer's error", method: "GET", target: "/callback?error=access_denied&iss=" + url.QueryEscape("https://attacker.example"), status: http.StatusBadRequest, check: bodyHas("invalid_issuer")},
		{name: "refresh without session", method: "POST", target: "/refresh", body: "csrf=x", status: http.StatusForbidden, check: bodyHas("invalid_csrf_token")},
		{name: "logout without session", method: "POST", target: "/logout", body: "csrf=x", status: http.StatusForbidden, check: bodyHas("invalid_csrf_token")},
		{name: "logout confirm signed out", method: "GET", target: "/logout", status: http.StatusSeeOther, check: locationIs("/")},
		{
			name: "stylesheet", method: "GET", target: "/static/style.css", status: http.StatusOK,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
					t.Errorf("Content-Type = %q", ct)
				}
			},
		},
		{name: "unknown page", method: "GET", target: "/nope", status: http.StatusNotFound},
		{name: "refresh needs POST", method: "GET", target: "/refresh", status: http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			s := newTestServer(t, testConfig(t, "http://localhost:8080", offlineClient(&calls)))
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			rec := do(t, s, tc.method, tc.target, body)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body:\n%s", rec.Code, tc.status, rec.Body)
			}
			if tc.check != nil {
				tc.check(t, rec)
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("made %d provider requests; this path must not need discovery", n)
			}
		})
	}
}

func bodyHas(want string) func(*testing.T, *httptest.ResponseRecorder) {
	return func(t *testing.T, rec *httptest.ResponseRecorder) {
		t.Helper()
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("body lacks %q:\n%s", want, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type = %q", ct)
		}
	}
}

func locationIs(want string) func(*testing.T, *httptest.ResponseRecorder) {
	return func(t *testing.T, rec *httptest.ResponseRecorder) {
		t.Helper()
		if got := rec.Header().Get("Location"); got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
	}
}

// TestLoginDiscoversLazily covers an issuer that is down at first: /login shows
// a 502 page, then succeeds once discovery works, with state, nonce and PKCE.
func TestLoginDiscoversLazily(t *testing.T) {
	var up atomic.Bool
	idp := fakeDiscovery(t, &up)
	s := newTestServer(t, testConfig(t, idp.URL, idp.Client()))

	rec := do(t, s, "GET", "/login", nil)
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("status with issuer down = %d, want 502; body:\n%s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), "discovery_failed") {
		t.Errorf("error page lacks discovery_failed:\n%s", rec.Body)
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Error("failed login set a cookie")
	}

	up.Store(true)
	rec = do(t, s, "GET", "/login", nil)
	if rec.Code != http.StatusFound {
		t.Fatalf("status = %d, want 302; body:\n%s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, idp.URL+"/authorize"; got != want {
		t.Errorf("redirect to %q, want %q", got, want)
	}
	q := loc.Query()
	wantParams := map[string]string{
		"response_type":         "code",
		"client_id":             "demo-client",
		"redirect_uri":          "http://localhost:9090/callback",
		"scope":                 defaultScopes,
		"code_challenge_method": "S256",
	}
	for k, want := range wantParams {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 20 {
			t.Errorf("%s = %q, want a random value", k, q.Get(k))
		}
	}
	c := sessionCookieFrom(t, rec)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", c)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
	}

	// A wrong state neither signs in nor consumes the pending request.
	if rec := do(t, s, "GET", "/callback?state=forged&code=c", nil, c); rec.Code != http.StatusBadRequest {
		t.Errorf("forged state: status = %d, want 400", rec.Code)
	}
	s.sessMu.Lock()
	pending := s.sessions[c.Value]
	s.sessMu.Unlock()
	if pending == nil || pending.state != q.Get("state") {
		t.Error("forged callback consumed the pending sign-in")
	}
}

// TestCallbackPendingState drives the callback checks that run before the
// token request, with a session prepared directly.
func TestCallbackPendingState(t *testing.T) {
	var clock fixedClock
	clock.Advance(time.Duration(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()))
	var calls atomic.Int32
	cfg := testConfig(t, "http://localhost:8080", offlineClient(&calls))
	cfg.Now = clock.Now
	s := newTestServer(t, cfg)

	start := func() *http.Cookie {
		rec := httptest.NewRecorder()
		s.newSession(rec, httptest.NewRequest(http.MethodGet, "/login", nil), func(sess *session) {
			sess.state, sess.nonce, sess.verifier = "good-state", "n", "v"
			sess.loginStarted = clock.Now()
		})
		return sessionCookieFrom(t, rec)
	}

	t.Run("missing code consumes state", func(t *testing.T) {
		c := start()
		rec := do(t, s, "GET", "/callback?state=good-state", nil, c)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid_request") {
			t.Fatalf("status = %d, body:\n%s", rec.Code, rec.Body)
		}
		rec = do(t, s, "GET", "/callback?state=good-state&code=c", nil, c)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid_state") {
			t.Fatalf("replayed state: status = %d, body:\n%s", rec.Code, rec.Body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		c := start()
		clock.Advance(loginTTL + time.Second)
		rec := do(t, s, "GET", "/callback?state=good-state&code=c", nil, c)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "expired") {
			t.Fatalf("status = %d, body:\n%s", rec.Code, rec.Body)
		}
	})
	t.Run("provider down at exchange", func(t *testing.T) {
		c := start()
		rec := do(t, s, "GET", "/callback?state=good-state&code=c", nil, c)
		if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "discovery_failed") {
			t.Fatalf("status = %d, body:\n%s", rec.Code, rec.Body)
		}
	})
}

func TestRefreshAndLogoutCSRF(t *testing.T) {
	var calls atomic.Int32
	s := newTestServer(t, testConfig(t, "http://localhost:8080", offlineClient(&calls)))
	rec := httptest.NewRecorder()
	var csrf string
	s.newSession(rec, httptest.NewRequest(http.MethodGet, "/", nil), func(sess *session) { csrf = sess.csrf })
	c := sessionCookieFrom(t, rec)

	for _, path := range []string{"/refresh", "/logout"} {
		if rec := do(t, s, "POST", path, strings.NewReader("csrf=wrong"), c); rec.Code != http.StatusForbidden {
			t.Errorf("POST %s with wrong token: status = %d, want 403", path, rec.Code)
		}
	}
	// Right token but not signed in: refresh has nothing to refresh.
	rec = do(t, s, "POST", "/refresh", strings.NewReader("csrf="+csrf), c)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "no_refresh_token") {
		t.Errorf("refresh signed out: status = %d, body:\n%s", rec.Code, rec.Body)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("made %d provider requests", n)
	}
}

func TestNewServerValidates(t *testing.T) {
	cfg := testConfig(t, "not a url", nil)
	cfg.ClientID = ""
	cfg.RedirectURL = "http://localhost:9090/login"
	cfg.Scopes = []string{"profile"}
	_, err := newServer(cfg)
	if err == nil {
		t.Fatal("newServer accepted a bad config")
	}
	for _, want := range []string{"--client-id", "--issuer", "--redirect-url", "openid"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
