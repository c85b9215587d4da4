package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/idp/signin"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

var userCodeShape = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// deviceSignIn does the passkey ceremony of the device page at u.
func (b *browser) deviceSignIn(u string) {
	b.t.Helper()
	body, csrf := b.page(u, http.StatusOK)
	if !strings.Contains(body, `data-begin="/device/login/begin"`) {
		b.t.Fatalf("device page offers no sign-in:\n%s", body)
	}
	code := mustURL(b.t, u).Query().Get("user_code")
	var begin beginResp
	if st := b.postJSON("/device/login/begin", csrf, map[string]string{"authRequestID": code}, &begin); st != http.StatusOK {
		b.t.Fatalf("device login begin: %d %s", st, begin.Error)
	}
	assertion, err := b.auth.Get(begin.Options)
	if err != nil {
		b.t.Fatal(err)
	}
	var fin struct{ Redirect, Error string }
	if st := b.postJSON("/device/login/finish", csrf, map[string]any{"authRequestID": code, "ceremonyID": begin.CeremonyID, "credential": json.RawMessage(assertion)}, &fin); st != http.StatusOK {
		b.t.Fatalf("device login finish: %d %s", st, fin.Error)
	}
	if fin.Redirect != "/device?user_code="+url.QueryEscape(code) {
		b.t.Fatalf("device login redirect = %q", fin.Redirect)
	}
}

// deviceDecide answers the approval screen of a signed-in browser.
func (b *browser) deviceDecide(u, decision string) string {
	b.t.Helper()
	body, _ := b.page(u, http.StatusOK)
	m := hiddenCSRF.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no approval form:\n%s", body)
	}
	resp := b.postForm("/device", m[1], url.Values{"user_code": {mustURL(b.t, u).Query().Get("user_code")}, "decision": {decision}})
	out := readBody(b.t, resp)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("POST /device: %d\n%s", resp.StatusCode, out)
	}
	return out
}

// pollOnce posts one device_code token request and returns the OAuth error
// code ("" on success).
func (a *testApp) pollOnce(clientID, deviceCode string) string {
	a.t.Helper()
	resp, err := http.PostForm(a.issuer+"/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {deviceCode}, "client_id": {clientID}})
	if err != nil {
		a.t.Fatal(err)
	}
	var out struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(readBody(a.t, resp)), &out)
	return out.Error
}

