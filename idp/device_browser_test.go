package idp

// Chromium test of the device authorization grant (RFC 8628), as issue 5
// asks: a command-line style client (golang.org/x/oauth2 DeviceAuth and
// DeviceAccessToken, polling in a goroutine) against the real server, and a
// user in Chromium with a virtual authenticator who opens
// verification_uri_complete, signs in with a passkey, sees the approval
// screen naming the application and approves or denies it.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/idp/signin"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

func TestBrowserDeviceFlow(t *testing.T) {
	exe := findChromium(t)
	app := newTestApp(t, func(c *Config) { c.OIDC.DevicePollInterval = time.Second })
	user, setupURL := app.newUser(browserUsername, false)
	cli, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Name = "Acme CLI"; c.Public = true })
	conf := oauth2.Config{ClientID: cli.ID, Scopes: []string{"openid", "profile", "email"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: app.issuer + "/device_authorization", TokenURL: app.issuer + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams}}
	shots := artifactDir(t)

	c := newChrome(t, exe, true)
	c.setUpPasskey(setupURL, "Headless Chromium")

	type result struct {
		tok *oauth2.Token
		err error
	}
	// startCLI is what a command-line tool does: ask for a code, print it,
	// poll the token endpoint until the user has decided.
	startCLI := func(t *testing.T) (*oauth2.DeviceAuthResponse, <-chan result) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
		t.Cleanup(cancel)
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatalf("device authorization: %v", err)
		}
		if da.VerificationURIComplete != app.issuer+"/device?user_code="+da.UserCode {
			t.Fatalf("verification_uri_complete = %q", da.VerificationURIComplete)
		}
		done := make(chan result, 1)
		go func() {
			tok, err := conf.DeviceAccessToken(ctx, da)
			done <- result{tok, err}
		}()
		return da, done
	}
	// approvalScreen opens verification_uri_complete, signs in with the
	// passkey if asked and waits for the approve / deny screen.
	approvalScreen := func(c *chrome, da *oauth2.DeviceAuthResponse, wantCeremony bool) {
		c.t.Helper()
		c.doT("open verification_uri_complete", chromedp.Navigate(da.VerificationURIComplete))
		if hasButton := c.eval(`String(!!document.getElementById("passkey-signin"))`) == "true"; hasButton != wantCeremony {
			c.fatalf("device page offers a passkey ceremony: %v, want %v", hasButton, wantCeremony)
		}
		c.signInOn(app.issuer, "/device", func(s pageState) bool {
			return s.Ready == "complete" && strings.Contains(s.Text, "Approve") && !s.Button
		})
		c.expectText("h1", "Acme CLI")
		if code := c.text("#user-code"); code != da.UserCode {
			c.fatalf("approval screen shows code %q, the device %q", code, da.UserCode)
		}
		c.expectText("#scopes", "email")
	}

	t.Run("approve", func(t *testing.T) {
		c := c.in(t)
		da, done := startCLI(t)
		approvalScreen(c, da, true) // no session yet: the passkey ceremony runs
		c.screenshot(shots, "device-approve")
		evs, _ := app.db.AuditEvents(context.Background(), models.AuditFilter{Type: models.EventSignIn})
		if len(evs) != 1 || evs[0].UserID != user.ID || evs[0].Detail["via"] != "device" {
			t.Fatalf("sign-in audit events = %+v, want one via the device page", evs)
		}
		select {
		case r := <-done:
			t.Fatalf("the client got an answer before the user decided: %+v %v", r.tok, r.err)
		default:
		}
		if st := c.submit("approve", "#device-allow"); st != http.StatusOK {
			c.fatalf("approval answered %d", st)
		}
		c.expectText("h1", "Device connected")
		c.screenshot(shots, "device-connected")

		var r result
		select {
		case r = <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the command-line client did not receive tokens")
		}
		if r.err != nil {
			t.Fatalf("device token: %v", r.err)
		}
		if r.tok.AccessToken == "" {
			t.Fatal("no access token")
		}
		raw, _ := r.tok.Extra("id_token").(string)
		if cl := app.verifyJWT(raw); cl["sub"] != user.ID || !audHas(cl["aud"], cli.ID) && cl["aud"] != cli.ID {
			t.Fatalf("ID token claims = %v", cl)
		}
		// The access token works at userinfo.
		req, _ := http.NewRequest(http.MethodGet, app.issuer+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+r.tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("userinfo: %d %s", resp.StatusCode, body)
		}
		var info struct {
			Sub               string `json:"sub"`
			PreferredUsername string `json:"preferred_username"`
			Email             string `json:"email"`
		}
		if err := json.Unmarshal([]byte(body), &info); err != nil {
			t.Fatalf("userinfo is not JSON: %v\n%s", err, body)
		}
		if info.Sub != user.ID || info.PreferredUsername != browserUsername || info.Email != user.Email {
			t.Fatalf("userinfo = %+v, want sub %q, preferred_username %q, email %q", info, user.ID, browserUsername, user.Email)
		}
		if evs, _ := app.db.AuditEvents(context.Background(), models.AuditFilter{Type: signin.EventDeviceApproved}); len(evs) != 1 {
			t.Errorf("approval audited %d times, want 1", len(evs))
		}
	})

	t.Run("deny", func(t *testing.T) {
		c := c.in(t)
		da, done := startCLI(t)
		approvalScreen(c, da, false) // the session from "approve" is fresh: no ceremony
		if st := c.submit("deny", "#device-deny"); st != http.StatusOK {
			c.fatalf("denial answered %d", st)
		}
		c.expectText("h1", "Access denied")
		var r result
		select {
		case r = <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the command-line client got no answer after the denial")
		}
		var re *oauth2.RetrieveError
		if !errors.As(r.err, &re) || re.ErrorCode != "access_denied" {
			t.Fatalf("client got token %+v, error %v; want access_denied", r.tok, r.err)
		}
		if evs, _ := app.db.AuditEvents(context.Background(), models.AuditFilter{Type: signin.EventDeviceDenied}); len(evs) != 1 {
			t.Errorf("denial audited %d times, want 1", len(evs))
		}
	})
}
