package idp

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// idTokenClaims verifies a raw ID token with go-oidc (signature through
// the JWKS, issuer, audience, expiry) and returns all its claims.
func (r *rp) idTokenClaims(raw string) map[string]any {
	r.t.Helper()
	if raw == "" {
		r.t.Fatal("no ID token")
	}
	idt, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		r.t.Fatalf("verify ID token: %v", err)
	}
	var m map[string]any
	if err := idt.Claims(&m); err != nil {
		r.t.Fatal(err)
	}
	return m
}

// userClaims are the claims of the profile, email and groups scopes.
var userClaims = []string{"name", "preferred_username", "updated_at", "locale", "email", "email_verified", "groups"}

// wantUserClaims checks the user's claims of the given scopes in claims:
// present for the scopes granted, absent for the others.
func wantUserClaims(t *testing.T, where string, claims map[string]any, u *models.User, scopes ...string) {
	t.Helper()
	want := map[string]bool{}
	if slices.Contains(scopes, "profile") {
		want["name"], want["preferred_username"], want["updated_at"], want["locale"] = true, true, true, u.Locale != ""
		if claims["name"] != u.DisplayName || claims["preferred_username"] != u.Username {
			t.Errorf("%s: name %v, preferred_username %v; want %q, %q", where, claims["name"], claims["preferred_username"], u.DisplayName, u.Username)
		}
		// The user's chosen language is the profile's locale claim (OIDC
		// Core §5.1, a BCP 47 tag).
		if u.Locale != "" && claims["locale"] != u.Locale {
			t.Errorf("%s: locale %v, want %q", where, claims["locale"], u.Locale)
		}
	}
	if slices.Contains(scopes, "email") {
		want["email"], want["email_verified"] = true, true
		// email_verified is a JSON boolean, false included (OIDC Core §5.1).
		if v, ok := claims["email_verified"].(bool); claims["email"] != u.Email || !ok || v != u.EmailVerified {
			t.Errorf("%s: email %v, email_verified %#v; want %q, %v", where, claims["email"], claims["email_verified"], u.Email, u.EmailVerified)
		}
	}
	if slices.Contains(scopes, "groups") {
		want["groups"] = true
		if g, _ := claims["groups"].([]any); !slices.Contains(g, any("staff")) {
			t.Errorf("%s: groups = %v, want staff", where, claims["groups"])
		}
	}
	for _, k := range userClaims {
		if _, ok := claims[k]; ok != want[k] {
			t.Errorf("%s: claim %q present = %v, want %v (claims %v)", where, k, ok, want[k], claims)
		}
	}
}

// The ID token carries the claims of the granted scopes (profile, email,
// groups), as Keycloak, Dex and Pocket ID issue them, in the code flow and
// in the refresh and device grants; a client set to "minimal" gets them
// only from userinfo. Every ID token is verified by go-oidc against the
// JWKS.
func TestIDTokenCarriesScopedClaims(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.OIDC.DevicePollInterval = time.Second })
	ctx := context.Background()
	user, setup := app.newUser("carla", false)
	if err := app.db.SetUserGroups(ctx, user.ID, []string{"staff"}); err != nil {
		t.Fatal(err)
	}
	// An unverified address: email_verified must still come, as false.
	if err := app.db.UpdateUser(ctx, user.ID, models.UserProfile{Username: user.Username, Email: user.Email, DisplayName: user.DisplayName}); err != nil {
		t.Fatal(err)
	}
	user.EmailVerified = false
	if err := app.db.SetUserLocale(ctx, user.ID, "de"); err != nil {
		t.Fatal(err)
	}
	user.Locale = "de"
	const redirect = "http://localhost:9999/callback"
	scoped, secret := app.newClient(redirect)
	minimal, minSecret := app.newClient(redirect, func(c *models.Client) { c.IDTokenClaims = models.IDTokenClaimsMinimal })
	b := app.newBrowser()
	b.register(setup)
	all := []string{"openid", "profile", "email", "groups", "offline_access"}

	t.Run("code and refresh grants, all scopes", func(t *testing.T) {
		r := app.newRP(scoped.ID, secret, redirect, all...).in(t)
		authURL, f := r.authURL()
		tok, _ := r.exchange(b.in(t).signIn(authURL), f)
		raw, _ := tok.Extra("id_token").(string)
		cl := r.idTokenClaims(raw)
		if cl["sub"] != user.ID || cl["sid"] == nil || cl["at_hash"] == nil {
			t.Fatalf("protocol claims missing: %v", cl)
		}
		wantUserClaims(t, "code ID token", cl, user, all...)

		tok2, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		raw2, _ := tok2.Extra("id_token").(string)
		wantUserClaims(t, "refresh ID token", r.idTokenClaims(raw2), user, all...)
	})

	for _, scopes := range [][]string{{"openid"}, {"openid", "profile"}, {"openid", "email"}, {"openid", "groups"}} {
		t.Run("code grant, scopes "+strings.Join(scopes, " "), func(t *testing.T) {
			r := app.newRP(scoped.ID, secret, redirect, scopes...).in(t)
			authURL, f := r.authURL()
			tok, _ := r.exchange(b.in(t).signIn(authURL), f)
			raw, _ := tok.Extra("id_token").(string)
			wantUserClaims(t, "ID token", r.idTokenClaims(raw), user, scopes...)
		})
	}

	t.Run("minimal client: claims in userinfo only", func(t *testing.T) {
		r := app.newRP(minimal.ID, minSecret, redirect, all...).in(t)
		authURL, f := r.authURL()
		tok, _ := r.exchange(b.in(t).signIn(authURL), f)
		raw, _ := tok.Extra("id_token").(string)
		cl := r.idTokenClaims(raw)
		if cl["sub"] != user.ID || cl["sid"] == nil || cl["at_hash"] == nil || cl["nonce"] != f.nonce {
			t.Fatalf("protocol claims missing: %v", cl)
		}
		wantUserClaims(t, "minimal ID token", cl, user)
		ui, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var uic map[string]any
		if err := ui.Claims(&uic); err != nil {
			t.Fatal(err)
		}
		wantUserClaims(t, "minimal client's userinfo", uic, user, all...)

		tok2, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		raw2, _ := tok2.Extra("id_token").(string)
		wantUserClaims(t, "minimal refresh ID token", r.idTokenClaims(raw2), user)
	})

	t.Run("device grant", func(t *testing.T) {
		tv, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Name = "TV"; c.Public = true })
		r := app.newRP(tv.ID, "", "http://localhost:9999/cb").in(t)
		conf := oauth2.Config{ClientID: tv.ID, Scopes: []string{"openid", "profile", "email", "groups"},
			Endpoint: oauth2.Endpoint{DeviceAuthURL: app.issuer + "/device_authorization", TokenURL: app.issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatalf("device authorization: %v", err)
		}
		type result struct {
			tok *oauth2.Token
			err error
		}
		done := make(chan result, 1)
		pollCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		go func() {
			tok, err := conf.DeviceAccessToken(pollCtx, da)
			done <- result{tok, err}
		}()
		tvb := app.newBrowser().in(t) // no session yet: the device page signs in
		tvb.auth = b.auth
		tvb.deviceSignIn(da.VerificationURIComplete)
		tvb.deviceDecide(da.VerificationURIComplete, "allow")
		res := <-done
		if res.err != nil {
			t.Fatalf("device token: %v", res.err)
		}
		raw, _ := res.tok.Extra("id_token").(string)
		wantUserClaims(t, "device ID token", r.idTokenClaims(raw), user, "openid", "profile", "email", "groups")
	})
}
