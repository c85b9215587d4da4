package idp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// serve drives the full public echo app (routing, middleware, error
// handler) without a network.
func (a *testApp) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	a.srv.PublicHandler().ServeHTTP(rec, req)
	return rec
}

// httpsApp is a test app whose issuer is https behind a trusted TLS proxy.
func httpsApp(t *testing.T, mutate ...func(*Config)) *testApp {
	return newTestApp(t, append([]func(*Config){func(c *Config) {
		c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1)
		c.BehindTLSProxy, c.TrustedProxies = true, []string{"192.0.2.0/24"}
	}}, mutate...)...)
}

func TestSecurityHeaders(t *testing.T) {
	for _, https := range []bool{false, true} {
		t.Run(fmt.Sprintf("https=%v", https), func(t *testing.T) {
			app := newTestApp(t)
			if https {
				app = httpsApp(t)
			}
			_, setup := app.newUser("hank", false)
			setupPath := strings.TrimPrefix(setup, app.issuer)
			for _, path := range []string{"/", "/login?authRequestID=nope", setupPath, "/does-not-exist", "/static/app.css", "/.well-known/openid-configuration"} {
				rec := app.serve(httptest.NewRequest(http.MethodGet, path, nil))
				h := rec.Header()
				csp := h.Get("Content-Security-Policy")
				if csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("%s: CSP %q", path, csp)
				}
				if !strings.Contains(csp, "default-src 'none'") {
					t.Errorf("%s: CSP without default-src 'none': %q", path, csp)
				}
				for name, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
					"Cross-Origin-Opener-Policy": "same-origin", "X-Frame-Options": "DENY"} {
					if got := h.Get(name); got != want {
						t.Errorf("%s: %s = %q, want %q", path, name, got, want)
					}
				}
				hsts := h.Get("Strict-Transport-Security")
				if https != (hsts != "") || (https && !strings.Contains(hsts, "max-age=63072000")) {
					t.Errorf("%s: HSTS %q over https=%v", path, hsts, https)
				}
			}
		})
	}
}

