package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

// tryRegister runs the setup-link ceremony and returns the finish status
// and error message ("" on success).
func (b *browser) tryRegister(setupURL string) (int, string) {
	b.t.Helper()
	return b.registerNamed(setupURL, "")
}

// trySignIn runs a passkey sign-in for an authorize URL without a live
// session and returns the finish status and error message.
func (b *browser) trySignIn(authorizeURL string) (int, string) {
	b.t.Helper()
	arID, csrf, _ := b.signInPage(authorizeURL)
	var begin beginResp
	if st := b.postJSON("/login/passkey/begin", csrf, map[string]string{"authRequestID": arID}, &begin); st != http.StatusOK {
		b.t.Fatalf("login begin: %d %s", st, begin.Error)
	}
	assertion, err := b.auth.Get(begin.Options)
	if err != nil {
		b.t.Fatal(err)
	}
	var fin struct{ Redirect, Error string }
	st := b.postJSON("/login/passkey/finish", csrf, map[string]any{"authRequestID": arID, "ceremonyID": begin.CeremonyID, "credential": json.RawMessage(assertion)}, &fin)
	return st, fin.Error
}

func auditReasons(t *testing.T, db *models.DB, typ string) []string {
	t.Helper()
	evs, err := db.AuditEvents(context.Background(), models.AuditFilter{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		r, _ := ev.Detail["reason"].(string)
		out = append(out, r)
	}
	return out
}

func TestPolicyRegistrationRefusedWithMessage(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.Passkeys.Policy.Level = passkeys.PolicyDeviceBound })
	user, setup := app.newUser("sam", false)
	b := app.newBrowser()
	b.auth.BackupEligible, b.auth.BackupState = true, true
	b.auth.AAGUID = [16]byte{0xfb, 0xfc, 0x30, 0x07, 0x15, 0x4e, 0x4e, 0xcc, 0x8c, 0x0b, 0x6e, 0x02, 0x05, 0x57, 0xd7, 0xbd} // Apple Passwords (iCloud Keychain)
	st, msg := b.tryRegister(setup)
	if st != http.StatusForbidden || msg != "Your organisation only accepts passkeys that stay on one device, such as a security key. This passkey is synced (Apple Passwords). Use a hardware security key or a passkey that stays on this device." {
		t.Fatalf("synced passkey under device-bound: %d %q", st, msg)
	}
	// The same refusal in French names the provider too.
	fr := app.newBrowser()
	fr.auth = b.auth
	fr.setLang("fr")
	st, msg = fr.tryRegister(setup)
	//nolint:misspell // French
	if st != http.StatusForbidden || msg != "Votre organisation n'accepte que les clés d'accès qui restent sur un seul appareil, comme une clé de sécurité. Cette clé d'accès est synchronisée (Apple Passwords). Utilisez une clé de sécurité matérielle ou une clé d'accès qui reste sur cet appareil." {
		t.Fatalf("synced passkey under device-bound, in French: %d %q", st, msg)
	}
	if r := auditReasons(t, app.db, models.EventPasskeyPolicyRefused); !slices.Equal(r, []string{"policy_device_bound", "policy_device_bound"}) {
		t.Errorf("audit reasons %v", r)
	}
	// The setup link still works, with a passkey that stays on the device.
	b.auth = passkeytest.New("localhost", app.issuer)
	b.register(setup)
	creds, _ := app.db.CredentialsByUser(context.Background(), user.ID)
	if len(creds) != 1 || creds[0].BackupEligible {
		t.Fatalf("stored %+v", creds)
	}
}

