package idp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// rp is an independent relying party (coreos/go-oidc + x/oauth2).
type rp struct {
	t        *testing.T
	provider *gooidc.Provider
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	ctx      context.Context
}

func (a *testApp) newRP(clientID, secret, redirectURI string, scopes ...string) *rp {
	a.t.Helper()
	ctx := gooidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})
	p, err := gooidc.NewProvider(ctx, a.issuer)
	if err != nil {
		a.t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{gooidc.ScopeOpenID, "profile", "email", "groups", gooidc.ScopeOfflineAccess}
	}
	return &rp{t: a.t, provider: p, ctx: ctx,
		oauth:    oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirectURI, Endpoint: p.Endpoint(), Scopes: scopes},
		verifier: p.Verifier(&gooidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{"RS256", "ES256"}})}
}

// in returns r bound to a subtest, so its failures are reported by (and
// stop) that subtest rather than its parent.
func (r *rp) in(t *testing.T) *rp {
	nr := *r
	nr.t = t
	return &nr
}

// flow is one authorization request as the RP sees it.
type flow struct {
	state, nonce, verifier string
}

func (r *rp) authURL(extra ...oauth2.AuthCodeOption) (string, flow) {
	f := flow{state: models.NewToken(), nonce: models.NewToken(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	return r.oauth.AuthCodeURL(f.state, opts...), f
}

// exchange checks the callback and redeems the code, verifying the ID token.
func (r *rp) exchange(cb *url.URL, f flow) (*oauth2.Token, *gooidc.IDToken) {
	r.t.Helper()
	if got := cb.Query().Get("state"); got != f.state {
		r.t.Fatalf("state = %q, want %q (callback %s)", got, f.state, cb)
	}
	code := cb.Query().Get("code")
	if code == "" {
		r.t.Fatalf("no code in callback %s", cb)
	}
	tok, err := r.oauth.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		r.t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != f.nonce {
		r.t.Fatalf("nonce = %q, want %q", idt.Nonce, f.nonce)
	}
	return tok, idt
}

type idClaims struct {
	Sub               string   `json:"sub"`
	AMR               []string `json:"amr"`
	AuthTime          int64    `json:"auth_time"`
	SID               string   `json:"sid"`
	Email             string   `json:"email"`
	PreferredUsername string   `json:"preferred_username"`
	Groups            []string `json:"groups"`
}

func TestEndToEndPasskeyToTokens(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	user, setup := app.newUser("alice", false)
	if err := app.db.SetUserGroups(ctx, user.ID, []string{"staff"}); err != nil {
		t.Fatal(err)
	}
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(setup)

	// The setup link works once.
	b.page(strings.TrimPrefix(setup, app.issuer), http.StatusNotFound)

	r := app.newRP(client.ID, secret, redirect)
	start := time.Now().Add(-time.Second)
	authURL, f := r.authURL()
	cb := b.signIn(authURL)
	tok, idt := r.exchange(cb, f)

	if idt.Issuer != app.issuer || idt.Subject != user.ID || !slices.Contains(idt.Audience, client.ID) {
		t.Fatalf("ID token iss/sub/aud = %s %s %v", idt.Issuer, idt.Subject, idt.Audience)
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cl.AMR, "user") || !slices.Contains(cl.AMR, "hwk") && !slices.Contains(cl.AMR, "swk") {
		t.Errorf("amr = %v, want hwk|swk and user", cl.AMR)
	}
	if at := time.Unix(cl.AuthTime, 0); at.Before(start.Truncate(time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("auth_time = %v, want about now", at)
	}
	if cl.SID == "" {
		t.Error("sid claim missing")
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token despite offline_access")
	}

	// Userinfo with the access token.
	ui, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var uic idClaims
	_ = ui.Claims(&uic)
	if ui.Subject != user.ID || ui.Email != "alice@example.com" || uic.PreferredUsername != "alice" || !slices.Contains(uic.Groups, "staff") {
		t.Errorf("userinfo = %+v %+v", ui, uic)
	}

	// Refresh rotates; the old refresh token is then refused and its whole
	// family revoked.
	tok2, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh token not rotated")
	}
	// Past the reuse grace (a retry of a lost response, refreshgrace_test.go).
	app.clock.Advance(6 * time.Second)
	if _, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("reused refresh token: %v, want invalid_grant", err)
	}
	if _, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("family member after reuse: %v, want invalid_grant", err)
	}
	if evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventRefreshReuse}); len(evs) != 1 {
		t.Errorf("refresh reuse audited %d times, want 1", len(evs))
	}
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok2)); err == nil {
		t.Error("userinfo accepted an access token of a revoked family")
	}

	// A second authorize in the same browser signs in without a ceremony.
	authURL, f = r.authURL()
	cb = b.signIn(authURL)
	tok3, idt3 := r.exchange(cb, f)
	var cl3 idClaims
	_ = idt3.Claims(&cl3)
	if cl3.SID != cl.SID || cl3.AuthTime != cl.AuthTime {
		t.Errorf("session reuse: sid %s→%s auth_time %d→%d", cl.SID, cl3.SID, cl.AuthTime, cl3.AuthTime)
	}

	// Revocation, then introspection says inactive.
	if active := app.introspect(client.ID, secret, tok3.AccessToken); !active {
		t.Fatal("fresh access token inactive")
	}
	app.revoke(client.ID, secret, tok3.AccessToken)
	if active := app.introspect(client.ID, secret, tok3.AccessToken); active {
		t.Fatal("revoked access token still active")
	}

	// RP-initiated logout ends the session and honours the registered
	// post_logout_redirect_uri.
	rawID, _ := tok3.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {redirect + "/bye"}, "state": {"s1"}, "client_id": {client.ID}}
	loc := b.expectRedirect("/end_session?" + q.Encode())
	if loc.String() != redirect+"/bye?state=s1" {
		t.Fatalf("logout redirect = %s", loc)
	}
	sess, err := app.db.SessionByID(ctx, cl.SID)
	if err != nil || sess.EndedAt == nil {
		t.Fatalf("session not ended: %+v %v", sess, err)
	}
	// The browser's session cookie was cleared with the redirect.
	for _, ck := range b.client.Jar.Cookies(mustURL(t, app.issuer)) {
		if ck.Name == app.srv.sessions.CookieName() {
			t.Fatalf("session cookie %s kept after end_session", ck.Name)
		}
	}
	// Next authorize needs a passkey again.
	authURL, _ = r.authURL()
	b.signInPage(authURL) // after logout, authorize shows the sign-in page

	// Nothing handed out is stored in a usable form.
	issued := map[string]string{
		"client secret": secret, "setup token": setup[strings.LastIndex(setup, "/")+1:],
		"refresh token": tok.RefreshToken, "rotated refresh token": tok2.RefreshToken,
		"access token": tok.AccessToken, "authorization code": cb.Query().Get("code"),
	}
	for _, ck := range b.client.Jar.Cookies(mustURL(t, app.issuer)) {
		if ck.Name == app.srv.sessions.CookieName() && ck.Value != "" {
			issued["session cookie"] = ck.Value
		}
	}
	assertNotInDatabase(t, app, issued)
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// assertNotInDatabase reads the raw SQLite files (database and WAL) and
// fails if any issued secret appears in them.
func assertNotInDatabase(t *testing.T, app *testApp, issued map[string]string) {
	t.Helper()
	if app.db.IsPostgres() {
		assertNotInPostgres(t, app, issued) // postgres_test.go
		return
	}
	raw := rawDatabase(t, app) // stolen_db_test.go
	for name, v := range issued {
		if v == "" {
			t.Errorf("%s was not captured", name)
			continue
		}
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("%s is stored in clear in the database", name)
		}
	}
}

