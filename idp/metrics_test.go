package idp

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// scrape GETs path on the internal listener.
func (a *testApp) scrape(path string) (int, string) {
	a.t.Helper()
	rec := httptest.NewRecorder()
	a.srv.InternalHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// metricValue returns the value of the first sample of name whose labels
// include every one of labels (`key="value"`), and whether there was one.
func metricValue(body, name string, labels ...string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		return v, err == nil
	}
	return 0, false
}

func TestMetricsAfterFlow(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("mia", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(setup)

	if code, body := app.scrape("/readyz"); code != http.StatusOK || !strings.Contains(body, `"ready"`) {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	if code, _ := app.scrape("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	_, before := app.scrape("/metrics")

	r := app.newRP(client.ID, secret, redirect)
	authURL, f := r.authURL()
	tok, _ := r.exchange(b.signIn(authURL), f)
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Fatal(err)
	}
	app.clock.Advance(6 * time.Second) // past the refresh reuse grace
	if _, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("reused refresh token: %v", err)
	}

	code, body := app.scrape("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	want := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"latchkey_sign_ins_total", []string{`result="success"`}, 1},
		{"latchkey_tokens_issued_total", []string{`grant="authorization_code"`}, 1},
		{"latchkey_tokens_issued_total", []string{`grant="refresh_token"`}, 1},
		{"latchkey_token_reuse_detected_total", []string{`kind="refresh_token"`}, 1},
		{"latchkey_audit_events_total", []string{`type="sign_in"`, `success="true"`}, 1},
		{"latchkey_http_requests_total", []string{`route="/oauth/token"`, `method="POST"`, `code="200"`}, 2},
		{"latchkey_http_requests_total", []string{`route="/oauth/token"`, `code="400"`}, 1},
		{"latchkey_http_requests_total", []string{`route="/login/passkey/finish"`, `code="200"`}, 1},
		{"latchkey_http_request_duration_seconds_count", []string{`route="/userinfo"`}, 1},
		{"latchkey_http_request_duration_seconds_bucket", []string{`route="/authorize"`, `le="+Inf"`}, 1},
		{"go_sql_open_connections", []string{`db_name="` + backendName(app, "writer") + `"`}, 1},
		{"go_sql_open_connections", []string{`db_name="` + backendName(app, "reader") + `"`}, 1},
		{"go_sql_max_open_connections", []string{`db_name="` + backendName(app, "writer") + `"`}, 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
		{"process_cpu_seconds_total", nil, 0},
	}
	for _, w := range want {
		v, ok := metricValue(body, w.name, w.labels...)
		if !ok || v < w.min {
			t.Errorf("%s%v = %v (present %v), want ≥ %v", w.name, w.labels, v, ok, w.min)
		}
		if old, _ := metricValue(before, w.name, w.labels...); w.min > 0 && strings.HasPrefix(w.name, "latchkey_") && old >= v {
			t.Errorf("%s%v did not move: %v → %v", w.name, w.labels, old, v)
		}
	}
	if v, _ := metricValue(body, "latchkey_http_requests_total", `route="/setup/:token/finish"`); v != 1 {
		t.Errorf("setup finish requests = %v, want 1 (route pattern as label)", v)
	}
	// Raw paths (setup tokens) never become labels.
	if strings.Contains(body, strings.TrimPrefix(setup, app.issuer+"/setup/")) {
		t.Error("a setup token appears in /metrics")
	}
	// /metrics is internal only.
	rec := httptest.NewRecorder()
	app.srv.PublicHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("public /metrics = %d, want 404", rec.Code)
	}
}

// backendName is the db_name label of a pool: Postgres has one, SQLite a
// writer and a reader pool.
func backendName(a *testApp, role string) string {
	if a.db.IsPostgres() {
		return "postgres"
	}
	return "sqlite_" + role
}

// --pprof serves profiles on the internal listener only, never the command
// line (it may hold --master-key); without the flag there is nothing.
func TestPprofOptIn(t *testing.T) {
	get := func(h http.Handler, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	off := newTestApp(t)
	if code := get(off.srv.InternalHandler(), "/debug/pprof/heap"); code != http.StatusNotFound {
		t.Errorf("pprof without --pprof = %d, want 404", code)
	}
	on := newTestApp(t, func(c *Config) { c.Pprof = true })
	for path, want := range map[string]int{
		"/debug/pprof/":          http.StatusOK,
		"/debug/pprof/heap":      http.StatusOK,
		"/debug/pprof/goroutine": http.StatusOK,
		"/debug/pprof/cmdline":   http.StatusNotFound,
	} {
		if code := get(on.srv.InternalHandler(), path); code != want {
			t.Errorf("internal %s = %d, want %d", path, code, want)
		}
	}
	if code := get(on.srv.PublicHandler(), "/debug/pprof/heap"); code != http.StatusNotFound {
		t.Errorf("public pprof = %d, want 404", code)
	}
}
