package idp

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// TestConcurrentSignInsRefreshesRevocations runs many users signing in,
// redeeming codes, refreshing and revoking at the same time against one
// SQLite database: no "database is locked", no lost write, and the file
// passes PRAGMA integrity_check.
func TestConcurrentSignInsRefreshesRevocations(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const users, flows = 20, 3
	var logs syncBuffer
	app := newTestApp(t, func(c *Config) {
		c.RateLimits.Disabled = true // one loopback IP plays 20 users
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)

	browsers := make([]*browser, users)
	for i := range browsers {
		_, setup := app.newUser(fmt.Sprintf("load%02d", i), false)
		browsers[i] = app.newBrowser()
		browsers[i].register(setup)
	}

	var wg sync.WaitGroup
	var failures atomic.Int32
	errs := make(chan string, users*flows*4)
	fail := func(format string, a ...any) {
		failures.Add(1)
		errs <- fmt.Sprintf(format, a...)
	}
	for i := 0; i < users; i++ {
		wg.Add(1)
		go func(b *browser) {
			defer wg.Done()
			for f := 0; f < flows; f++ {
				authURL, fl := r.authURL(oauth2.SetAuthURLParam("prompt", "login"))
				cb := b.signIn(authURL)
				tok, err := r.oauth.Exchange(r.ctx, cb.Query().Get("code"), oauth2.VerifierOption(fl.verifier))
				if err != nil {
					fail("exchange: %v", err)
					return
				}
				tok2, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
				if err != nil {
					fail("refresh: %v", err)
					return
				}
				if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok2)); err != nil {
					fail("userinfo: %v", err)
				}
				req, _ := http.NewRequest(http.MethodPost, app.issuer+"/revoke", strings.NewReader(url.Values{"token": {tok2.RefreshToken}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(url.QueryEscape(client.ID), url.QueryEscape(secret))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					fail("revoke: %v", err)
					return
				}
				_ = resp.Body.Close() // only the status is checked
				if resp.StatusCode != http.StatusOK {
					fail("revoke: status %d", resp.StatusCode)
				}
			}
		}(browsers[i])
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		return
	}
	if out := logs.String(); strings.Contains(out, "database is locked") || strings.Contains(out, "SQLITE_BUSY") || strings.Contains(out, `"status":500`) {
		t.Fatalf("the server logged lock errors or 500s:\n%s", grepLines(out, "locked", "BUSY", `"status":500`))
	}

	// No lost write: every sign-in, token and revocation is there.
	count := func(table, where string, args ...any) int64 {
		var n int64
		q := app.db.Gorm().Table(table)
		if where != "" {
			q = q.Where(where, args...)
		}
		if err := q.Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	want := map[string][2]int64{
		"credentials":          {count("credentials", ""), users},
		"sessions":             {count("sessions", ""), users}, // prompt=login re-authenticates the browser's session
		"sign-in audit events": {count("audit_events", "type = ?", models.EventSignIn), users * flows},
		// Each flow's grant was created, rotated (the userinfo call used
		// its new access token) and revoked: revocation deletes it.
		"grants":                 {count("grants", ""), 0},
		"redeemed auth requests": {count("auth_requests", ""), users * flows}, // kept until expiry for code-replay detection
	}
	for name, got := range want {
		if got[0] != got[1] {
			t.Errorf("%s: %d rows, want %d", name, got[0], got[1])
		}
	}
	if !app.db.IsPostgres() {
		var res string
		if err := app.db.Gorm().Raw("PRAGMA integrity_check").Scan(&res).Error; err != nil || res != "ok" {
			t.Fatalf("integrity_check = %q %v", res, err)
		}
	}
}

func grepLines(s string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