func TestDeviceAuthorizationGrant(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.OIDC.DevicePollInterval = time.Second })
	ctx := context.Background()
	user, setup := app.newUser("tara", false)
	tv, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Name = "Living-room TV"; c.Public = true })
	b := app.newBrowser()
	b.register(setup)
	if d := app.discovery(); d.DeviceAuthorization != app.issuer+"/device_authorization" {
		t.Fatalf("device_authorization_endpoint = %q", d.DeviceAuthorization)
	}

	conf := oauth2.Config{ClientID: tv.ID, Scopes: []string{"openid", "profile", "offline_access"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: app.issuer + "/device_authorization", TokenURL: app.issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	if !userCodeShape.MatchString(da.UserCode) || da.VerificationURI != app.issuer+"/device" ||
		da.VerificationURIComplete != app.issuer+"/device?user_code="+da.UserCode || da.Interval != 1 {
		t.Fatalf("device authorization response = %+v", da)
	}

	// The command-line client polls while the user approves in a browser.
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

	body, _ := b.page(da.VerificationURIComplete, http.StatusOK)
	if !strings.Contains(body, "Living-room TV") || !strings.Contains(body, da.UserCode) {
		t.Fatalf("approval page does not name the app and code:\n%s", body)
	}
	b.deviceSignIn(da.VerificationURIComplete)
	if out := b.deviceDecide(da.VerificationURIComplete, "allow"); !strings.Contains(out, "Device connected") {
		t.Fatalf("approval answered:\n%s", out)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("device token: %v", res.err)
	}
	if res.tok.RefreshToken == "" {
		t.Error("no refresh token despite offline_access")
	}
	raw, _ := res.tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no ID token for scope openid")
	}
	if cl := app.verifyJWT(raw); cl["sub"] != user.ID || cl["aud"] != tv.ID && !audHas(cl["aud"], tv.ID) {
		t.Fatalf("ID token claims = %v", cl)
	}
	if evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: signin.EventDeviceApproved}); len(evs) != 1 {
		t.Errorf("approval audited %d times", len(evs))
	}

	t.Run("the code is single use", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		if e := app.pollOnce(tv.ID, da.DeviceCode); e == "" {
			t.Fatal("device code redeemed twice")
		}
	})

	t.Run("pending then slow_down", func(t *testing.T) {
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e := app.pollOnce(tv.ID, da.DeviceCode); e != "authorization_pending" {
			t.Fatalf("first poll: %q", e)
		}
		if e := app.pollOnce(tv.ID, da.DeviceCode); e != "slow_down" {
			t.Fatalf("fast second poll: %q", e)
		}
	})

	t.Run("deny gives access_denied", func(t *testing.T) {
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if out := b.deviceDecide(da.VerificationURIComplete, "deny"); !strings.Contains(out, "Access denied") {
			t.Fatalf("deny answered:\n%s", out)
		}
		if e := app.pollOnce(tv.ID, da.DeviceCode); e != "access_denied" {
			t.Fatalf("poll after deny: %q", e)
		}
	})

	t.Run("expired_token after the lifetime", func(t *testing.T) {
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		app.clock.Advance(11 * time.Minute)
		if e := app.pollOnce(tv.ID, da.DeviceCode); e != "expired_token" {
			t.Fatalf("poll after expiry: %q", e)
		}
		body, _ := b.page(da.VerificationURIComplete, http.StatusBadRequest)
		if !strings.Contains(body, "unknown or has expired") {
			t.Fatalf("expired code page:\n%s", body)
		}
	})

	t.Run("a stale session must use its passkey again", func(t *testing.T) {
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := b.page(da.VerificationURIComplete, http.StatusOK) // clock moved 11 minutes
		if !strings.Contains(body, "Continue with a passkey") || strings.Contains(body, `value="allow"`) {
			t.Fatalf("stale session offered approval:\n%s", body)
		}
	})

	t.Run("an approved grant expires and dies with its user", func(t *testing.T) {
		approve := func() *oauth2.DeviceAuthResponse {
			da, err := conf.DeviceAuth(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b.deviceSignIn(da.VerificationURIComplete)
			if out := b.deviceDecide(da.VerificationURIComplete, "allow"); !strings.Contains(out, "Device connected") {
				t.Fatalf("approve answered:\n%s", out)
			}
			return da
		}
		// RFC 8628 §3.5: approved but never redeemed in time → expired_token.
		da := approve()
		app.clock.Advance(11 * time.Minute)
		if e := app.pollOnce(tv.ID, da.DeviceCode); e != "expired_token" {
			t.Fatalf("approved, expired, polled: %q", e)
		}
		// Approved, then the user is disabled before the device polls.
		da = approve()
		if err := app.db.SetUserDisabled(ctx, user.ID, true); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := app.db.SetUserDisabled(ctx, user.ID, false); err != nil {
				t.Errorf("enable the user again: %v", err)
			}
		})
		if e := app.pollOnce(tv.ID, da.DeviceCode); e != "access_denied" {
			t.Fatalf("approved by a since-disabled user, polled: %q", e)
		}
	})

	t.Run("malformed and unknown codes", func(t *testing.T) {
		for _, code := range []string{"AAAA-AAAA", "bcdf", "BCDF-GHJK"} {
			body, _ := b.page("/device?user_code="+code, http.StatusBadRequest)
			if !strings.Contains(body, "device-error") {
				t.Fatalf("code %s: no error shown", code)
			}
		}
	})
}

func audHas(aud any, id string) bool {
	l, _ := aud.([]any)
	for _, a := range l {
		if a == id {
			return true
		}
	}
	return false
}

// A confidential client must authenticate to start a device flow and to
// redeem it; a poll without credentials must not burn the approved grant,
// and client_secret_post works as well as Basic (RFC 8628 §3.1, §3.4).
func TestDeviceFlowConfidentialClient(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.OIDC.DevicePollInterval = time.Millisecond })
	_, setup := app.newUser("ursula", false)
	payroll, secret := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Name = "Payroll" })
	b := app.newBrowser()
	b.register(setup)

	start := func(v url.Values) (int, map[string]any) {
		resp, err := http.PostForm(app.issuer+"/device_authorization", v)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.Unmarshal([]byte(readBody(t, resp)), &out)
		return resp.StatusCode, out
	}
	if st, out := start(url.Values{"client_id": {payroll.ID}, "scope": {"openid"}}); st == http.StatusOK || out["error"] != "invalid_client" {
		t.Fatalf("device authorization without the secret: %d %v", st, out)
	}
	st, out := start(url.Values{"client_id": {payroll.ID}, "client_secret": {secret}, "scope": {"openid"}})
	if st != http.StatusOK {
		t.Fatalf("device authorization with the secret: %d %v", st, out)
	}
	deviceCode, complete := out["device_code"].(string), out["verification_uri_complete"].(string)
	b.deviceSignIn(complete)
	if page := b.deviceDecide(complete, "allow"); !strings.Contains(page, "Device connected") {
		t.Fatalf("approve answered:\n%s", page)
	}
	if e := app.pollOnce(payroll.ID, deviceCode); e != "invalid_client" {
		t.Fatalf("unauthenticated poll: %q", e)
	}
	time.Sleep(5 * time.Millisecond)
	resp, err := http.PostForm(app.issuer+"/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {deviceCode}, "client_id": {payroll.ID}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "access_token") {
		t.Fatalf("authenticated poll after an unauthenticated one: %d %s", resp.StatusCode, body)
	}
}
