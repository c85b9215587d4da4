package passkeys

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

var (
	aaguidGood    = [16]byte{0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	aaguidOther   = [16]byte{0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	aaguidRevoked = [16]byte{0x30, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	aaguidUnknown = [16]byte{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	aaguidForeign = [16]byte{0x50, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
)

// newFIDO makes the test PKI and imports a blob with the test models:
// good and other chain to the test attestation root, revoked is REVOKED,
// foreign lists another vendor's root.
func (e *env) newFIDO(importBlob bool) *passkeytest.FIDO {
	e.t.Helper()
	f, err := passkeytest.NewFIDO()
	if err != nil {
		e.t.Fatal(err)
	}
	if importBlob {
		blob, err := f.Blob(7,
			passkeytest.MDSEntry{AAGUID: aaguidGood, Description: "Test Key Good"},
			passkeytest.MDSEntry{AAGUID: aaguidOther, Description: "Test Key Other"},
			passkeytest.MDSEntry{AAGUID: aaguidRevoked, Description: "Test Key Revoked", Status: "REVOKED"},
			passkeytest.MDSEntry{AAGUID: aaguidForeign, Description: "Test Key Foreign", OtherRoot: true},
		)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := ImportMDS(e.ctx, e.db, blob, string(f.MDSRootPEM())); err != nil {
			e.t.Fatalf("import test blob: %v", err)
		}
	}
	return f
}

// withConfig rebuilds the service with cfg changed by mutate.
func (e *env) withConfig(mutate func(*Config)) {
	e.t.Helper()
	cfg := Config{RPID: testRPID, RPDisplayName: "Latchkey", RPOrigins: []string{testOrigin}}
	mutate(&cfg)
	svc, err := New(cfg, e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
}

// tryRegister runs a registration and returns its options and result.
func (e *env) tryRegister(u *models.User, auth *passkeytest.Authenticator) ([]byte, *models.Credential, error) {
	e.t.Helper()
	id, opts, err := e.svc.BeginRegistration(e.ctx, u, e.setupToken(u))
	if err != nil {
		e.t.Fatal(err)
	}
	body, err := auth.Create(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	cred, err := e.svc.FinishRegistration(e.ctx, id, body, "")
	return opts, cred, err
}

type authKind struct {
	name   string
	synced bool
	att    string // "none", "packed-self", "packed"
	aaguid [16]byte
}

func (e *env) authenticator(f *passkeytest.FIDO, k authKind) *passkeytest.Authenticator {
	e.t.Helper()
	a := passkeytest.New(testRPID, testOrigin)
	a.BackupEligible, a.BackupState, a.AAGUID = k.synced, k.synced, k.aaguid
	switch k.att {
	case "packed":
		if err := f.Equip(a); err != nil {
			e.t.Fatal(err)
		}
	case "packed-self":
		a.Attestation = "packed-self"
	}
	return a
}

var (
	syncedNone   = authKind{name: "synced none", synced: true, att: "none", aaguid: googleAAGUID}
	boundNone    = authKind{name: "device-bound none", att: "none", aaguid: aaguidGood}
	boundSelf    = authKind{name: "device-bound packed self", att: "packed-self", aaguid: aaguidGood}
	boundPacked  = authKind{name: "device-bound packed", att: "packed", aaguid: aaguidGood}
	syncedPacked = authKind{name: "synced packed", synced: true, att: "packed", aaguid: aaguidGood}
	otherPacked  = authKind{name: "other model packed", att: "packed", aaguid: aaguidOther}
	revoked      = authKind{name: "revoked model", att: "packed", aaguid: aaguidRevoked}
	unknownModel = authKind{name: "model without metadata", att: "packed", aaguid: aaguidUnknown}
	foreignRoot  = authKind{name: "attestation from another root", att: "packed", aaguid: aaguidForeign}
)

func TestRegistrationPolicy(t *testing.T) {
	good := FormatAAGUID(aaguidGood[:])
	type want struct {
		reason string // "" accepted
		msg    string // part of the message
	}
	ok := want{}
	revokedRefusal := want{"policy_authenticator_revoked", "Test Key Revoked) has been reported to the FIDO Alliance as revoked or compromised"}
	for _, tc := range []struct {
		name     string
		policy   Policy
		noMDS    bool
		wantConv string
		cases    map[authKind]want
	}{
		{name: "any", policy: Policy{Level: PolicyAny}, wantConv: "none", cases: map[authKind]want{
			syncedNone: ok, boundNone: ok, boundSelf: ok, boundPacked: ok, syncedPacked: ok, unknownModel: ok, foreignRoot: ok,
			revoked: revokedRefusal,
		}},
		{name: "device-bound", policy: Policy{Level: PolicyDeviceBound}, wantConv: "none", cases: map[authKind]want{
			syncedNone:   {"policy_device_bound", "Your organisation only accepts passkeys that stay on one device, such as a security key. This passkey is synced (Google Password Manager). Use a hardware security key or a passkey that stays on this device."},
			syncedPacked: {"policy_device_bound", "This passkey can be synced to other devices"},
			boundNone:    ok, boundSelf: ok, boundPacked: ok, unknownModel: ok,
			revoked: revokedRefusal,
		}},
		{name: "attested", policy: Policy{Level: PolicyAttested}, wantConv: "direct", cases: map[authKind]want{
			syncedNone:   {"policy_device_bound", "stay on one device"},
			boundNone:    {"policy_attestation_missing", "This authenticator (Test Key Good) did not say who made it (no attestation)"},
			boundSelf:    {"policy_attestation_self", "only vouched for itself (self attestation)"},
			boundPacked:  ok,
			otherPacked:  ok,
			unknownModel: {"policy_attestation_untrusted", "does not chain to a manufacturer listed in the FIDO metadata"},
			foreignRoot:  {"policy_attestation_untrusted", "(Test Key Foreign) does not chain"},
			revoked:      revokedRefusal,
		}},
		{name: "attested with allow-list", policy: Policy{Level: PolicyAttested, AAGUIDAllow: []string{strings.ToUpper(good)}}, wantConv: "direct", cases: map[authKind]want{
			boundPacked: ok,
			otherPacked: {"policy_aaguid_not_allowed", "accepts only specific authenticator models, and Test Key Other is not one of them"},
		}},
		{name: "attested with deny-list", policy: Policy{Level: PolicyAttested, AAGUIDDeny: []string{good}}, wantConv: "direct", cases: map[authKind]want{
			boundPacked: {"policy_aaguid_denied", "does not accept passkeys from Test Key Good"},
			otherPacked: ok,
		}},
		{name: "attested without metadata", policy: Policy{Level: PolicyAttested}, noMDS: true, wantConv: "direct", cases: map[authKind]want{
			boundPacked: {"policy_no_metadata", "has no FIDO metadata to verify authenticators with yet"},
			boundNone:   {"policy_attestation_missing", "no attestation"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.newFIDO(!tc.noMDS)
			e.withConfig(func(c *Config) { c.Policy = tc.policy })
			for k, w := range tc.cases {
				t.Run(k.name, func(t *testing.T) {
					u := e.newUser(strings.ReplaceAll(tc.name+"-"+k.name, " ", "-"))
					opts, cred, err := e.tryRegister(u, e.authenticator(f, k))
					var o struct {
						PublicKey struct {
							Attestation string `json:"attestation"`
						} `json:"publicKey"`
					}
					if err := json.Unmarshal(opts, &o); err != nil || o.PublicKey.Attestation != tc.wantConv {
						t.Errorf("options attestation %q (%v), want %q", o.PublicKey.Attestation, err, tc.wantConv)
					}
					if w.reason == "" {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						wantVerified := k.att == "packed" && !tc.noMDS && k.aaguid != aaguidUnknown && k.aaguid != aaguidForeign
						if cred.AttestationVerified != wantVerified {
							t.Errorf("AttestationVerified = %v, want %v", cred.AttestationVerified, wantVerified)
						}
						return
					}
					wantKind(t, err, ErrPolicy, w.reason)
					var pe *Error
					errors.As(err, &pe)
					if !strings.Contains(pe.Message, w.msg) {
						t.Errorf("message %q\nwant it to contain %q", pe.Message, w.msg)
					}
					if n := e.countCredentials(u); n != 0 {
						t.Errorf("%d passkeys stored after a refusal", n)
					}
				})
			}
		})
	}
}

func TestRefusedRegistrationKeepsSetupLink(t *testing.T) {
	e := newEnv(t)
	e.withConfig(func(c *Config) { c.Policy.Level = PolicyDeviceBound })
	u := e.newUser("carol")
	st := e.setupToken(u)
	for i, k := range []authKind{syncedNone, boundNone} {
		id, opts, err := e.svc.BeginRegistration(e.ctx, u, st)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := e.authenticator(nil, k).Create(opts)
		_, err = e.svc.FinishRegistration(e.ctx, id, body, "")
		if i == 0 {
			wantKind(t, err, ErrPolicy, "policy_device_bound")
		} else if err != nil {
			t.Fatalf("second attempt with a security key: %v", err)
		}
	}
}

func TestGroupPolicyStrictestWins(t *testing.T) {
	e := newEnv(t)
	e.newFIDO(true)
	admin, staff := e.newUser("admin1"), e.newUser("staff1")
	if err := e.db.SetUserGroups(e.ctx, admin.ID, []string{"admins", "staff"}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetUserGroups(e.ctx, staff.ID, []string{"staff"}); err != nil {
		t.Fatal(err)
	}
	good, other := FormatAAGUID(aaguidGood[:]), FormatAAGUID(aaguidOther[:])
	if err := e.db.SetGroupPolicy(e.ctx, "admins", &models.GroupPolicy{Level: string(PolicyAttested), AAGUIDAllow: models.StringList{good, other}}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetGroupPolicy(e.ctx, "staff", &models.GroupPolicy{Level: string(PolicyDeviceBound), AAGUIDAllow: models.StringList{good}, AAGUIDDeny: models.StringList{other}}); err != nil {
		t.Fatal(err)
	}
	e.withConfig(func(c *Config) { c.Policy = Policy{AAGUIDDeny: []string{FormatAAGUID(aaguidRevoked[:])}} })
	p, err := e.svc.PolicyFor(e.ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Level != PolicyAttested || !slices.Equal(p.AAGUIDAllow, []string{good}) || len(p.AAGUIDDeny) != 2 {
		t.Errorf("admin policy %+v", p)
	}
	if p, _ := e.svc.PolicyFor(e.ctx, staff.ID); p.Level != PolicyDeviceBound {
		t.Errorf("staff policy %+v", p)
	}
	if p, _ := e.svc.PolicyFor(e.ctx, e.newUser("nobody").ID); p.Level != PolicyAny {
		t.Errorf("policy without groups %+v", p)
	}
	if got := Strictest(Policy{AAGUIDAllow: []string{good}}, Policy{AAGUIDAllow: []string{other}}); !got.allowNothing {
		t.Errorf("disjoint allow-lists allow something: %+v", got)
	}
	if pe := decide(Strictest(Policy{AAGUIDAllow: []string{good}}, Policy{AAGUIDAllow: []string{other}}), facts{aaguid: aaguidGood[:]}); pe == nil || pe.reason != "policy_aaguid_not_allowed" {
		t.Errorf("disjoint allow-lists: %v", pe)
	}
	_, _, err = e.tryRegister(staff, e.authenticator(nil, syncedNone))
	wantKind(t, err, ErrPolicy, "policy_device_bound")
	_, _, err = e.tryRegister(admin, e.authenticator(nil, boundNone))
	wantKind(t, err, ErrPolicy, "policy_attestation_missing")
	if _, _, err := e.tryRegister(e.newUser("outsider"), e.authenticator(nil, syncedNone)); err != nil {
		t.Errorf("user outside the groups: %v", err)
	}
}

func TestTightenedPolicyFlagsAndRefusesAfterGrace(t *testing.T) {
	e := newEnv(t)
	e.withConfig(func(c *Config) { c.PolicyGrace = 48 * time.Hour })
	u := e.newUser("dave")
	if err := e.db.SetUserGroups(e.ctx, u.ID, []string{"engineering"}); err != nil {
		t.Fatal(err)
	}
	synced := e.authenticator(nil, syncedNone)
	cred := e.register(u, synced)
	bound := e.authenticator(nil, boundNone)
	e.register(u, bound)
	if f, c, err := e.svc.ReconcilePolicy(e.ctx); err != nil || f != 0 || c != 0 {
		t.Fatalf("reconcile under any: flagged %d cleared %d err %v", f, c, err)
	}

	// The group's policy tightens to device-bound.
	if err := e.db.SetGroupPolicy(e.ctx, "engineering", &models.GroupPolicy{Level: string(PolicyDeviceBound)}); err != nil {
		t.Fatal(err)
	}
	flaggedAt := e.clock.Now()
	if f, _, err := e.svc.ReconcilePolicy(e.ctx); err != nil || f != 1 {
		t.Fatalf("reconcile: flagged %d, err %v", f, err)
	}
	if f, _, _ := e.svc.ReconcilePolicy(e.ctx); f != 0 {
		t.Errorf("second reconcile flagged %d again", f)
	}
	st, err := e.svc.Evaluate(e.ctx, e.storedCredential(cred.CredentialID))
	if err != nil {
		t.Fatal(err)
	}
	if st.Satisfied || st.Reason != "policy_device_bound" || st.FlaggedAt == nil || !st.FlaggedAt.Equal(flaggedAt) ||
		st.RefusedFrom == nil || !st.RefusedFrom.Equal(flaggedAt.Add(48*time.Hour)) || st.Refused || !st.Synced ||
		st.ProviderName != "Google Password Manager" || st.ProviderIcon == "" || st.ACR != ACRPhishingResistant {
		t.Errorf("status of the synced passkey: %+v", st)
	}
	evs, _ := e.db.AuditEvents(e.ctx, models.AuditFilter{UserID: u.ID, Type: models.EventPasskeyPolicyFlagged})
	if len(evs) != 1 || evs[0].Detail["credential"] != cred.ID || evs[0].Detail["reason"] != "policy_device_bound" {
		t.Errorf("audit events %+v", evs)
	}

	// Within the grace period the flagged passkey still signs in.
	e.clock.Advance(47 * time.Hour)
	res, err := e.login(synced, "")
	if err != nil {
		t.Fatalf("sign-in within the grace period: %v", err)
	}
	if res.ACR != ACRPhishingResistant || !slices.Equal(res.AMR, []string{"swk", "user", "mfa"}) {
		t.Errorf("acr %q amr %v", res.ACR, res.AMR)
	}
	// After it, it is refused; the device-bound one is not.
	e.clock.Advance(2 * time.Hour)
	_, err = e.login(synced, "")
	wantKind(t, err, ErrPolicy, "policy_grace_expired")
	var pe *Error
	errors.As(err, &pe)
	if !strings.Contains(pe.Message, "no longer meets your organisation's passkey policy") || !strings.Contains(pe.Message, "stay on one device") {
		t.Errorf("message %q", pe.Message)
	}
	if _, err := e.login(bound, ""); err != nil {
		t.Errorf("device-bound passkey: %v", err)
	}

	// Loosening the policy clears the flag.
	if err := e.db.DeleteGroupPolicy(e.ctx, "engineering"); err != nil {
		t.Fatal(err)
	}
	if _, c, err := e.svc.ReconcilePolicy(e.ctx); err != nil || c != 1 {
		t.Fatalf("reconcile after loosening: cleared %d, err %v", c, err)
	}
	if _, err := e.login(synced, ""); err != nil {
		t.Errorf("sign-in after loosening: %v", err)
	}
}

func TestSignInFlagsWithoutReconcile(t *testing.T) {
	e := newEnv(t)
	e.withConfig(func(c *Config) { c.PolicyGrace = -1 }) // no grace
	u := e.newUser("erin")
	synced := e.authenticator(nil, syncedNone)
	e.register(u, synced)
	e.withConfig(func(c *Config) { c.Policy.Level = PolicyDeviceBound; c.PolicyGrace = -1 })
	_, err := e.login(synced, "")
	wantKind(t, err, ErrPolicy, "policy_grace_expired")
	if st := e.storedCredential(synced.CredentialID()); st.PolicyFlaggedAt == nil {
		t.Error("refused passkey not flagged")
	}
}

func TestACRFromAttestation(t *testing.T) {
	e := newEnv(t)
	f := e.newFIDO(true)
	e.withConfig(func(c *Config) { c.Policy.Level = PolicyAttested })
	u := e.newUser("frank")
	a := e.authenticator(f, boundPacked)
	e.register(u, a)
	res, err := e.login(a, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.ACR != ACRPhishingResistantHardware || res.AMR[0] != "hwk" {
		t.Errorf("acr %q amr %v", res.ACR, res.AMR)
	}
	for _, tc := range []struct {
		acr  string
		req  []string
		want bool
	}{
		{"phr", nil, true}, {"phr", []string{"phr"}, true}, {"phr", []string{"phrh"}, false},
		{"phrh", []string{"phrh"}, true}, {"phr", []string{"phrh", "phr"}, true}, {"phr", []string{"urn:other"}, true},
	} {
		if got := ACRSatisfies(tc.acr, tc.req); got != tc.want {
			t.Errorf("ACRSatisfies(%q, %v) = %v", tc.acr, tc.req, got)
		}
	}
}

func TestImportMDS(t *testing.T) {
	e := newEnv(t)
	f := e.newFIDO(false)
	root := string(f.MDSRootPEM())
	blob, _ := f.Blob(3, passkeytest.MDSEntry{AAGUID: aaguidGood, Description: "Test Key Good"})
	if _, err := ImportMDS(e.ctx, e.db, blob, ""); err == nil {
		t.Error("a blob not signed under the FIDO root was imported")
	}
	other, _ := passkeytest.NewFIDO()
	if _, err := ImportMDS(e.ctx, e.db, blob, string(other.MDSRootPEM())); err == nil {
		t.Error("a blob signed under another root was imported")
	}
	tampered := []byte(strings.Replace(string(blob), ".", ".e30", 1))
	if _, err := ImportMDS(e.ctx, e.db, tampered, root); err == nil {
		t.Error("a tampered blob was imported")
	}
	if info, _ := MDSStatus(e.ctx, e.db); info != nil {
		t.Errorf("status before import: %+v", info)
	}
	info, err := ImportMDS(e.ctx, e.db, blob, root)
	if err != nil {
		t.Fatal(err)
	}
	if info.Serial != 3 || info.Entries != 1 || info.Stale || !info.ImportedAt.Equal(e.clock.Now()) {
		t.Errorf("import info %+v", info)
	}
	if _, err := ImportMDS(e.ctx, e.db, blob, root); !errors.Is(err, ErrMDSSame) {
		t.Errorf("same serial again: %v", err)
	}
	older, _ := f.Blob(2)
	if _, err := ImportMDS(e.ctx, e.db, older, root); !errors.Is(err, ErrMDSOlder) {
		t.Errorf("older serial: %v", err)
	}
	newer, _ := f.Blob(4, passkeytest.MDSEntry{AAGUID: aaguidGood, Description: "Test Key Good", Status: "USER_KEY_REMOTE_COMPROMISE"})
	if _, err := ImportMDS(e.ctx, e.db, newer, root); err != nil {
		t.Fatal(err)
	}
	st, err := MDSStatus(e.ctx, e.db)
	if err != nil || st.Serial != 4 {
		t.Errorf("status %+v %v", st, err)
	}
	// The service picks up the newer blob: the model is now compromised.
	md, err := e.svc.metadata(e.ctx)
	if err != nil || md.serial != 4 || !md.revoked(aaguidGood[:]) {
		t.Errorf("loaded metadata serial %v revoked %v err %v", md.serial, md.revoked(aaguidGood[:]), err)
	}
}

// ReconcilePolicy reads the passkeys a page at a time: with pages of two,
// eight passkeys of four users span four full pages and an empty one, and
// every synced one under the group's policy is flagged once, whichever
// page it is on; with pages of one, every flag is cleared once.
func TestReconcilePolicySpansPages(t *testing.T) {
	e := newEnv(t)
	var synced int
	for i, name := range []string{"erin", "frank", "grace"} {
		u := e.newUser(name)
		if err := e.db.SetUserGroups(e.ctx, u.ID, []string{"engineering"}); err != nil {
			t.Fatal(err)
		}
		for j := range 2 + i%2 {
			flags := boundNone
			if j%2 == 0 {
				flags, synced = syncedNone, synced+1
			}
			e.register(u, e.authenticator(nil, flags))
		}
	}
	e.register(e.newUser("outsider"), e.authenticator(nil, syncedNone)) // any policy: never flagged
	if err := e.db.SetGroupPolicy(e.ctx, "engineering", &models.GroupPolicy{Level: string(PolicyDeviceBound)}); err != nil {
		t.Fatal(err)
	}
	if f, c, err := e.svc.reconcileAll(e.ctx, 2); err != nil || f != synced || c != 0 || synced != 4 {
		t.Fatalf("reconcile in pages of 2: flagged %d cleared %d err %v, want %d flagged", f, c, err, synced)
	}
	if f, c, err := e.svc.reconcileAll(e.ctx, 2); err != nil || f != 0 || c != 0 {
		t.Fatalf("second reconcile: flagged %d cleared %d err %v", f, c, err)
	}
	if err := e.db.DeleteGroupPolicy(e.ctx, "engineering"); err != nil {
		t.Fatal(err)
	}
	if f, c, err := e.svc.reconcileAll(e.ctx, 1); err != nil || f != 0 || c != synced {
		t.Fatalf("reconcile in pages of 1: flagged %d cleared %d err %v, want %d cleared", f, c, err, synced)
	}
}
