package passkeys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

var googleAAGUID = [16]byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4}

func TestRegisterAndLogin(t *testing.T) {
	for _, tc := range []struct {
		name     string
		be, bs   bool
		aaguid   [16]byte
		wantName string
		wantAMR  []string
	}{
		{name: "synced passkey", be: true, bs: true, aaguid: googleAAGUID, wantName: "Google Password Manager", wantAMR: []string{"swk", "user", "mfa"}},
		{name: "device-bound key", wantName: "Passkey", wantAMR: []string{"hwk", "user", "mfa"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			u := e.newUser("alice")
			auth := passkeytest.New(testRPID, testOrigin)
			auth.BackupEligible, auth.BackupState, auth.AAGUID = tc.be, tc.bs, tc.aaguid

			cred := e.register(u, auth)
			if cred.Name != tc.wantName || cred.UserID != u.ID || !bytes.Equal(cred.CredentialID, auth.CredentialID()) {
				t.Fatalf("registered credential: %+v", cred)
			}
			st := e.storedCredential(auth.CredentialID())
			if !st.UserPresent || !st.UserVerified || st.BackupEligible != tc.be || st.BackupState != tc.bs {
				t.Errorf("stored flags UP=%v UV=%v BE=%v BS=%v", st.UserPresent, st.UserVerified, st.BackupEligible, st.BackupState)
			}
			if st.AttestationFormat != "none" || st.AttestationType != "none" || !bytes.Equal(st.AAGUID, tc.aaguid[:]) {
				t.Errorf("stored attestation %q/%q aaguid %x", st.AttestationType, st.AttestationFormat, st.AAGUID)
			}
			if !slices.Equal([]string(st.Transports), []string{"internal", "hybrid"}) || st.SignCount != 0 || st.LastUsedAt != nil {
				t.Errorf("stored transports %v sign count %d last used %v", st.Transports, st.SignCount, st.LastUsedAt)
			}

			for i := uint32(1); i <= 2; i++ { // the second sign-in proves BE/BS were persisted
				e.clock.Advance(time.Minute)
				res, err := e.login(auth, "ar-1")
				if err != nil {
					t.Fatalf("login %d: %v", i, err)
				}
				if res.User.ID != u.ID || res.Credential.ID != cred.ID || !slices.Equal(res.AMR, tc.wantAMR) {
					t.Fatalf("login %d: user %s cred %s amr %v", i, res.User.ID, res.Credential.ID, res.AMR)
				}
				st := e.storedCredential(auth.CredentialID())
				if st.SignCount != i || st.LastUsedAt == nil || !st.LastUsedAt.Equal(e.clock.Now()) || st.CloneWarning {
					t.Fatalf("after login %d: sign count %d last used %v clone %v", i, st.SignCount, st.LastUsedAt, st.CloneWarning)
				}
			}
		})
	}
}

