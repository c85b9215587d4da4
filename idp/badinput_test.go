package idp

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// rowCounts counts the rows of every table a request could change.
func rowCounts(t *testing.T, app *testApp) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range []string{"users", "credentials", "sessions", "auth_requests", "ceremonies", "grants", "revoked_access_tokens", "setup_tokens", "clients", "signing_keys"} {
		var n int64
		if err := app.db.Gorm().Table(table).Count(&n).Error; err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

func TestBadInputIsRefusedCleanly(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("olga", false)
	setupPath := strings.TrimPrefix(setup, app.issuer)
	client, secret := app.newClient("http://localhost:9999/callback")
	before := rowCounts(t, app)

	post := func(path, ct string, body []byte) *http.Request {
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Sec-Fetch-Site", "same-origin") // passes CSRF like a real page
		return r
	}
	big := bytes.Repeat([]byte("a"), 1<<20+10)
	bigJSON := append(append([]byte(`{"authRequestID":"`), big...), '"', '}')
	mid := append(append([]byte(`{"authRequestID":"`), bytes.Repeat([]byte("a"), 200<<10)...), '"', '}')
	huge := append(append([]byte(`{"ceremonyID":"x","credential":{"id":"`), big...), '"', '}', '}')
	cases := []struct {
		name string
		req  *http.Request
		want int // 0: any 4xx
	}{
		{"malformed JSON (login begin)", post("/login/passkey/begin", "application/json", []byte(`{"authRequestID":`)), http.StatusBadRequest},
		{"malformed JSON (login finish)", post("/login/passkey/finish", "application/json", []byte(`{"ceremonyID":"x","credential":{`)), http.StatusBadRequest},
		{"malformed JSON (setup finish)", post(setupPath+"/finish", "application/json", []byte(`[1,2`)), http.StatusBadRequest},
		{"two JSON objects", post("/login/passkey/begin", "application/json", []byte(`{} {}`)), http.StatusBadRequest},
		{"malformed credential (setup)", post(setupPath+"/finish", "application/json", []byte(`{"ceremonyID":"x","credential":{"id":"x","response":{}}}`)), 0},
		{"deeply nested JSON", post("/login/passkey/begin", "application/json", []byte(strings.Repeat("[", 100000))), http.StatusBadRequest},
		{"oversized JSON (>1 MiB, login)", post("/login/passkey/finish", "application/json", bigJSON), http.StatusRequestEntityTooLarge},
		{"oversized JSON (>1 MiB, setup)", post(setupPath+"/finish", "application/json", huge), http.StatusRequestEntityTooLarge},
		{"oversized form (token)", post("/oauth/token", "application/x-www-form-urlencoded", append([]byte("grant_type=x&a="), big...)), http.StatusRequestEntityTooLarge},
		{"oversized body anywhere (static)", post("/static/app.css", "text/plain", big), http.StatusRequestEntityTooLarge},
		{"over the ceremony limit (200 KiB)", post("/login/passkey/begin", "application/json", mid), 0},
		{"invalid UTF-8 in JSON", post("/login/passkey/begin", "application/json", []byte("{\"authRequestID\":\"\xff\xfe\xfd\"}")), http.StatusBadRequest},
		{"invalid UTF-8 in setup name", post(setupPath+"/finish", "application/json", []byte("{\"ceremonyID\":\"\xff\",\"name\":\"\xc3\x28\",\"credential\":{}}")), 0},
		{"invalid UTF-8 in form fields", func() *http.Request {
			r := post("/oauth/token", "application/x-www-form-urlencoded", []byte("grant_type=authorization_code&code=%ff%fe&redirect_uri=%c3%28&client_id="+url.QueryEscape(client.ID)))
			r.SetBasicAuth(client.ID, secret)
			return r
		}(), 0},
		{"wrong content type (login)", post("/login/passkey/begin", "text/plain", []byte(`{}`)), http.StatusUnsupportedMediaType},
		{"wrong content type (setup)", post(setupPath+"/finish", "application/x-www-form-urlencoded", []byte(`a=b`)), http.StatusUnsupportedMediaType},
		{"form as JSON content type", post("/login/passkey/finish", "application/json", []byte(`a=b&c=d`)), http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := app.serve(tc.req)
			if rec.Code >= 500 || rec.Code < 400 || (tc.want != 0 && rec.Code != tc.want) {
				t.Fatalf("status %d, want %d: %.200s", rec.Code, tc.want, rec.Body)
			}
			if rec.Body.Len() == 0 {
				t.Fatal("error without a message")
			}
		})
	}

	// Unknown or mismatched redirect URIs: a clear error page, never a
	// redirect to them.
	r := app.newRP(client.ID, secret, "http://localhost:9999/callback")
	b := app.newBrowser()
	for _, bad := range []string{"http://localhost:9999/callback/", "http://localhost:9999/Callback", "http://localhost:9998/callback",
		"https://localhost:9999/callback", "http://localhost:9999/callback?x=1", "http://evil.example/callback", "//evil.example/callback",
		"http://localhost:9999/callback#frag", "javascript:alert(1)", "http://localhost:9999/callback%00"} {
		cfg := r.oauth
		cfg.RedirectURL = bad
		resp := b.get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		body := readBody(t, resp)
		if loc := resp.Header.Get("Location"); loc != "" && !strings.HasPrefix(loc, "/") {
			t.Errorf("redirect_uri %q: redirected to %s", bad, loc)
		}
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(strings.ToLower(body), "redirect") {
			t.Errorf("redirect_uri %q: %d %.200s", bad, resp.StatusCode, body)
		}
	}
	// Unknown client: no redirect either.
	q := url.Values{"client_id": {"nope"}, "redirect_uri": {"http://evil.example/cb"}, "response_type": {"code"}, "scope": {"openid"}}
	resp := b.get("/authorize?" + q.Encode())
	readBody(t, resp)
	if resp.StatusCode < 400 || resp.StatusCode >= 500 || resp.Header.Get("Location") != "" {
		t.Errorf("unknown client: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Nothing changed.
	after := rowCounts(t, app)
	for table, n := range before {
		if after[table] != n {
			t.Errorf("%s: %d rows before, %d after", table, n, after[table])
		}
	}
	// The setup link still works: no bad request consumed it.
	b.register(setup)
}

// TestHugeHeadersRefused: the real listener refuses request headers over
// 64 KiB with 431 before any handler runs.
func TestHugeHeadersRefused(t *testing.T) {
	_, pub, in := runServer(t, Config{Issuer: "http://localhost:8080"})
	for _, addr := range []string{pub, in} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", 70<<10))
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("%s: status %d, want 431", addr, resp.StatusCode)
		}
	}
}