func TestES256ClientAndPublicClient(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("erin", false)
	b := app.newBrowser()
	b.register(setup)

	const redirect = "http://localhost:9999/cb"
	es, esSecret := app.newClient(redirect, func(c *models.Client) { c.IDTokenAlg = "ES256" })
	r := app.newRP(es.ID, esSecret, redirect, "openid")
	authURL, f := r.authURL()
	tok, _ := r.exchange(b.signIn(authURL), f)
	if alg := jwtAlg(t, tok.Extra("id_token").(string)); alg != "ES256" {
		t.Fatalf("ID token alg = %s, want ES256", alg)
	}

	// A public client must use PKCE: without a code_challenge it is refused.
	pub, _ := app.newClient(redirect, func(c *models.Client) { c.Public = true })
	pr := app.newRP(pub.ID, "", redirect, "openid")
	loc := b.expectRedirect(pr.oauth.AuthCodeURL("st"))
	if loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("public client without PKCE: %s", loc)
	}
	authURL, f = pr.authURL()
	if _, idt := pr.exchange(b.signIn(authURL), f); idt.Subject == "" {
		t.Fatal("public client with PKCE got no subject")
	}
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

func (a *testApp) introspect(clientID, secret, token string) bool {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.issuer+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	body := readBody(a.t, resp)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("introspect: %d %s", resp.StatusCode, body)
	}
	var out struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		a.t.Fatal(err)
	}
	return out.Active
}

func (a *testApp) revoke(clientID, secret, token string) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.issuer+"/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	if body := readBody(a.t, resp); resp.StatusCode != http.StatusOK {
		a.t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
}

// jwtAlg returns the alg of a compact JWS header.
func jwtAlg(t *testing.T, jws string) string {
	t.Helper()
	seg, _, _ := strings.Cut(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Alg string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Alg
}