func TestRegistrationConsumesSetupLink(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("bob")
	raw, st, err := e.db.CreateSetupToken(e.ctx, u.ID, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	id, opts, err := e.svc.BeginRegistration(e.ctx, u, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := passkeytest.New(testRPID, testOrigin).Create(opts)
	cred, err := e.svc.FinishRegistration(e.ctx, id, body, "  My\tlaptop  ")
	if err != nil {
		t.Fatal(err)
	}
	if cred.Name != "Mylaptop" {
		t.Errorf("name %q", cred.Name)
	}
	if _, err := e.db.SetupTokenByRaw(e.ctx, raw); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("setup link after registration: %v", err)
	}
}

func TestRegistrationOptions(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("carol")
	first := passkeytest.New(testRPID, testOrigin)
	c1 := e.register(u, first)
	second := passkeytest.New(testRPID, testOrigin)
	c2 := e.register(u, second)

	_, opts, err := e.svc.BeginRegistration(e.ctx, u, "")
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RP   struct{ ID, Name string }
			User struct {
				ID          string `json:"id"`
				Name        string `json:"name"`
				DisplayName string `json:"displayName"`
			}
			Attestation            string `json:"attestation"`
			AuthenticatorSelection struct {
				ResidentKey        string `json:"residentKey"`
				RequireResidentKey bool   `json:"requireResidentKey"`
				UserVerification   string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			ExcludeCredentials []struct{ ID, Type string } `json:"excludeCredentials"`
			Extensions         map[string]any              `json:"extensions"`
			Timeout            int                         `json:"timeout"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatalf("%v: %s", err, opts)
	}
	pk := o.PublicKey
	userID, _ := base64.RawURLEncoding.DecodeString(pk.User.ID)
	if pk.RP.ID != testRPID || pk.RP.Name != "Latchkey" || !bytes.Equal(userID, u.WebAuthnID) || pk.User.Name != "carol" || pk.User.DisplayName != "User carol" {
		t.Errorf("rp/user: %s", opts)
	}
	as := pk.AuthenticatorSelection
	if as.ResidentKey != "required" || !as.RequireResidentKey || as.UserVerification != "required" || pk.Attestation != "none" {
		t.Errorf("authenticatorSelection/attestation: %s", opts)
	}
	if pk.Extensions["credProps"] != true || pk.Timeout != int((5*time.Minute).Milliseconds()) {
		t.Errorf("extensions/timeout: %s", opts)
	}
	var excluded [][]byte
	for _, c := range pk.ExcludeCredentials {
		id, _ := base64.RawURLEncoding.DecodeString(c.ID)
		excluded = append(excluded, id)
	}
	has := func(id []byte) bool {
		return slices.ContainsFunc(excluded, func(x []byte) bool { return bytes.Equal(x, id) })
	}
	if len(excluded) != 2 || !has(c1.CredentialID) || !has(c2.CredentialID) {
		t.Errorf("excludeCredentials = %x", excluded)
	}
	// An authenticator that already holds one of them refuses, like a browser.
	if _, err := first.Create(opts); err == nil || !strings.Contains(err.Error(), "InvalidStateError") {
		t.Errorf("create with excluded credential: %v", err)
	}
}

func TestLoginOptions(t *testing.T) {
	e := newEnv(t)
	id, opts, err := e.svc.BeginLogin(e.ctx, "ar-1")
	if err != nil || id == "" {
		t.Fatal(id, err)
	}
	var o struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if o.PublicKey["userVerification"] != "required" || o.PublicKey["rpId"] != testRPID || o.PublicKey["challenge"] == "" {
		t.Errorf("options %s", opts)
	}
	if ac, ok := o.PublicKey["allowCredentials"].([]any); ok && len(ac) > 0 {
		t.Errorf("allowCredentials not empty: %s", opts)
	}
}

func TestBeginRegistrationDisabledUser(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("dave")
	u.Disabled = true
	_, _, err := e.svc.BeginRegistration(e.ctx, u, "")
	wantKind(t, err, ErrUserDisabled, "user_disabled")
}

func TestFinishRegistrationRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(e *env, u *models.User, a *passkeytest.Authenticator, ceremonyID string, body []byte) (string, []byte)
		kind   error
		reason string
	}{
		{name: "UV not set", kind: ErrVerification, reason: "uv_missing",
			tamper: func(e *env, _ *models.User, a *passkeytest.Authenticator, id string, _ []byte) (string, []byte) {
				return id, mustCreateWith(e, a, id, func(a *passkeytest.Authenticator) { a.UV = false })
			}},
		{name: "wrong origin", kind: ErrVerification, reason: "wrong_origin",
			tamper: func(e *env, _ *models.User, a *passkeytest.Authenticator, id string, _ []byte) (string, []byte) {
				return id, mustCreateWith(e, a, id, func(a *passkeytest.Authenticator) { a.Origin = "https://evil.example" })
			}},
		{name: "wrong RP ID", kind: ErrVerification, reason: "wrong_rp_id",
			tamper: func(e *env, _ *models.User, a *passkeytest.Authenticator, id string, _ []byte) (string, []byte) {
				return id, mustCreateWith(e, a, id, func(a *passkeytest.Authenticator) { a.RPID = "evil.localhost" })
			}},
		{name: "not discoverable", kind: ErrVerification, reason: "not_discoverable",
			tamper: func(e *env, _ *models.User, a *passkeytest.Authenticator, id string, _ []byte) (string, []byte) {
				return id, mustCreateWith(e, a, id, func(a *passkeytest.Authenticator) { a.Discoverable = false })
			}},
		{name: "malformed body", kind: ErrBadRequest, reason: "bad_request",
			tamper: func(_ *env, _ *models.User, _ *passkeytest.Authenticator, id string, _ []byte) (string, []byte) {
				return id, []byte(`{"id": 12`)
			}},
		{name: "oversized body", kind: ErrBadRequest, reason: "bad_request",
			tamper: func(_ *env, _ *models.User, _ *passkeytest.Authenticator, id string, b []byte) (string, []byte) {
				return id, append(b, bytes.Repeat([]byte(" "), MaxBodySize)...)
			}},
		{name: "unknown ceremony", kind: ErrCeremonyNotFound, reason: "replayed_challenge",
			tamper: func(_ *env, _ *models.User, _ *passkeytest.Authenticator, _ string, b []byte) (string, []byte) {
				return "no-such-ceremony", b
			}},
		{name: "expired ceremony", kind: ErrCeremonyExpired, reason: "expired_challenge",
			tamper: func(e *env, _ *models.User, _ *passkeytest.Authenticator, id string, b []byte) (string, []byte) {
				e.clock.Advance(5*time.Minute + time.Second)
				return id, b
			}},
		{name: "login ceremony", kind: ErrCeremonyMismatch, reason: "ceremony_mismatch",
			tamper: func(e *env, _ *models.User, _ *passkeytest.Authenticator, _ string, b []byte) (string, []byte) {
				id, _, err := e.svc.BeginLogin(e.ctx, "")
				if err != nil {
					e.t.Fatal(err)
				}
				return id, b
			}},
		{name: "setup link superseded", kind: ErrSetupLinkInvalid, reason: "setup_link_invalid",
			tamper: func(e *env, u *models.User, _ *passkeytest.Authenticator, id string, b []byte) (string, []byte) {
				e.setupToken(u) // a newer link invalidates the one the ceremony holds
				return id, b
			}},
		{name: "user disabled meanwhile", kind: ErrUserDisabled, reason: "user_disabled",
			tamper: func(e *env, u *models.User, _ *passkeytest.Authenticator, id string, b []byte) (string, []byte) {
				if err := e.db.SetUserDisabled(e.ctx, u.ID, true); err != nil {
					e.t.Fatal(err)
				}
				return id, b
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			u := e.newUser("erin")
			raw, st, err := e.db.CreateSetupToken(e.ctx, u.ID, time.Hour, "test")
			if err != nil {
				t.Fatal(err)
			}
			id, opts, err := e.svc.BeginRegistration(e.ctx, u, st.ID)
			if err != nil {
				t.Fatal(err)
			}
			a := passkeytest.New(testRPID, testOrigin)
			body, err := a.Create(opts)
			if err != nil {
				t.Fatal(err)
			}
			e.optsByID = map[string][]byte{id: opts}
			id, body = tc.tamper(e, u, a, id, body)
			_, err = e.svc.FinishRegistration(e.ctx, id, body, "")
			wantKind(t, err, tc.kind, tc.reason)
			if n := e.countCredentials(u); n != 0 {
				t.Errorf("%d credentials stored after refusal", n)
			}
			if !errors.Is(tc.kind, ErrSetupLinkInvalid) && !errors.Is(tc.kind, ErrCeremonyExpired) {
				if _, err := e.db.SetupTokenByRaw(e.ctx, raw); err != nil {
					t.Errorf("setup link consumed by a refused registration: %v", err)
				}
			}
		})
	}
}

// mustCreateWith answers the ceremony's options again with a modified
// authenticator.
func mustCreateWith(e *env, a *passkeytest.Authenticator, id string, mod func(*passkeytest.Authenticator)) []byte {
	e.t.Helper()
	mod(a)
	body, err := a.Create(e.optsByID[id])
	if err != nil {
		e.t.Fatal(err)
	}
	return body
}

func TestRegistrationReplay(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("frank")
	id, opts, err := e.svc.BeginRegistration(e.ctx, u, "")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := passkeytest.New(testRPID, testOrigin).Create(opts)
	if _, err := e.svc.FinishRegistration(e.ctx, id, body, ""); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishRegistration(e.ctx, id, body, "")
	wantKind(t, err, ErrCeremonyNotFound, "replayed_challenge")
	if n := e.countCredentials(u); n != 1 {
		t.Errorf("%d credentials", n)
	}
}
