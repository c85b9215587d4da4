package idp

// A conformance-style suite modelled on the OpenID Foundation test plans
// (oidcc-basic-certification-test-plan, oidcc-config-certification-test-plan,
// oidcc-rp-initiated-logout-certification-test-plan,
// oidcc-backchannel-rp-initiated-logout-certification-test-plan), one test
// per rule. Rules already proven elsewhere are listed here, not repeated:
//
//	oidcc-server (code flow, ID token iss/aud/sub/nonce/amr/exp)  TestEndToEndPasskeyToTokens
//	oidcc-codereuse / oidcc-codereuse-30seconds                     TestAuthorizeRefusals/code_replay_refused…
//	oidcc-ensure-registered-redirect-uri (error page, no redirect) TestAuthorizeRefusals/unregistered_redirect_URI…
//	oidcc-prompt-none-not-logged-in (login_required)               TestAuthorizeRefusals/prompt=none_without_a_session
//	oidcc-prompt-login                                              TestAuthorizeRefusals/prompt=login_forces_a_ceremony
//	oidcc-max-age-1                                                 TestAuthorizeRefusals/max_age_exceeded…
//	oidcc-refresh-token (rotation, reuse)                           TestEndToEndPasskeyToTokens
//	oidcc-ensure-pkce-* (S256 only)                                 TestAuthorizeRefusals/PKCE_plain_refused
//	oidcc-rp-initiated-logout (id_token_hint, state, redirect)      TestEndToEndPasskeyToTokens
//	oidcc-rp-initiated-logout-no-id-token-hint (confirmation)       TestLogoutConfirmationAndBackchannel
//	oidcc-rp-initiated-logout-bad-post-logout-redirect-uri          TestLogoutConfirmationAndBackchannel/unregistered…
//	oidcc-backchannel-rp-initiated-logout (token, sid, no nonce)    TestLogoutConfirmationAndBackchannel
//	oidcc-server-client-secret-post / private_key_jwt               TestClientCredentialsGrant, TestPrivateKeyJWTClientAuthentication
//	oidcc-response-mode-form-post                                   TestResponseModeFormPost
//	oidcc-prompt-consent (consent screen)                           TestConsent
//	prompt=select_account, login_hint (OIDC Core §3.1.2.1)          TestConformancePromptSelectAccount, TestConformanceLoginHint

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// oidcc-discovery-*: every endpoint advertised answers, the lists name
// exactly what works, and nothing unsupported is advertised.
func TestConformanceDiscoveryConsistency(t *testing.T) {
	app := newTestApp(t)
	d := app.discovery()
	if d.Issuer != app.issuer {
		t.Fatalf("issuer = %s", d.Issuer)
	}
	eq := func(name string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	eq("response_types_supported", d.ResponseTypes, []string{"code"})
	eq("response_modes_supported", d.ResponseModes, []string{"query", "fragment", "form_post"})
	eq("grant_types_supported", d.GrantTypes, []string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"})
	eq("token_endpoint_auth_methods_supported", d.TokenAuthMethods, []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"})
	eq("code_challenge_methods_supported", d.CodeChallengeMethods, []string{"S256"})
	eq("id_token_signing_alg_values_supported", d.IDTokenAlgs, []string{"RS256", "ES256"})
	// Signed request objects (RFC 9101, jar_test.go); request_uri only
	// from our PAR endpoint, never fetched.
	if !d.RequestParameter || d.RequestURIParameter {
		t.Errorf("request_parameter_supported %v, request_uri_parameter_supported %v: want true, false", d.RequestParameter, d.RequestURIParameter)
	}
	if !d.BackchannelLogout || !d.BackchannelSession || d.FrontchannelLogout {
		t.Error("logout support advertised wrongly")
	}
	for _, c := range []string{"sub", "auth_time", "nonce", "acr", "amr", "sid", "email"} {
		if !slices.Contains(d.Claims, c) {
			t.Errorf("claims_supported lacks %s", c)
		}
	}
	if !slices.Contains(d.Scopes, "openid") {
		t.Error("scopes_supported lacks openid")
	}
	// Each advertised endpoint is served (a GET without parameters gets
	// an OAuth error or a page, never 404/405).
	for name, ep := range map[string]string{"authorization": d.Authorization, "token": d.Token, "userinfo": d.Userinfo,
		"jwks": d.JWKS, "end_session": d.EndSession, "revocation": d.Revocation, "introspection": d.Introspection,
		"device_authorization": d.DeviceAuthorization} {
		if !strings.HasPrefix(ep, app.issuer+"/") {
			t.Errorf("%s endpoint %q is not under the issuer", name, ep)
			continue
		}
		resp, err := http.Post(ep, "application/x-www-form-urlencoded", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("%s endpoint %s answers %d", name, ep, resp.StatusCode)
		}
	}
	// Every advertised ID token algorithm has a published key.
	ks := app.verifyJWKSAlgs()
	for _, alg := range d.IDTokenAlgs {
		if !ks[alg] {
			t.Errorf("no JWKS key for advertised alg %s", alg)
		}
	}
}

func (a *testApp) verifyJWKSAlgs() map[string]bool {
	a.t.Helper()
	resp, err := http.Get(a.issuer + "/keys")
	if err != nil {
		a.t.Fatal(err)
	}
	body := readBody(a.t, resp)
	out := map[string]bool{}
	for _, alg := range []string{"RS256", "ES256"} {
		out[alg] = strings.Contains(body, `"alg":"`+alg+`"`)
	}
	return out
}

// oidcc-ensure-request-without-nonce-succeeds-for-code-flow and
// oidcc-id-token-* nonce rules: the nonce is echoed when sent and absent
// when not.
func TestConformanceNonce(t *testing.T) {
	_, b, _, r, _ := enrolled(t)
	authURL, f := r.authURL()
	_, idt := r.exchange(b.signIn(authURL), f) // checks nonce == request nonce
	if idt.Nonce == "" {
		t.Fatal("nonce missing")
	}
	verifier := oauth2.GenerateVerifier()
	cb := b.signIn(r.oauth.AuthCodeURL("s-no-nonce", oauth2.S256ChallengeOption(verifier)))
	tok, err := r.oauth.Exchange(r.ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt2, err := r.verifier.Verify(r.ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	if idt2.Nonce != "" {
		t.Fatalf("nonce %q in an ID token of a request without nonce", idt2.Nonce)
	}
}

// oidcc-ensure-state-*: state is returned exactly, including characters
// that need escaping, and not invented when absent.
func TestConformanceState(t *testing.T) {
	_, b, _, r, _ := enrolled(t)
	const state = "a b+c/d=é&x"
	verifier := oauth2.GenerateVerifier()
	cb := b.signIn(r.oauth.AuthCodeURL(state, gooidc.Nonce("n"), oauth2.S256ChallengeOption(verifier)))
	if cb.Query().Get("state") != state {
		t.Fatalf("state = %q, want %q", cb.Query().Get("state"), state)
	}
	u, _ := url.Parse(r.oauth.AuthCodeURL("", oauth2.S256ChallengeOption(verifier)))
	q := u.Query()
	q.Del("state")
	u.RawQuery = q.Encode()
	cb = b.signIn(u.String())
	if _, ok := cb.Query()["state"]; ok {
		t.Fatalf("state invented: %s", cb)
	}
}

// oidcc-prompt-none-logged-in: a live session answers without any UI.
func TestConformancePromptNoneWithSession(t *testing.T) {
	_, b, user, r, _ := enrolled(t)
	authURL, f := r.authURL()
	r.exchange(b.signIn(authURL), f)
	authURL, f = r.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	cb := b.followToClient(b.expectRedirect(authURL))
	if _, idt := r.exchange(cb, f); idt.Subject != user.ID {
		t.Fatalf("prompt=none subject %s", idt.Subject)
	}
}

// oidcc-prompt-select-account (OIDC Core §3.1.2.1 prompt=select_account):
// a browser holds one session and the account is the passkey presented, so
// select_account shows the sign-in page even with a live session, like
// prompt=login; the ceremony then completes the request. Combined with
// none it is an error (none must be alone).
func TestConformancePromptSelectAccount(t *testing.T) {
	app, b, user, r, _ := enrolled(t)
	authURL, f := r.authURL()
	r.exchange(b.signIn(authURL), f)

	authURL, f = r.authURL(oauth2.SetAuthURLParam("prompt", "select_account"))
	if _, _, body := b.signInPage(authURL); !strings.Contains(body, "Sign in with a passkey") {
		t.Fatalf("select_account with a session: no sign-in page\n%s", body)
	}
	if _, idt := r.exchange(b.signIn(authURL), f); idt.Subject != user.ID {
		t.Fatalf("select_account subject %s", idt.Subject)
	}
	if evs, _ := app.db.AuditEvents(context.Background(), models.AuditFilter{Type: models.EventSignIn}); len(evs) != 2 {
		t.Fatalf("%d sign-in ceremonies audited, want 2 (select_account must not reuse the session)", len(evs))
	}

	authURL, f = r.authURL(oauth2.SetAuthURLParam("prompt", "none select_account"))
	cb := b.followToClient(b.expectRedirect(authURL))
	if cb.Query().Get("error") == "" || cb.Query().Get("code") != "" || cb.Query().Get("state") != f.state {
		t.Fatalf("prompt=none select_account answered %s, want an error", cb)
	}
}

// login_hint (OIDC Core §3.1.2.1): sign-in is usernameless, so the hint
// only decides whether the live session may be reused. A hint naming the
// signed-in user (sub, username or email, any case) reuses it; any other
// hint shows the sign-in page, and with prompt=none gives login_required.
func TestConformanceLoginHint(t *testing.T) {
	app, b, user, r, _ := enrolled(t)
	other, _ := app.newUser("mallory", false)
	authURL, f := r.authURL()
	r.exchange(b.signIn(authURL), f)

	for _, hint := range []string{user.ID, "bob", "BOB", " bob@example.com ", "Bob@Example.COM"} {
		authURL, f := r.authURL(oauth2.SetAuthURLParam("login_hint", hint), oauth2.SetAuthURLParam("prompt", "none"))
		cb := b.followToClient(b.expectRedirect(authURL))
		if cb.Query().Get("code") == "" {
			t.Fatalf("login_hint %q naming the signed-in user: %s, want the session reused", hint, cb)
		}
		if _, idt := r.exchange(cb, f); idt.Subject != user.ID {
			t.Fatalf("login_hint %q: subject %s", hint, idt.Subject)
		}
	}
	for _, hint := range []string{"mallory", other.Email, other.ID, "nobody@example.com"} {
		authURL, f := r.authURL(oauth2.SetAuthURLParam("login_hint", hint), oauth2.SetAuthURLParam("prompt", "none"))
		cb := b.followToClient(b.expectRedirect(authURL))
		if cb.Query().Get("error") != "login_required" || cb.Query().Get("code") != "" || cb.Query().Get("state") != f.state {
			t.Fatalf("prompt=none with login_hint %q for another account: %s, want login_required", hint, cb)
		}
		authURL, _ = r.authURL(oauth2.SetAuthURLParam("login_hint", hint))
		if _, _, body := b.signInPage(authURL); !strings.Contains(body, "Sign in with a passkey") {
			t.Fatalf("login_hint %q for another account reused the session\n%s", hint, body)
		}
	}
	// After the ceremony, whoever's passkey was presented is signed in: the
	// hint is advice, not an authorization rule.
	authURL, f = r.authURL(oauth2.SetAuthURLParam("login_hint", "mallory"))
	if _, idt := r.exchange(b.signIn(authURL), f); idt.Subject != user.ID {
		t.Fatalf("subject %s after the ceremony, want the passkey's user", idt.Subject)
	}
}

// oidcc-max-age-10000 / auth_time: with max_age the ID token carries
// auth_time (OIDC Core §2), and a recent sign-in is reused.
func TestConformanceMaxAgeAuthTime(t *testing.T) {
	_, b, _, r, _ := enrolled(t)
	authURL, f := r.authURL()
	_, first := r.exchange(b.signIn(authURL), f)
	var c1 idClaims
	_ = first.Claims(&c1)
	authURL, f = r.authURL(oauth2.SetAuthURLParam("max_age", "10000"))
	if a := b.authorize(authURL); a.redirect == nil {
		t.Fatal("max_age=10000 asked for a new ceremony")
	}
	_, idt := r.exchange(b.signIn(authURL), f)
	var c idClaims
	_ = idt.Claims(&c)
	if c.AuthTime == 0 || c.AuthTime != c1.AuthTime {
		t.Fatalf("auth_time = %d, want the session's %d", c.AuthTime, c1.AuthTime)
	}
}

// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-
// unsupported: an unsigned request object (alg none, not among
// request_object_signing_alg_values_supported) is refused with
// invalid_request_object (RFC 9101 §6.2), sent back to the client.
func TestConformanceUnsignedRequestObjectRefused(t *testing.T) {
	_, b, _, r, _ := enrolled(t)
	unsigned := "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9." // {"alg":"none"}.{"scope":"openid"}.
	authURL, f := r.authURL(oauth2.SetAuthURLParam("request", unsigned))
	cb := b.followToClient(b.expectRedirect(authURL))
	if cb.Query().Get("error") != "invalid_request_object" || cb.Query().Get("state") != f.state || cb.Query().Get("code") != "" {
		t.Fatalf("request object: %s", cb)
	}
}

// oidcc-userinfo-* with a revoked token: 401 with WWW-Authenticate
// (RFC 6750 §3.1), no claims.
func TestConformanceUserinfoRevokedToken(t *testing.T) {
	app, b, _, r, client := enrolled(t)
	authURL, f := r.authURL()
	tok, _ := r.exchange(b.signIn(authURL), f)
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("userinfo before revocation: %v", err)
	}
	app.revoke(client.ID, r.oauth.ClientSecret, tok.AccessToken)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, app.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") || strings.Contains(body, `"sub"`) {
		t.Fatalf("userinfo with a revoked token: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
}
