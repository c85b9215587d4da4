package idp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/models"
)

// cluster is one logical IdP (one issuer URL, like behind a load balancer)
// served by two Server instances, each with its own connection pool to the
// same Postgres schema, key cache and op provider. The balancer sends each
// request to the instance pinned for its path, or else round-robin, and
// records who served what.
type cluster struct {
	*testApp // instance A's server and database handle; issuer and clock shared
	servers  [2]*Server
	dbs      [2]*models.DB

	mu     sync.Mutex
	pinned map[string]int // path → instance
	next   atomic.Int32
	served []string // "A /login/passkey/begin", …
}

func newCluster(t *testing.T, opts ...func(*Config)) *cluster {
	t.Helper()
	dsn := dbtest.PostgresDSN(t)
	ctx := context.Background()
	clk := &clock{}
	c := &cluster{pinned: map[string]int{}}
	// Both instances start (and migrate) at the same time.
	var wg sync.WaitGroup
	for i := range c.dbs {
		db, err := models.Open(ctx, models.Options{DSN: dsn, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("close the database: %v", err)
			}
		})
		c.dbs[i] = db
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.Migrate(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	ln, issuer := listenLoopback(t)
	sealer, err := models.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.servers {
		cfg := testConfig(t, issuer, clk.Now)
		for _, o := range opts {
			o(&cfg)
		}
		srv, err := New(ctx, cfg, c.dbs[i], sealer)
		if err != nil {
			t.Fatal(err)
		}
		c.servers[i] = srv
	}
	hs := serveOn(t, ln, http.HandlerFunc(c.balance))
	c.testApp = &testApp{t: t, srv: c.servers[0], db: c.dbs[0], clock: clk, issuer: issuer, http: hs}
	return c
}

func (c *cluster) balance(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	i, ok := c.pinned[r.URL.Path]
	if !ok {
		i = int(c.next.Add(1)) % 2
	}
	c.served = append(c.served, fmt.Sprintf("%c %s", 'A'+i, r.URL.Path))
	c.mu.Unlock()
	c.servers[i].PublicHandler().ServeHTTP(w, r)
}

// pin sends path to instance i ('A' or 'B') from now on.
func (c *cluster) pin(path string, i byte) {
	c.mu.Lock()
	c.pinned[path] = int(i - 'A')
	c.mu.Unlock()
}

// servedBy returns the instances that served path so far, in order.
func (c *cluster) servedBy(path string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []byte
	for _, s := range c.served {
		if s[2:] == path {
			out = append(out, s[0])
		}
	}
	return string(out)
}

// on runs a request against one instance directly (bypassing the balancer).
func (c *cluster) on(i byte, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	c.servers[i-'A'].PublicHandler().ServeHTTP(rec, req)
	return rec
}

func (c *cluster) userinfoOn(i byte, accessToken string) int {
	req := httptest.NewRequest(http.MethodGet, c.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	return c.on(i, req).Code
}

func (c *cluster) jwksOn(i byte) string {
	return c.on(i, httptest.NewRequest(http.MethodGet, c.issuer+"/keys", nil)).Body.String()
}

// TestTwoInstancesOnePostgres proves that no instance keeps state the other
// needs: every step of the flow may land on either instance.
func TestTwoInstancesOnePostgres(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	user, setup := c.newUser("nina", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := c.newClient(redirect)

	// Registration: setup page and begin on A, finish on B.
	path := strings.TrimPrefix(setup, c.issuer)
	c.pin(path, 'A')
	c.pin(path+"/begin", 'A')
	c.pin(path+"/finish", 'B')
	b := c.newBrowser()
	b.register(setup)

	// Sign-in starts on A (authorize, and the sign-in page it sends the
	// browser to, carrying the challenge stored with the auth request) and
	// finishes on B, where op's callback issues the code; the code is
	// redeemed on A, userinfo on B, the refresh on B.
	for _, p := range []string{"/authorize", "/login", "/login/passkey/begin"} {
		c.pin(p, 'A')
	}
	for _, p := range []string{"/login/passkey/finish", "/authorize/callback", "/userinfo"} {
		c.pin(p, 'B')
	}
	c.pin("/oauth/token", 'A')
	r := c.newRP(client.ID, secret, redirect)
	authURL, f := r.authURL()
	tok, idt := r.exchange(b.signIn(authURL), f)
	if idt.Subject != user.ID {
		t.Fatalf("sub = %s, want %s", idt.Subject, user.ID)
	}
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("userinfo on B: %v", err)
	}
	c.pin("/oauth/token", 'B')
	if _, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Fatalf("refresh on B of a token issued by A: %v", err)
	}
	for p, want := range map[string]string{"/authorize": "A", "/login": "A", "/login/passkey/begin": "", "/login/passkey/finish": "B", "/authorize/callback": "B", "/oauth/token": "AB",
		path + "/begin": "A", path + "/finish": "B", "/userinfo": "B"} {
		if got := c.servedBy(p); got != want {
			t.Errorf("%s served by %q, want %q", p, got, want)
		}
	}
	// The rotated-out refresh token retried on A at once (B's answer was
	// lost) gets a pair: the reuse grace's state is in the database.
	c.pin("/oauth/token", 'A')
	retried, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("retry on A within the reuse grace of B's rotation: %v", err)
	}
	// Presented again after the grace: reuse detected by A although B
	// rotated it, and the family is revoked on both.
	c.clock.Advance(6 * time.Second)
	if _, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("reuse on A: %v, want invalid_grant", err)
	}
	if code := c.userinfoOn('B', retried.AccessToken); code != http.StatusUnauthorized {
		t.Fatalf("userinfo on B after family revoked on A: %d, want 401", code)
	}

	// A revocation on A is honoured by B at once.
	c.pin("/oauth/token", 'B')
	authURL, f = r.authURL()
	tok3, _ := r.exchange(b.signIn(authURL), f) // the session (made on B) is live on A
	if code := c.userinfoOn('B', tok3.AccessToken); code != http.StatusOK {
		t.Fatalf("userinfo on B: %d", code)
	}
	c.pin("/revoke", 'A')
	c.pin("/oauth/introspect", 'B')
	c.revoke(client.ID, secret, tok3.AccessToken)
	if c.introspect(client.ID, secret, tok3.AccessToken) {
		t.Fatal("B says a token revoked on A is active")
	}
	if code := c.userinfoOn('B', retried.AccessToken); code != http.StatusUnauthorized {
		t.Fatalf("userinfo on B after revocation on A: %d, want 401", code)
	}

	// Key rotation by A: A signs with the new keys at once; B verifies
	// tokens signed with them at once (an unknown kid reloads its key
	// cache) and publishes them in its JWKS within the reload interval.
	authURL, f = r.authURL()
	c.pin("/oauth/token", 'A')
	c.pin("/keys", 'A')
	if err := c.servers[0].Provider().RotateKeys(ctx, ""); err != nil {
		t.Fatal(err)
	}
	tok4, _ := r.exchange(b.signIn(authURL), f)
	kid := jwtKID(t, tok4.Extra("id_token").(string))
	if !strings.Contains(c.jwksOn('A'), kid) {
		t.Fatalf("A's JWKS lacks its new key %s", kid)
	}
	if kid == jwtKID(t, tok.Extra("id_token").(string)) {
		t.Fatal("A still signs with the old key after rotating")
	}
	if code := c.userinfoOn('B', tok4.AccessToken); code != http.StatusOK {
		t.Fatalf("userinfo on B with a token signed by A's new key: %d", code)
	}
	c.clock.Advance(31 * time.Second) // keyReloadEvery
	if !strings.Contains(c.jwksOn('B'), kid) {
		t.Fatalf("B's JWKS lacks A's new key %s after the reload interval", kid)
	}

	// A user disabled through A is refused by B at once: refresh,
	// userinfo and a new sign-in.
	if err := c.dbs[0].SetUserDisabled(ctx, user.ID, true); err != nil {
		t.Fatal(err)
	}
	c.pin("/oauth/token", 'B')
	if _, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok4.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh on B for a user disabled on A: %v, want invalid_grant", err)
	}
	if code := c.userinfoOn('B', tok4.AccessToken); code != http.StatusUnauthorized {
		t.Fatalf("userinfo on B for a user disabled on A: %d, want 401", code)
	}
}

