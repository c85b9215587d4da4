package idp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// A code bound to a DPoP key (dpop_jkt, RFC 9449 §10) that someone
// redeems without a proof or with another key's proof is refused with
// invalid_grant and not spent: its owner still redeems it, once.
func TestDPoPBoundCodeIsNotSpentByAnotherKey(t *testing.T) {
	app, b, user, r, client := enrolled(t)
	secret := r.oauth.ClientSecret
	key, thief := newDPoPKey(t), newDPoPKey(t)
	tokenURL := app.issuer + "/oauth/token"

	f := newFlow()
	params := r.authParams(f)
	params.Set("dpop_jkt", key.jkt)
	cb := b.signIn(app.issuer + "/authorize?" + params.Encode())
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {r.oauth.RedirectURL},
		"client_id": {client.ID}, "client_secret": {secret}, "code_verifier": {f.verifier}}
	for name, h := range map[string]map[string]string{
		"without a proof":          nil,
		"with another key's proof": {"DPoP": thief.proof(http.MethodPost, tokenURL, proofOpts{})},
	} {
		if tok := app.send(http.MethodPost, "/oauth/token", form, h); tok.status != http.StatusBadRequest || tok.str("error") != "invalid_grant" {
			t.Fatalf("bound code %s: %d %v, want invalid_grant", name, tok.status, tok.body)
		}
	}
	var reuse int64
	app.db.Gorm().Model(&models.AuditEvent{}).Where("type = ?", models.EventCodeReuse).Count(&reuse)
	if reuse != 0 {
		t.Fatal("a refused redemption counted as a code reuse")
	}
	tok := app.send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": key.proof(http.MethodPost, tokenURL, proofOpts{})})
	if tok.status != http.StatusOK || tok.str("token_type") != "DPoP" {
		t.Fatalf("the owner's redemption after refused ones: %d %v", tok.status, tok.body)
	}
	idt, err := r.verifier.Verify(context.Background(), tok.str("id_token"))
	if err != nil || idt.Subject != user.ID {
		t.Fatalf("ID token (go-oidc): %v %v", idt, err)
	}
	// Still single use: the owner's second redemption is a reuse.
	if again := app.send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": key.proof(http.MethodPost, tokenURL, proofOpts{})}); again.str("error") != "invalid_grant" {
		t.Fatalf("second redemption: %d %v", again.status, again.body)
	}
}

// dpop_jkt (or a DPoP proof) at the device authorization endpoint binds
// the device code to that key: a poll without its proof is invalid_grant
// and neither redeems the grant nor counts as a poll; the owner's poll
// gets a DPoP-bound token. A bad dpop_jkt or a proof of another key is
// refused and stores nothing.
func TestDPoPDeviceAuthorizationBinding(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.OIDC.DevicePollInterval = time.Millisecond })
	tv, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Public = true; c.Name = "TV" })
	key, thief := newDPoPKey(t), newDPoPKey(t)
	deviceURL, tokenURL := app.issuer+"/device_authorization", app.issuer+"/oauth/token"
	devices := func() int64 {
		var n int64
		app.db.Gorm().Model(&models.DeviceAuthorization{}).Count(&n)
		return n
	}

	for name, tc := range map[string]struct {
		jkt   string
		proof string
		code  string
	}{
		"malformed dpop_jkt":           {jkt: "short", code: "invalid_request"},
		"dpop_jkt of another key":      {jkt: thief.jkt, proof: key.proof(http.MethodPost, deviceURL, proofOpts{}), code: "invalid_dpop_proof"},
		"a proof for another endpoint": {proof: key.proof(http.MethodPost, tokenURL, proofOpts{}), code: "invalid_dpop_proof"},
	} {
		before := devices()
		form := url.Values{"client_id": {tv.ID}, "scope": {"openid"}}
		if tc.jkt != "" {
			form.Set("dpop_jkt", tc.jkt)
		}
		h := map[string]string{}
		if tc.proof != "" {
			h["DPoP"] = tc.proof
		}
		if ans := app.send(http.MethodPost, "/device_authorization", form, h); ans.status != http.StatusBadRequest || ans.str("error") != tc.code {
			t.Fatalf("%s: %d %v, want %s", name, ans.status, ans.body, tc.code)
		}
		if devices() != before {
			t.Fatalf("%s: a refused device authorization was stored", name)
		}
	}

	for name, h := range map[string]map[string]string{
		"dpop_jkt": nil,
		"a proof":  {"DPoP": key.proof(http.MethodPost, deviceURL, proofOpts{})},
	} {
		t.Run("bound with "+name, func(t *testing.T) {
			_, setup := app.in(t).newUser(strings.ReplaceAll("dana-"+name, " ", "-"), false)
			b := app.in(t).newBrowser()
			b.register(setup)
			form := url.Values{"client_id": {tv.ID}, "scope": {"openid"}}
			if h == nil {
				form.Set("dpop_jkt", key.jkt)
			}
			start := app.in(t).send(http.MethodPost, "/device_authorization", form, h)
			if start.status != http.StatusOK {
				t.Fatalf("device authorization: %d %v", start.status, start.body)
			}
			complete := start.str("verification_uri_complete")
			b.in(t).deviceSignIn(complete)
			b.in(t).deviceDecide(complete, "allow")
			time.Sleep(5 * time.Millisecond)
			poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {start.str("device_code")}, "client_id": {tv.ID}}
			for what, ph := range map[string]map[string]string{
				"without a proof":          nil,
				"with another key's proof": {"DPoP": thief.proof(http.MethodPost, tokenURL, proofOpts{})},
			} {
				if ans := app.in(t).send(http.MethodPost, "/oauth/token", poll, ph); ans.status != http.StatusBadRequest || ans.str("error") != "invalid_grant" {
					t.Fatalf("poll %s: %d %v, want invalid_grant", what, ans.status, ans.body)
				}
			}
			ans := app.in(t).send(http.MethodPost, "/oauth/token", poll, map[string]string{"DPoP": key.proof(http.MethodPost, tokenURL, proofOpts{})})
			if ans.status != http.StatusOK || ans.str("token_type") != "DPoP" {
				t.Fatalf("the owner's poll: %d %v", ans.status, ans.body)
			}
			if cnf, _ := app.verifyJWT(ans.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != key.jkt {
				t.Fatalf("cnf = %v", cnf)
			}
		})
	}
}
