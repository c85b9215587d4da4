package passkeys

import (
	"testing"

	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// newVirtualCredential returns a descope/virtualwebauthn credential whose
// EC coordinates are 32 bytes each: the library encodes them with
// big.Int.Bytes(), which drops leading zero bytes about 1 time in 128,
// and go-webauthn then rightly refuses the key.
func newVirtualCredential(t *testing.T, kt virtualwebauthn.KeyType) virtualwebauthn.Credential {
	t.Helper()
	for range 50 {
		cred := virtualwebauthn.NewCredential(kt)
		if kt != virtualwebauthn.KeyTypeEC2 {
			return cred
		}
		var k webauthncose.EC2PublicKeyData
		if err := webauthncbor.Unmarshal(cred.Key.AttestationData(), &k); err != nil {
			t.Fatal(err)
		}
		if len(k.XCoord) == 32 && len(k.YCoord) == 32 {
			return cred
		}
	}
	t.Fatal("no well-formed EC key after 50 attempts")
	return virtualwebauthn.Credential{}
}

// TestVirtualWebAuthnInterop registers and signs in with a second,
// independent software authenticator that uses packed self attestation.
func TestVirtualWebAuthnInterop(t *testing.T) {
	for _, kt := range []virtualwebauthn.KeyType{virtualwebauthn.KeyTypeEC2, virtualwebauthn.KeyTypeRSA} {
		t.Run(string(kt), func(t *testing.T) {
			e := newEnv(t)
			u := e.newUser("vera")
			rp := virtualwebauthn.RelyingParty{Name: "Latchkey", ID: testRPID, Origin: testOrigin}
			auth := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{BackupEligible: true})
			cred := newVirtualCredential(t, kt)

			id, opts, err := e.svc.BeginRegistration(e.ctx, u, e.setupToken(u))
			if err != nil {
				t.Fatal(err)
			}
			ao, err := virtualwebauthn.ParseAttestationOptions(string(opts))
			if err != nil {
				t.Fatal(err)
			}
			body := virtualwebauthn.CreateAttestationResponse(rp, auth, cred, *ao)
			stored, err := e.svc.FinishRegistration(e.ctx, id, []byte(body), "Virtual")
			if err != nil {
				t.Fatalf("finish registration: %v", err)
			}
			if stored.AttestationFormat != "packed" || stored.AttestationType != "basic_surrogate" || !stored.BackupEligible || stored.Name != "Virtual" {
				t.Errorf("stored %q/%q BE=%v name %q", stored.AttestationFormat, stored.AttestationType, stored.BackupEligible, stored.Name)
			}

			auth.Options.UserHandle = []byte(ao.UserID)
			auth.AddCredential(cred)
			for i := range 2 {
				id, opts, err := e.svc.BeginLogin(e.ctx, "ar")
				if err != nil {
					t.Fatal(err)
				}
				ro, err := virtualwebauthn.ParseAssertionOptions(string(opts))
				if err != nil {
					t.Fatal(err)
				}
				// Discoverable: no allowCredentials, so the authenticator picks its own.
				c := &auth.Credentials[0]
				c.Counter = uint32(i + 1)
				res, err := e.svc.FinishLogin(e.ctx, id, "ar", []byte(virtualwebauthn.CreateAssertionResponse(rp, auth, *c, *ro)))
				if err != nil {
					t.Fatalf("login %d: %v", i+1, err)
				}
				if res.User.ID != u.ID || res.AMR[0] != "swk" || res.Credential.SignCount != uint32(i+1) {
					t.Errorf("login %d: %+v", i+1, res)
				}
			}
		})
	}
}
