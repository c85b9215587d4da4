package idp

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLogsCarryNoSecrets runs a full flow with debug logging as JSON and
// checks that every request is logged with its metadata and that no
// token, code, secret or cookie handed out appears in the log.
func TestLogsCarryNoSecrets(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// zitadel op logs through slog.Default.
	prev := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(prev) })
	app := newTestApp(t, func(c *Config) { c.Logger = logger })

	_, setup := app.newUser("kim", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(client.ID, secret, redirect)
	authURL, f := r.authURL()
	cb := b.signIn(authURL)
	tok, _ := r.exchange(cb, f)
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatal(err)
	}
	tok2, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	app.introspect(client.ID, secret, tok2.AccessToken)
	app.revoke(client.ID, secret, tok2.RefreshToken)
	// Failures log too: a replayed code and a reused refresh token.
	_, _ = r.oauth.Exchange(r.ctx, cb.Query().Get("code"), oauth2.VerifierOption(f.verifier))
	_, _ = r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	rawID, _ := tok2.Extra("id_token").(string)
	b.expectRedirect("/end_session?" + url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {redirect + "/bye"}, "client_id": {client.ID}}.Encode())
	app.srv.maintain(context.Background())

	secrets := map[string]string{
		"client secret": secret, "setup token": setup[strings.LastIndex(setup, "/")+1:],
		"authorization code": cb.Query().Get("code"), "state": f.state, "nonce": f.nonce, "PKCE verifier": f.verifier,
		"access token": tok.AccessToken, "refresh token": tok.RefreshToken, "ID token": rawID,
		"rotated access token": tok2.AccessToken, "rotated refresh token": tok2.RefreshToken,
	}
	for _, ck := range b.client.Jar.Cookies(mustURL(t, app.issuer)) {
		secrets["cookie "+ck.Name] = ck.Value
	}
	sessionSeen := false
	for name := range secrets {
		sessionSeen = sessionSeen || strings.Contains(name, app.srv.sessions.CookieName())
	}
	if !sessionSeen {
		// The session ended at logout and its cookie was cleared; capture
		// it from a fresh sign-in instead.
		authURL, _ := r.authURL()
		b.signIn(authURL)
		for _, ck := range b.client.Jar.Cookies(mustURL(t, app.issuer)) {
			secrets["cookie "+ck.Name] = ck.Value
		}
	}
	time.Sleep(50 * time.Millisecond) // let the last request log line land
	out := buf.String()
	for name, v := range secrets {
		if v == "" {
			t.Errorf("%s was not captured", name)
			continue
		}
		if strings.Contains(out, v) {
			t.Errorf("the log contains the %s", name)
		}
		// JWTs: no segment of them either (a logged signature or claims
		// part is just as bad).
		for _, seg := range strings.Split(v, ".") {
			if len(seg) > 20 && strings.Contains(out, seg) {
				t.Errorf("the log contains part of the %s", name)
			}
		}
	}
	// Every request is one JSON line with its metadata.
	requests := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	routes := map[string]bool{}
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if line["msg"] != "request" {
			continue
		}
		requests++
		for _, k := range []string{"request_id", "method", "route", "status", "latency", "client_ip"} {
			if _, ok := line[k]; !ok {
				t.Errorf("request log line without %s: %s", k, sc.Text())
			}
		}
		routes[line["route"].(string)] = true
	}
	for _, want := range []string{"/setup/:token/finish", "/login/passkey/finish", "/oauth/token", "/userinfo", "/revoke", "/end_session"} {
		if !routes[want] {
			t.Errorf("no request log line for %s (routes %v)", want, routes)
		}
	}
	if requests < 15 {
		t.Errorf("%d request lines logged", requests)
	}
	_ = models.EventSignIn
}

// TestAuditRetention: the purge job deletes audit events older than the
// retention setting, keeps the others, and counts what it deleted.
func TestAuditRetention(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.AuditRetention = 30 * 24 * time.Hour })
	ctx := context.Background()
	if err := app.db.Audit(ctx, &models.AuditEvent{Type: models.EventSignIn, Success: true, Detail: models.JSONMap{"n": "old"}}); err != nil {
		t.Fatal(err)
	}
	app.clock.Advance(31 * 24 * time.Hour)
	if err := app.db.Audit(ctx, &models.AuditEvent{Type: models.EventSignIn, Success: true, Detail: models.JSONMap{"n": "new"}}); err != nil {
		t.Fatal(err)
	}
	before := testutil.ToFloat64(app.srv.metrics.purged.WithLabelValues("audit_events"))
	app.srv.purge(ctx)
	evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventSignIn})
	if len(evs) != 1 || evs[0].Detail["n"] != "new" {
		t.Fatalf("after retention: %+v", evs)
	}
	if n := testutil.ToFloat64(app.srv.metrics.purged.WithLabelValues("audit_events")) - before; n != 1 {
		t.Fatalf("latchkey_purged_rows_total{table=\"audit_events\"} grew by %v, want 1", n)
	}
}