func TestNoStoreOnSecrets(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("ivy", false)
	setupPath := strings.TrimPrefix(setup, app.issuer)
	client, secret := app.newClient("http://localhost:9999/cb")
	form := func(v url.Values) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(client.ID, secret)
		return r
	}
	jsonPost := func(path string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{}`))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	reqs := map[string]*http.Request{
		"setup link page":         httptest.NewRequest(http.MethodGet, setupPath, nil),
		"setup begin (challenge)": jsonPost(setupPath + "/begin"),
		"login begin (challenge)": jsonPost("/login/passkey/begin"),
		"login page":              httptest.NewRequest(http.MethodGet, "/login?authRequestID=x", nil),
		"token endpoint":          form(url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {"http://localhost:9999/cb"}}),
		"authorize callback":      httptest.NewRequest(http.MethodGet, "/authorize/callback?id=nope", nil),
		"authorize":               httptest.NewRequest(http.MethodGet, "/authorize?client_id="+client.ID, nil),
		"userinfo":                httptest.NewRequest(http.MethodGet, "/userinfo", nil),
		"introspection":           form(url.Values{"token": {"x"}}),
		"end session":             httptest.NewRequest(http.MethodGet, "/end_session", nil),
	}
	reqs["introspection"].URL.Path = "/oauth/introspect"
	for name, r := range reqs {
		rec := app.serve(r)
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s (%d): Cache-Control %q, want no-store", name, rec.Code, cc)
		}
	}
	// A real sign-in: every response carrying the code, challenge or
	// tokens is uncacheable (checked on the wire).
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(client.ID, secret, "http://localhost:9999/cb")
	authURL, f := r.authURL()
	cb := b.signIn(authURL)
	resp, err := http.PostForm(app.issuer+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {"http://localhost:9999/cb"}, "client_id": {client.ID}, "client_secret": {secret}, "code_verifier": {f.verifier}})
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "access_token") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token response %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestCookiesOverHTTPS(t *testing.T) {
	for _, https := range []bool{false, true} {
		app := newTestApp(t)
		if https {
			app = httpsApp(t)
		}
		_, setup := app.newUser("jack", false)
		rec := app.serve(httptest.NewRequest(http.MethodGet, strings.TrimPrefix(setup, app.issuer), nil))
		wantCSRF, wantSession := "latchkey_csrf", "latchkey_session"
		if https {
			wantCSRF, wantSession = "__Host-latchkey_csrf", "__Host-latchkey_session"
		}
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != wantCSRF {
			t.Fatalf("https=%v: cookies %v, want %s", https, cookies, wantCSRF)
		}
		if ck := cookies[0]; ck.Secure != https || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("https=%v: CSRF cookie %+v", https, ck)
		}
		// The session cookie is written by the same helper on sign-in.
		rec = httptest.NewRecorder()
		app.srv.sessions.SetCookie(app.srv.public.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec), "v")
		ck := rec.Result().Cookies()[0]
		if ck.Name != wantSession || ck.Secure != https || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" || ck.SameSite != http.SameSiteLaxMode {
			t.Errorf("https=%v: session cookie %+v", https, ck)
		}
	}
}

// limited sends n requests and returns the status codes and the last
// response.
func limited(app *testApp, n int, mk func() *http.Request) ([]int, *httptest.ResponseRecorder) {
	var codes []int
	var rec *httptest.ResponseRecorder
	for i := 0; i < n; i++ {
		rec = app.serve(mk())
		codes = append(codes, rec.Code)
	}
	return codes, rec
}

func countCode(codes []int, code int) int {
	n := 0
	for _, c := range codes {
		if c == code {
			n++
		}
	}
	return n
}

func TestRateLimits(t *testing.T) {
	const n = 5
	small := func(c *Config) {
		c.RateLimits.Limits = map[string]RateLimit{RateLimitLogin: {n, time.Minute}, RateLimitSetup: {n, time.Minute}, RateLimitToken: {n, time.Minute}}
	}
	app := newTestApp(t, small)
	post := func(path, ip, ct, body string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			r.Header.Set("Content-Type", ct)
			r.RemoteAddr = ip + ":40000"
			return r
		}
	}
	groups := []struct {
		name string
		mk   func(ip string) func() *http.Request
	}{
		{"sign-in ceremony", func(ip string) func() *http.Request {
			return post("/login/passkey/begin", ip, "application/json", `{"authRequestID":"x"}`)
		}},
		{"setup link", func(ip string) func() *http.Request {
			return post("/setup/sometoken/begin", ip, "application/json", `{}`)
		}},
		{"token endpoint", func(ip string) func() *http.Request {
			return post("/oauth/token", ip, "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=x&client_id=nope")
		}},
	}
	audited := map[string]int{}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			codes, rec := limited(app, n+1, g.mk("198.51.100.1"))
			if countCode(codes[:n], http.StatusTooManyRequests) != 0 || codes[n] != http.StatusTooManyRequests {
				t.Fatalf("codes %v, want %d answers then 429", codes, n)
			}
			ra, err := strconv.Atoi(rec.Header().Get("Retry-After"))
			if err != nil || ra < 1 || ra > 60 {
				t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
			}
			var body map[string]string
			if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				_ = json.Unmarshal(rec.Body.Bytes(), &body)
				if body["error"] == "" {
					t.Errorf("429 JSON without error: %s", rec.Body)
				}
			}
			// Audited once for this window, not once per refused request.
			limited(app, 2, g.mk("198.51.100.1"))
			evs, _ := app.db.AuditEvents(context.Background(), models.AuditFilter{Type: models.EventRateLimited})
			if len(evs) == 0 || evs[0].IP != "198.51.100.1" || evs[0].Detail["group"] == nil {
				t.Fatalf("rate limit not audited: %+v", evs)
			}
			audited[evs[0].Detail["group"].(string)]++
			// Another client IP has its own budget.
			if codes, _ := limited(app, 1, g.mk("198.51.100.2")); codes[0] == http.StatusTooManyRequests {
				t.Fatal("a different IP was limited")
			}
		})
	}
	if evs, _ := app.db.AuditEvents(context.Background(), models.AuditFilter{Type: models.EventRateLimited}); len(evs) != len(groups) || len(audited) != len(groups) {
		t.Fatalf("%d rate-limit audit events for %d groups (%v)", len(evs), len(groups), audited)
	}
	// The groups are independent: the token budget of 198.51.100.1 is
	// spent, but it has not touched the discovery document.
	if rec := app.serve(httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil)); rec.Code != http.StatusOK {
		t.Fatalf("discovery: %d", rec.Code)
	}
	// The window ends: the client may try again.
	app.clock.Advance(61 * time.Second)
	if codes, _ := limited(app, 1, groups[0].mk("198.51.100.1")); codes[0] == http.StatusTooManyRequests {
		t.Fatal("still limited in the next window")
	}
	// Without trusted proxies X-Forwarded-For is ignored: varying it does
	// not buy a new budget.
	codes, _ := limited(app, n+1, func() *http.Request {
		r := post("/login/passkey/begin", "203.0.113.7", "application/json", `{}`)()
		r.Header.Set("X-Forwarded-For", "10.9.9."+strconv.Itoa(int(time.Now().UnixNano()%250)))
		return r
	})
	if codes[n] != http.StatusTooManyRequests {
		t.Fatalf("X-Forwarded-For from an untrusted peer changed the client IP: %v", codes)
	}
}

func TestRateLimitTrustedProxies(t *testing.T) {
	const n = 3
	app := newTestApp(t, func(c *Config) {
		c.TrustedProxies = []string{"10.0.0.0/8"}
		c.RateLimits.Limits = map[string]RateLimit{RateLimitLogin: {n, time.Minute}}
	})
	req := func(peer, xff string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/login/passkey/begin", strings.NewReader(`{}`))
			r.Header.Set("Content-Type", "application/json")
			r.RemoteAddr = peer + ":5555"
			if xff != "" {
				r.Header.Set("X-Forwarded-For", xff)
			}
			return r
		}
	}
	// Through the trusted proxy, the client in X-Forwarded-For is limited…
	if codes, _ := limited(app, n+1, req("10.1.2.3", "198.51.100.7")); codes[n] != http.StatusTooManyRequests {
		t.Fatalf("client behind trusted proxy not limited: %v", codes)
	}
	// …another client behind the same proxy is not…
	if codes, _ := limited(app, 1, req("10.1.2.3", "198.51.100.8")); codes[0] == http.StatusTooManyRequests {
		t.Fatal("another client behind the proxy was limited")
	}
	// …a spoofed chain is read from the right: the proxy appends the real
	// peer, so a forged left-most entry changes nothing.
	if codes, _ := limited(app, 1, req("10.1.2.3", "198.51.100.99, 198.51.100.7")); codes[0] != http.StatusTooManyRequests {
		t.Fatalf("forged left-most X-Forwarded-For escaped the limit: %v", codes)
	}
	// …and an untrusted peer cannot claim to be someone else: it is keyed
	// on its socket address, so it is not limited by 198.51.100.7's use and
	// is limited by its own.
	codes, _ := limited(app, n+1, req("203.0.113.9", "198.51.100.7"))
	if codes[0] == http.StatusTooManyRequests || codes[n] != http.StatusTooManyRequests {
		t.Fatalf("untrusted peer with X-Forwarded-For: %v", codes)
	}
	// A loopback peer is not trusted just because it is loopback.
	codes, _ = limited(app, n+1, func() *http.Request {
		r := req("127.0.0.1", "")()
		r.Header.Set("X-Forwarded-For", "198.51.100."+strconv.Itoa(int(time.Now().UnixNano()%200)))
		return r
	})
	if codes[n] != http.StatusTooManyRequests {
		t.Fatalf("loopback peer's X-Forwarded-For honoured: %v", codes)
	}
}

func TestRateLimitsDefaultsAndOff(t *testing.T) {
	var cfg Config
	cfg.Defaults()
	if cfg.RateLimits.Disabled || cfg.RateLimits.Limits[RateLimitLogin].Requests == 0 || cfg.RateLimits.Limits[RateLimitToken].Requests == 0 ||
		cfg.RateLimits.Limits[RateLimitSetup].Requests == 0 || cfg.RateLimits.Limits[RateLimitAdminAPI].Requests == 0 {
		t.Fatalf("rate limits not on by default: %+v", cfg.RateLimits)
	}
	if cfg.AuditRetention != 365*24*time.Hour {
		t.Fatalf("audit retention default %s", cfg.AuditRetention)
	}
	app := newTestApp(t, func(c *Config) {
		c.RateLimits = RateLimits{Disabled: true, Limits: map[string]RateLimit{RateLimitLogin: {1, time.Minute}}}
	})
	codes, _ := limited(app, 5, func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/login/passkey/begin", strings.NewReader(`{}`))
		r.Header.Set("Content-Type", "application/json")
		return r
	})
	if countCode(codes, http.StatusTooManyRequests) != 0 {
		t.Fatalf("disabled limits still limit: %v", codes)
	}
	if g, l, err := ParseRateLimit("login=10/30s"); err != nil || g != "login" || l != (RateLimit{10, 30 * time.Second}) {
		t.Fatalf("ParseRateLimit: %s %v %v", g, l, err)
	}
	for _, bad := range []string{"login", "login=10", "login=x/1m", "login=10/x"} {
		if _, _, err := ParseRateLimit(bad); err == nil {
			t.Errorf("ParseRateLimit(%q) accepted", bad)
		}
	}
}

// TestMaintenanceRotatesKeys: the background maintenance job runs the key
// rotation schedule (the next keys appear in JWKS before they sign).
func TestMaintenanceRotatesKeys(t *testing.T) {
	app := newTestApp(t)
	kids := func() int {
		rec := app.serve(httptest.NewRequest(http.MethodGet, "/keys", nil))
		var set struct{ Keys []json.RawMessage }
		if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
			t.Fatal(err)
		}
		return len(set.Keys)
	}
	app.srv.maintain(context.Background())
	if n := kids(); n != 2 {
		t.Fatalf("%d keys before rotation is due", n)
	}
	app.clock.Advance(30*24*time.Hour - 12*time.Hour)
	app.srv.maintain(context.Background())
	if n := kids(); n != 4 {
		t.Fatalf("%d keys in JWKS when the rotation is due, want 4 (current and next)", n)
	}
}

// TestAdminAPIRateLimited: the admin REST API on the internal listener is
// limited per client IP before the token is even checked, so guessing API
// tokens is limited too.
func TestAdminAPIRateLimited(t *testing.T) {
	const n = 3
	app := newTestApp(t, func(c *Config) {
		c.RateLimits.Limits = map[string]RateLimit{RateLimitAdminAPI: {n, time.Minute}}
	})
	raw, _, err := app.db.CreateAPIToken(context.Background(), "ci", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	call := func(ip, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/users", nil)
		r.RemoteAddr = ip + ":1234"
		r.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		app.srv.InternalHandler().ServeHTTP(rec, r)
		return rec
	}
	for i := 0; i < n; i++ {
		if rec := call("10.0.0.5", raw); rec.Code != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := call("10.0.0.5", raw)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("over the limit: %d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	// Guessing tokens from another address is limited as well.
	codes := []int{}
	for i := 0; i < n+1; i++ {
		codes = append(codes, call("10.0.0.6", "guess"+strconv.Itoa(i)).Code)
	}
	if codes[0] != http.StatusUnauthorized || codes[n] != http.StatusTooManyRequests {
		t.Fatalf("token guessing: %v", codes)
	}
}