// attestedApp runs under the attested policy with a test FIDO blob that
// lists the model aaguid, and returns a browser whose authenticator is
// that model with a packed attestation.
func attestedApp(t *testing.T, mutate ...func(*Config)) (*testApp, *browser) {
	t.Helper()
	app := newTestApp(t, append([]func(*Config){func(c *Config) { c.Passkeys.Policy.Level = passkeys.PolicyAttested }}, mutate...)...)
	fido, err := passkeytest.NewFIDO()
	if err != nil {
		t.Fatal(err)
	}
	aaguid := [16]byte{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	blob, err := fido.Blob(1, passkeytest.MDSEntry{AAGUID: aaguid, Description: "Test Hardware Key"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := passkeys.ImportMDS(context.Background(), app.db, blob, string(fido.MDSRootPEM())); err != nil {
		t.Fatal(err)
	}
	b := app.newBrowser()
	b.auth.AAGUID = aaguid
	if err := fido.Equip(b.auth); err != nil {
		t.Fatal(err)
	}
	return app, b
}

func TestPolicyAttestedTokensCarryACR(t *testing.T) {
	app, b := attestedApp(t)
	user, setup := app.newUser("hana", false)
	b.register(setup)
	creds, _ := app.db.CredentialsByUser(context.Background(), user.ID)
	if len(creds) != 1 || !creds[0].AttestationVerified {
		t.Fatalf("stored %+v", creds)
	}
	st, err := app.srv.passkeys.Evaluate(context.Background(), &creds[0])
	if err != nil || !st.Satisfied || !st.AttestationVerified || !st.DeviceBound || st.ProviderName != "Test Hardware Key" || st.ACR != "phrh" {
		t.Errorf("status %+v %v", st, err)
	}
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)
	var disco struct {
		ACRValues []string `json:"acr_values_supported"`
	}
	if err := r.provider.Claims(&disco); err != nil || !slices.Equal(disco.ACRValues, []string{"phr", "phrh"}) {
		t.Errorf("discovery acr_values_supported %v %v", disco.ACRValues, err)
	}
	authURL, f := r.authURL(oauth2.SetAuthURLParam("acr_values", "phrh"))
	_, idt := r.exchange(b.signIn(authURL), f)
	var cl struct {
		ACR string   `json:"acr"`
		AMR []string `json:"amr"`
	}
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if cl.ACR != "phrh" || !slices.Equal(cl.AMR, []string{"hwk", "user", "mfa"}) {
		t.Errorf("acr %q amr %v, want phrh and hwk", cl.ACR, cl.AMR)
	}
}

func TestPolicyACRValuesNotMet(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("ivan", false)
	b := app.newBrowser()
	b.auth.BackupEligible, b.auth.BackupState = true, true
	b.register(setup)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)

	authURL, _ := r.authURL(oauth2.SetAuthURLParam("acr_values", "phrh"))
	st, msg := b.trySignIn(authURL)
	if st != http.StatusForbidden || !strings.Contains(msg, "requires a passkey on a security key or device") {
		t.Fatalf("acr_values=phrh with a synced passkey: %d %q", st, msg)
	}
	if r := auditReasons(t, app.db, models.EventSignInFailed); !slices.Contains(r, "acr_not_met") {
		t.Errorf("audit reasons %v", r)
	}
	authURL, f := r.authURL(oauth2.SetAuthURLParam("acr_values", "phr"))
	_, idt := r.exchange(b.signIn(authURL), f)
	var cl struct {
		ACR string   `json:"acr"`
		AMR []string `json:"amr"`
	}
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if cl.ACR != "phr" || cl.AMR[0] != "swk" {
		t.Errorf("acr %q amr %v", cl.ACR, cl.AMR)
	}
	// The session's acr (phr) does not satisfy phrh: no silent reuse.
	authURL, _ = r.authURL(oauth2.SetAuthURLParam("acr_values", "phrh"))
	if a := b.authorize(authURL); a.redirect != nil {
		t.Errorf("a weaker session went to %s, want the sign-in page (a fresh sign-in)", a.redirect)
	}
}

func TestPolicyTighteningFlagsThenRefusesAfterGrace(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.Passkeys.PolicyGrace = 24 * time.Hour })
	ctx := context.Background()
	user, setup := app.newUser("jade", false)
	if err := app.db.SetUserGroups(ctx, user.ID, []string{"ops"}); err != nil {
		t.Fatal(err)
	}
	b := app.newBrowser()
	b.auth.BackupEligible, b.auth.BackupState = true, true
	b.register(setup)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)
	authURL, _ := r.authURL()
	b.signIn(authURL)

	// The ops group now requires device-bound passkeys.
	if err := app.db.SetGroupPolicy(ctx, "ops", &models.GroupPolicy{Level: string(passkeys.PolicyDeviceBound)}); err != nil {
		t.Fatal(err)
	}
	app.srv.reconcilePolicy(ctx)
	creds, _ := app.db.CredentialsByUser(ctx, user.ID)
	if len(creds) != 1 || creds[0].PolicyFlaggedAt == nil {
		t.Fatalf("passkey not flagged: %+v", creds)
	}
	if r := auditReasons(t, app.db, models.EventPasskeyPolicyFlagged); !slices.Equal(r, []string{"policy_device_bound"}) {
		t.Errorf("flag audit %v", r)
	}
	// Within the grace period a fresh sign-in (new browser) still works.
	app.clock.Advance(23 * time.Hour)
	b2 := app.newBrowser()
	b2.auth = b.auth
	authURL, _ = r.authURL()
	if st, msg := b2.trySignIn(authURL); st != http.StatusOK {
		t.Fatalf("within grace: %d %q", st, msg)
	}
	// After it, both a fresh sign-in and the old session are refused.
	app.clock.Advance(2 * time.Hour)
	b3 := app.newBrowser()
	b3.auth = b.auth
	authURL, _ = r.authURL()
	st, msg := b3.trySignIn(authURL)
	if st != http.StatusForbidden || !strings.Contains(msg, "no longer meets your organisation's passkey policy") {
		t.Fatalf("after grace: %d %q", st, msg)
	}
	// The same refusal in German, with the date and the broken rule said
	// in German too.
	b4 := app.newBrowser()
	b4.auth = b.auth
	b4.setLang("de")
	authURL, _ = r.authURL()
	st, msg = b4.trySignIn(authURL)
	if st != http.StatusForbidden || !strings.Contains(msg, "erfüllt die Passkey-Richtlinie Ihrer Organisation nicht mehr und konnte nur bis ") ||
		!strings.Contains(msg, " um ") || !strings.Contains(msg, "Dieser Passkey kann auf andere Geräte synchronisiert werden.") {
		t.Fatalf("after grace, in German: %d %q", st, msg)
	}
	if r := auditReasons(t, app.db, models.EventPasskeyPolicyRefused); !slices.Equal(r, []string{"policy_grace_expired", "policy_grace_expired"}) {
		t.Errorf("refusal audit %v", r)
	}
	authURL, _ = r.authURL()
	if a := b2.authorize(authURL); a.redirect != nil {
		t.Errorf("session of a refused passkey completed a sign-in (went to %s)", a.redirect)
	}
}

