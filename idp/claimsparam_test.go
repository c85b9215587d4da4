package idp

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// The claims request parameter (OpenID Connect Core §5.5), driven with
// coreos/go-oidc (rp): individual ID token claims for a minimal client,
// essential acr with value/values, malformed parameters, discovery.
func TestClaimsParameter(t *testing.T) {
	app := newTestApp(t)
	user, setup := app.newUser("clara", false)
	const redirect = "http://localhost:9999/callback"
	minimal, secret := app.newClient(redirect, func(c *models.Client) { c.IDTokenClaims = models.IDTokenClaimsMinimal })
	b := app.newBrowser()
	b.auth.BackupEligible, b.auth.BackupState = true, true // a synced passkey: acr phr, never phrh
	b.register(setup)

	var d map[string]any
	if err := json.Unmarshal([]byte(b.getBody("/.well-known/openid-configuration")), &d); err != nil {
		t.Fatal(err)
	}
	if d["claims_parameter_supported"] != true {
		t.Fatalf("discovery claims_parameter_supported = %v", d["claims_parameter_supported"])
	}

	claims := func(v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("claims", v) }
	t.Run("individual ID token claims the scopes release", func(t *testing.T) {
		r := app.newRP(minimal.ID, secret, redirect, "openid", "email", "offline_access").in(t)
		authURL, f := r.authURL(claims(`{"id_token":{"email":{"essential":true},"name":null},"userinfo":{"email":null}}`))
		tok, _ := r.exchange(b.in(t).signIn(authURL), f) // go-oidc verifies the ID token
		raw, _ := tok.Extra("id_token").(string)
		cl := r.idTokenClaims(raw)
		if cl["email"] != user.Email || cl["sub"] != user.ID {
			t.Fatalf("ID token %v, want the requested email", cl)
		}
		if _, ok := cl["name"]; ok {
			t.Fatalf("ID token %v carries name, which the granted scopes (no profile) do not release", cl)
		}
		if _, ok := cl["preferred_username"]; ok {
			t.Fatalf("ID token %v carries an unrequested claim", cl)
		}
		// Userinfo answers the requested claim (the granted scopes
		// release it).
		ui := app.in(t).send(http.MethodGet, "/userinfo", nil, map[string]string{"Authorization": "Bearer " + tok.AccessToken})
		if ui.status != http.StatusOK || ui.str("email") != user.Email || ui.str("sub") != user.ID {
			t.Fatalf("userinfo %d %v, want the requested email", ui.status, ui.body)
		}
		// The refresh's ID token keeps the requested claims.
		tok2, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		raw2, _ := tok2.Extra("id_token").(string)
		if cl := r.idTokenClaims(raw2); cl["email"] != user.Email {
			t.Fatalf("refresh ID token %v, want email", cl)
		}
		// Without the parameter a minimal client's ID token has no email.
		authURL, f = r.authURL()
		tok, _ = r.exchange(b.in(t).signIn(authURL), f)
		raw, _ = tok.Extra("id_token").(string)
		if cl := r.idTokenClaims(raw); cl["email"] != nil {
			t.Fatalf("minimal ID token without claims parameter: %v", cl)
		}
	})
	t.Run("a claim the granted scopes do not release is not released", func(t *testing.T) {
		// Consent is per scope: the parameter asks for individual claims
		// among those the user agreed to, never beyond them.
		r := app.newRP(minimal.ID, secret, redirect, "openid").in(t)
		authURL, f := r.authURL(claims(`{"id_token":{"email":{"essential":true}},"userinfo":{"email":{"essential":true},"name":null}}`))
		tok, _ := r.exchange(b.in(t).signIn(authURL), f)
		raw, _ := tok.Extra("id_token").(string)
		if cl := r.idTokenClaims(raw); cl["email"] != nil {
			t.Fatalf("ID token %v carries email without the email scope", cl)
		}
		ui := app.in(t).send(http.MethodGet, "/userinfo", nil, map[string]string{"Authorization": "Bearer " + tok.AccessToken})
		if ui.status != http.StatusOK || ui.str("sub") != user.ID || ui.body["email"] != nil || ui.body["name"] != nil {
			t.Fatalf("userinfo %d %v, want sub only", ui.status, ui.body)
		}
	})
	t.Run("essential acr value that the passkey meets", func(t *testing.T) {
		r := app.newRP(minimal.ID, secret, redirect, "openid").in(t)
		authURL, f := r.authURL(claims(`{"id_token":{"acr":{"essential":true,"values":["phrh","phr"]}}}`))
		tok, _ := r.exchange(b.in(t).signIn(authURL), f)
		raw, _ := tok.Extra("id_token").(string)
		if cl := r.idTokenClaims(raw); cl["acr"] != "phr" {
			t.Fatalf("acr = %v", cl["acr"])
		}
	})
	t.Run("essential acr value that the passkey does not meet", func(t *testing.T) {
		r := app.newRP(minimal.ID, secret, redirect, "openid").in(t)
		authURL, _ := r.authURL(claims(`{"id_token":{"acr":{"essential":true,"value":"phrh"}}}`))
		if st, msg := b.in(t).trySignIn(authURL); st != http.StatusForbidden || !strings.Contains(msg, "requires a passkey on a security key") {
			t.Fatalf("essential acr phrh with a synced passkey: %d %q", st, msg)
		}
	})
	t.Run("voluntary acr changes nothing", func(t *testing.T) {
		r := app.newRP(minimal.ID, secret, redirect, "openid").in(t)
		authURL, f := r.authURL(claims(`{"id_token":{"acr":{"values":["phrh"]}}}`))
		tok, _ := r.exchange(b.in(t).signIn(authURL), f)
		raw, _ := tok.Extra("id_token").(string)
		if cl := r.idTokenClaims(raw); cl["acr"] != "phr" {
			t.Fatalf("acr = %v", cl["acr"])
		}
	})
	t.Run("malformed parameters are invalid_request", func(t *testing.T) {
		r := app.newRP(minimal.ID, secret, redirect, "openid").in(t)
		for _, bad := range []string{`not json`, `[]`, `{"id_token":[]}`, `{"id_token":{"email":true}}`, `{"userinfo":{"email":{"essential":"yes"}}}`,
			`{"id_token":{"acr":{"essential":true,"values":[1]}}}`, `{"id_token":{"x":null}}` + strings.Repeat(" ", 5000)} {
			authURL, f := r.authURL(claims(bad))
			cb := b.in(t).followToClient(b.in(t).expectRedirect(authURL))
			if cb.Query().Get("error") != "invalid_request" || cb.Query().Get("state") != f.state {
				t.Errorf("claims=%.40q: callback %s, want invalid_request", bad, cb)
			}
		}
		// With acr_values, the essential acr values must meet them.
		authURL, _ := r.authURL(claims(`{"id_token":{"acr":{"essential":true,"value":"phrh"}}}`), oauth2.SetAuthURLParam("acr_values", "phr"))
		if cb := b.in(t).expectRedirect(authURL); cb.Query().Get("error") != "invalid_request" {
			t.Errorf("disjoint acr_values and essential acr: %s", cb)
		}
	})
	t.Run("at the PAR endpoint", func(t *testing.T) {
		r := app.newRP(minimal.ID, secret, redirect, "openid", "email").in(t)
		params := r.authParams(newFlow())
		params.Set("claims", `{"id_token":5}`)
		if ans := app.in(t).push(params, minimal.ID, secret); ans.status != http.StatusBadRequest || ans.Error != "invalid_request" {
			t.Fatalf("PAR with a malformed claims parameter: %+v", ans)
		}
		f := newFlow()
		params = r.authParams(f)
		params.Set("claims", `{"id_token":{"email":null}}`)
		ans := app.in(t).push(params, minimal.ID, secret)
		if ans.status != http.StatusCreated {
			t.Fatalf("PAR: %+v", ans)
		}
		cb := b.in(t).signIn(parAuthorizeURL(app.issuer, minimal.ID, ans.RequestURI))
		tok, _ := r.exchange(cb, f)
		raw, _ := tok.Extra("id_token").(string)
		if cl := r.idTokenClaims(raw); cl["email"] != user.Email {
			t.Fatalf("pushed claims parameter: ID token %v", cl)
		}
	})
}
