package idp

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// RFC 9068 §2.1: JWT access tokens from the code, refresh and device grants
// carry typ "at+jwt" (ID tokens keep "JWT"); the ID token's at_hash matches
// the access token actually returned, and the token works at userinfo,
// introspection and revocation.
func TestJWTAccessTokenType(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			app := newTestApp(t)
			user, setup := app.newUser("bob", false)
			const redirect = "http://localhost:9999/callback"
			client, secret := app.newClient(redirect, func(c *models.Client) { c.IDTokenAlg = alg })
			b := app.newBrowser()
			b.register(setup)
			r := app.newRP(client.ID, secret, redirect)

			check := func(step string, tok *oauth2.Token) {
				t.Helper()
				if h := jwtHeader(t, tok.AccessToken); h["typ"] != "at+jwt" || h["alg"] != alg || h["kid"] == nil {
					t.Fatalf("%s: access token header = %v, want typ at+jwt, alg %s", step, h, alg)
				}
				cl := app.verifyJWT(tok.AccessToken)
				if cl["sub"] != user.ID || cl["client_id"] != client.ID || cl["jti"] == nil || cl["exp"] == nil {
					t.Fatalf("%s: access token claims = %v", step, cl)
				}
				raw, _ := tok.Extra("id_token").(string)
				if h := jwtHeader(t, raw); h["typ"] != "JWT" || h["alg"] != alg {
					t.Fatalf("%s: ID token header = %v", step, h)
				}
				idt, err := r.verifier.Verify(r.ctx, raw)
				if err != nil {
					t.Fatalf("%s: ID token: %v", step, err)
				}
				if idt.AccessTokenHash == "" {
					t.Fatalf("%s: ID token has no at_hash", step)
				}
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Fatalf("%s: at_hash does not match the access token: %v", step, err)
				}
				if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err != nil {
					t.Fatalf("%s: userinfo: %v", step, err)
				}
				if !app.introspect(client.ID, secret, tok.AccessToken) {
					t.Fatalf("%s: introspection says inactive", step)
				}
			}

			authURL, f := r.authURL()
			tok, _ := r.exchange(b.signIn(authURL), f)
			check("code", tok)

			tok.Expiry = time.Now().Add(-time.Minute)
			refreshed, err := r.oauth.TokenSource(r.ctx, tok).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if refreshed.AccessToken == tok.AccessToken {
				t.Fatal("refresh returned the same access token")
			}
			check("refresh", refreshed)

			app.revoke(client.ID, secret, refreshed.AccessToken)
			if app.introspect(client.ID, secret, refreshed.AccessToken) {
				t.Fatal("revoked at+jwt token still active")
			}
		})
	}

	t.Run("device grant", func(t *testing.T) {
		app := newTestApp(t, func(c *Config) { c.OIDC.DevicePollInterval = time.Second })
		_, setup := app.newUser("tara", false)
		tv, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Public = true })
		b := app.newBrowser()
		b.register(setup)
		conf := oauth2.Config{ClientID: tv.ID, Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{DeviceAuthURL: app.issuer + "/device_authorization", TokenURL: app.issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b.deviceSignIn(da.VerificationURIComplete)
		b.deviceDecide(da.VerificationURIComplete, "allow")
		tok, err := conf.DeviceAccessToken(ctx, da)
		if err != nil {
			t.Fatal(err)
		}
		if h := jwtHeader(t, tok.AccessToken); h["typ"] != "at+jwt" {
			t.Fatalf("device access token header = %v", h)
		}
	})

	t.Run("opaque tokens untouched", func(t *testing.T) {
		app, b, _, _, _ := enrolled(t)
		const redirect = "http://localhost:9999/callback"
		client, secret := app.newClient(redirect, func(c *models.Client) { c.AccessTokenFormat = models.AccessTokenOpaque })
		r := app.newRP(client.ID, secret, redirect)
		authURL, f := r.authURL()
		tok, idt := r.exchange(b.signIn(authURL), f)
		if strings.Count(tok.AccessToken, ".") == 2 {
			t.Fatalf("opaque client got a JWT access token")
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash of the opaque token: %v", err)
		}
		if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err != nil {
			t.Fatalf("userinfo: %v", err)
		}
	})
}