// TestBackgroundJobsRunOnceAcrossInstances: both instances try the same
// job round at the same moment; the lease lets exactly one run it, and the
// next round (after the lease expired) runs once again.
func TestBackgroundJobsRunOnceAcrossInstances(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	const period = 5 * time.Minute
	var runs atomic.Int32
	job := func(context.Context) { runs.Add(1) }
	round := func() {
		var wg sync.WaitGroup
		for _, s := range c.servers {
			wg.Add(1)
			go func() { defer wg.Done(); s.runLeased(ctx, "test-job", leaseFor(period), job) }()
		}
		wg.Wait()
	}
	round()
	if n := runs.Load(); n != 1 {
		t.Fatalf("first round ran %d times, want 1", n)
	}
	c.clock.Advance(period / 2)
	round()
	if n := runs.Load(); n != 1 {
		t.Fatalf("a round within the lease ran again (%d runs)", n)
	}
	c.clock.Advance(period / 2)
	round()
	if n := runs.Load(); n != 2 {
		t.Fatalf("the next round ran %d times in all, want 2", n)
	}
	// The skip is visible in metrics.
	var skipped float64
	for i := range c.servers {
		rec := httptest.NewRecorder()
		c.servers[i].InternalHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		v, _ := metricValue(rec.Body.String(), "latchkey_background_job_runs_total", `job="test-job"`, `result="skipped"`)
		skipped += v
	}
	if skipped != 4 {
		t.Errorf("skipped rounds in metrics = %v, want 4", skipped)
	}
}

// jwtKID returns the kid of a compact JWS header.
func jwtKID(t *testing.T, jws string) string {
	t.Helper()
	seg, _, _ := strings.Cut(jws, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil || h.Kid == "" {
		t.Fatalf("token header %s: no kid (%v)", raw, err)
	}
	return h.Kid
}
