package passkeys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

// beginAndAnswer begins a sign-in bound to authRequestID and lets a answer it.
func beginAndAnswer(e *env, a *passkeytest.Authenticator, authRequestID string) (string, []byte) {
	e.t.Helper()
	id, opts, err := e.svc.BeginLogin(e.ctx, authRequestID)
	if err != nil {
		e.t.Fatal(err)
	}
	body, err := a.Get(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return id, body
}

func TestFinishLoginRefusals(t *testing.T) {
	type call func() error
	finish := func(e *env, id, ar string, body []byte) call {
		return func() error { _, err := e.svc.FinishLogin(e.ctx, id, ar, body); return err }
	}
	login := func(e *env, a *passkeytest.Authenticator) call {
		return func() error { _, err := e.login(a, "ar-1"); return err }
	}
	for _, tc := range []struct {
		name    string
		prepare func(e *env, u *models.User, a *passkeytest.Authenticator) call
		kind    error
		reason  string
	}{
		{name: "replayed challenge", kind: ErrCeremonyNotFound, reason: "replayed_challenge",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				id, body := beginAndAnswer(e, a, "ar-1")
				if _, err := e.svc.FinishLogin(e.ctx, id, "ar-1", body); err != nil {
					e.t.Fatal(err)
				}
				return finish(e, id, "ar-1", body)
			}},
		{name: "expired challenge", kind: ErrCeremonyExpired, reason: "expired_challenge",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				id, body := beginAndAnswer(e, a, "ar-1")
				e.clock.Advance(5*time.Minute + time.Second)
				return finish(e, id, "ar-1", body)
			}},
		{name: "wrong origin", kind: ErrVerification, reason: "wrong_origin",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				a.Origin = "http://localhost:9999"
				return login(e, a)
			}},
		{name: "wrong RP ID", kind: ErrVerification, reason: "wrong_rp_id",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				a.RPID = "example.com"
				return login(e, a)
			}},
		{name: "UV not set", kind: ErrVerification, reason: "uv_missing",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				a.UV = false
				return login(e, a)
			}},
		{name: "UP not set", kind: ErrVerification, reason: "up_missing",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				a.UP = false
				return login(e, a)
			}},
		{name: "backup eligibility changed", kind: ErrVerification, reason: "backup_flags_inconsistent",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				a.BackupEligible, a.BackupState = false, false
				return login(e, a)
			}},
		{name: "bad signature", kind: ErrVerification, reason: "bad_signature",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				id, body := beginAndAnswer(e, a, "ar-1")
				return finish(e, id, "ar-1", tamperSignature(e, body))
			}},
		{name: "answer to another challenge", kind: ErrVerification, reason: "challenge_mismatch",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				id, _, err := e.svc.BeginLogin(e.ctx, "ar-1")
				if err != nil {
					e.t.Fatal(err)
				}
				_, body := beginAndAnswer(e, a, "ar-1")
				return finish(e, id, "ar-1", body)
			}},
		{name: "unknown credential", kind: ErrUnknownCredential, reason: "unknown_credential",
			prepare: func(e *env, u *models.User, _ *passkeytest.Authenticator) call {
				// Created on the authenticator but never registered here.
				_, opts, err := e.svc.BeginRegistration(e.ctx, u, "")
				if err != nil {
					e.t.Fatal(err)
				}
				b := passkeytest.New(testRPID, testOrigin)
				if _, err := b.Create(opts); err != nil {
					e.t.Fatal(err)
				}
				return login(e, b)
			}},
		{name: "unknown user handle", kind: ErrUnknownCredential, reason: "unknown_credential",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				a.UserHandle = make([]byte, 64)
				_, _ = rand.Read(a.UserHandle)
				return login(e, a)
			}},
		{name: "another user's credential", kind: ErrUnknownCredential, reason: "credential_not_owned",
			prepare: func(e *env, u *models.User, _ *passkeytest.Authenticator) call {
				mallory := e.newUser("mallory")
				b := passkeytest.New(testRPID, testOrigin)
				e.register(mallory, b)
				b.UserHandle = u.WebAuthnID
				return login(e, b)
			}},
		{name: "user disabled", kind: ErrUserDisabled, reason: "user_disabled",
			prepare: func(e *env, u *models.User, a *passkeytest.Authenticator) call {
				if err := e.db.SetUserDisabled(e.ctx, u.ID, true); err != nil {
					e.t.Fatal(err)
				}
				return login(e, a)
			}},
		{name: "sign count went backwards", kind: ErrCloneDetected, reason: "clone_detected",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				a.SetSignCount(0) // next assertion reports 1, stored is 1
				return login(e, a)
			}},
		{name: "bound to another auth request", kind: ErrCeremonyMismatch, reason: "ceremony_mismatch",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				id, body := beginAndAnswer(e, a, "ar-1")
				return finish(e, id, "ar-2", body)
			}},
		{name: "unbound ceremony used for an auth request", kind: ErrCeremonyMismatch, reason: "ceremony_mismatch",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				id, body := beginAndAnswer(e, a, "")
				return finish(e, id, "ar-1", body)
			}},
		{name: "registration ceremony", kind: ErrCeremonyMismatch, reason: "ceremony_mismatch",
			prepare: func(e *env, u *models.User, a *passkeytest.Authenticator) call {
				id, _, err := e.svc.BeginRegistration(e.ctx, u, "")
				if err != nil {
					e.t.Fatal(err)
				}
				_, body := beginAndAnswer(e, a, "ar-1")
				return finish(e, id, "ar-1", body)
			}},
		{name: "malformed body", kind: ErrBadRequest, reason: "bad_request",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				id, _ := beginAndAnswer(e, a, "ar-1")
				return finish(e, id, "ar-1", []byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{`))
			}},
		{name: "not a public-key credential", kind: ErrBadRequest, reason: "bad_request",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				id, _ := beginAndAnswer(e, a, "ar-1")
				return finish(e, id, "ar-1", []byte(`{"id":"AAAA","rawId":"AAAA","type":"password","response":{}}`))
			}},
		{name: "oversized body", kind: ErrBadRequest, reason: "bad_request",
			prepare: func(e *env, _ *models.User, a *passkeytest.Authenticator) call {
				id, body := beginAndAnswer(e, a, "ar-1")
				return finish(e, id, "ar-1", append(body, bytes.Repeat([]byte(" "), MaxBodySize)...))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			u := e.newUser("alice")
			a := passkeytest.New(testRPID, testOrigin)
			a.BackupEligible, a.BackupState = true, true
			e.register(u, a)
			if _, err := e.login(a, "ar-1"); err != nil {
				t.Fatal(err)
			}
			run := tc.prepare(e, u, a)
			before := e.storedCredential(a.CredentialID())
			err := run()
			t.Logf("error: %v", err)
			wantKind(t, err, tc.kind, tc.reason)
			after := e.storedCredential(a.CredentialID())
			if after.SignCount != before.SignCount || !after.LastUsedAt.Equal(*before.LastUsedAt) || after.BackupEligible != before.BackupEligible {
				t.Errorf("credential changed by refusal: %+v -> %+v", before, after)
			}
			if wantClone := errors.Is(tc.kind, ErrCloneDetected); after.CloneWarning != wantClone {
				t.Errorf("clone warning = %v, want %v", after.CloneWarning, wantClone)
			}
		})
	}
}

// tamperSignature flips a bit inside the assertion's signature.
func tamperSignature(e *env, body []byte) []byte {
	e.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		e.t.Fatal(err)
	}
	resp := m["response"].(map[string]any)
	sig, _ := base64.RawURLEncoding.DecodeString(resp["signature"].(string))
	sig[len(sig)-1] ^= 0x01
	resp["signature"] = base64.RawURLEncoding.EncodeToString(sig)
	out, _ := json.Marshal(m)
	return out
}

func TestCloneWarningBlocksLaterSignIns(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("alice")
	a := passkeytest.New(testRPID, testOrigin)
	e.register(u, a)
	for range 3 {
		if _, err := e.login(a, ""); err != nil {
			t.Fatal(err)
		}
	}
	clone := a.Clone()
	clone.SetSignCount(1) // the copy lags behind the original
	_, err := e.login(clone, "")
	wantKind(t, err, ErrCloneDetected, "clone_detected")
	// The original, with a higher counter, stays blocked until an admin
	// clears the flag.
	_, err = e.login(a, "")
	wantKind(t, err, ErrCloneDetected, "clone_detected")
	if st := e.storedCredential(a.CredentialID()); !st.CloneWarning || st.SignCount != 3 {
		t.Errorf("stored clone warning %v sign count %d", st.CloneWarning, st.SignCount)
	}
}

func TestZeroSignCountAuthenticators(t *testing.T) {
	// Many platform authenticators always report 0; that is no clone signal
	// (WebAuthn L3 §6.1.1).
	e := newEnv(t)
	u := e.newUser("alice")
	a := passkeytest.New(testRPID, testOrigin)
	e.register(u, a)
	for range 2 {
		a.SetSignCount(^uint32(0)) // wraps to 0 on the next Get
		if _, err := e.login(a, ""); err != nil {
			t.Fatalf("zero counter refused: %v", err)
		}
	}
}

// VerifyLogin leaves the credential as it was until the caller's
// SaveLogin; FinishLogin writes at once.
func TestVerifyThenSaveLogin(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("dora")
	auth := passkeytest.New(testRPID, testOrigin)
	cred := e.register(u, auth)

	id, opts, err := e.svc.BeginLogin(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	body, err := auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.VerifyLogin(e.ctx, id, "", body)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.storedCredential(cred.CredentialID); got.SignCount != 0 || got.LastUsedAt != nil {
		t.Fatalf("VerifyLogin wrote the credential: count %d, last used %v", got.SignCount, got.LastUsedAt)
	}
	if res.Credential.SignCount != auth.SignCount() {
		t.Fatalf("result carries count %d, want %d", res.Credential.SignCount, auth.SignCount())
	}
	if err := e.svc.SaveLogin(e.ctx, e.db, res); err != nil {
		t.Fatal(err)
	}
	if got := e.storedCredential(cred.CredentialID); got.SignCount != auth.SignCount() || got.LastUsedAt == nil {
		t.Fatalf("after SaveLogin: count %d, last used %v", got.SignCount, got.LastUsedAt)
	}

	if _, err := e.login(auth, ""); err != nil { // FinishLogin: written by the sign-in
		t.Fatal(err)
	}
	if got := e.storedCredential(cred.CredentialID); got.SignCount != auth.SignCount() {
		t.Fatalf("FinishLogin: stored count %d, want %d", got.SignCount, auth.SignCount())
	}
	if err := e.svc.SaveLogin(e.ctx, e.db, nil); err != nil {
		t.Fatalf("SaveLogin of no result: %v", err)
	}
}