func TestPolicyWebAuthnWellKnown(t *testing.T) {
	app := newTestApp(t)
	absent := app.newBrowser().get("/.well-known/webauthn")
	readBody(t, absent)
	if absent.StatusCode != http.StatusNotFound {
		t.Errorf("without related origins: %d", absent.StatusCode)
	}
	app = newTestApp(t, func(c *Config) {
		c.Passkeys.RelatedOrigins = []string{"https://example.org", "https://login.example.net/"}
	})
	resp := app.newBrowser().get("/.well-known/webauthn")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d type %q body %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var doc struct{ Origins []string }
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.Origins, []string{app.issuer, "https://example.org", "https://login.example.net"}) {
		t.Errorf("origins %v", doc.Origins)
	}
	// A passkey ceremony from a related origin is accepted.
	_, setup := app.newUser("kim", false)
	b := app.newBrowser()
	b.auth.Origin = "https://example.org"
	if st, msg := b.tryRegister(setup); st != http.StatusOK {
		t.Errorf("registration from a related origin: %d %q", st, msg)
	}
	if _, err := url.Parse(app.issuer); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyConfigProblems(t *testing.T) {
	cfg := Config{Issuer: "http://localhost:8080"}
	cfg.Passkeys.Policy = passkeys.Policy{Level: "strict", AAGUIDAllow: []string{"not-an-aaguid"}}
	cfg.Passkeys.RelatedOrigins = []string{"http://example.org"}
	cfg.Defaults()
	probs := strings.Join(cfg.Validate(), "\n")
	for _, want := range []string{`passkey policy "strict"`, `AAGUID "not-an-aaguid"`, `related origin "http://example.org" must use https`} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems %q\nmissing %q", probs, want)
		}
	}
}

func TestPolicyShownInConsole(t *testing.T) {
	app := newAdminApp(t, func(c *Config) { c.Passkeys.PolicyGrace = 24 * time.Hour })
	ctx := context.Background()
	b, _ := adminWithConsole(t, app)
	body, _ := b.adminPage(app.adminURL+"/admin", http.StatusOK)
	if !strings.Contains(body, "Passkey policy: any") || !strings.Contains(body, "FIDO metadata: none imported") {
		t.Errorf("overview without metadata:\n%s", body)
	}
	fido, _ := passkeytest.NewFIDO()
	blob, _ := fido.Blob(5, passkeytest.MDSEntry{AAGUID: [16]byte{9}, Description: "X"})
	if _, err := passkeys.ImportMDS(ctx, app.db, blob, string(fido.MDSRootPEM())); err != nil {
		t.Fatal(err)
	}
	if body, _ = b.adminPage(app.adminURL+"/admin", http.StatusOK); !strings.Contains(body, "FIDO metadata: serial 5, 1 models, imported") {
		t.Errorf("overview with metadata:\n%s", body)
	}

	user, link := app.newUser("lena", false)
	if err := app.db.SetUserGroups(ctx, user.ID, []string{"ops"}); err != nil {
		t.Fatal(err)
	}
	ub := app.newBrowser()
	ub.auth.BackupEligible, ub.auth.BackupState = true, true
	ub.auth.AAGUID = [16]byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4} // Google Password Manager
	ub.register(link)
	body, _ = b.adminPage(app.adminURL+"/admin/users/"+user.ID, http.StatusOK)
	for _, want := range []string{`data-policy="ok"`, "attestation not verified · synced · meets the any passkey policy", `<img src="data:image/`} {
		if !strings.Contains(body, want) {
			t.Errorf("user page before tightening lacks %q", want)
		}
	}
	if err := app.db.SetGroupPolicy(ctx, "ops", &models.GroupPolicy{Level: string(passkeys.PolicyDeviceBound)}); err != nil {
		t.Fatal(err)
	}
	app.srv.reconcilePolicy(ctx)
	body, _ = b.adminPage(app.adminURL+"/admin/users/"+user.ID, http.StatusOK)
	for _, want := range []string{`data-policy="flagged"`, "does not meet the device-bound passkey policy", "This passkey is synced (Google Password Manager)", "Refused for sign-in from"} {
		if !strings.Contains(body, want) {
			t.Errorf("user page after tightening lacks %q", want)
		}
	}
}
