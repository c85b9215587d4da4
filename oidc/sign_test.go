package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// key.sign writes compact JWSs that go-jose verifies, with the header
// RFC 9068 and RFC 7515 ask for, for both algorithms; its ES256 signature
// is R || S (RFC 7518 §3.4), never ASN.1.
func TestKeySign(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"sub":"u1","jti":"j","aud":["c"],"x":"\u003c/script\u003e"}`)
	for _, tc := range []struct {
		alg    jose.SignatureAlgorithm
		signer crypto.Signer
		sigLen int
	}{{jose.ES256, ec, 64}, {jose.RS256, rs, 256}} {
		k := &key{id: `kid "1"`, alg: tc.alg, private: tc.signer, public: tc.signer.Public(), headers: new(sync.Map)}
		for _, typ := range []string{"at+jwt", "JWT", "at+jwt"} { // the third uses the cached header
			for i := 0; i < 20; i++ { // short R or S values must be padded
				tok, err := k.sign(typ, payload)
				if err != nil {
					t.Fatal(err)
				}
				jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{tc.alg})
				if err != nil {
					t.Fatalf("%s: %v", tc.alg, err)
				}
				got, err := jws.Verify(tc.signer.Public())
				if err != nil || string(got) != string(payload) {
					t.Fatalf("%s %s: verify: %v (payload %q)", tc.alg, typ, err, got)
				}
				h := jws.Signatures[0].Protected
				if h.Algorithm != string(tc.alg) || h.KeyID != `kid "1"` || h.ExtraHeaders["typ"] != typ {
					t.Fatalf("%s header %+v", tc.alg, h)
				}
				sig, err := base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
				if err != nil || len(sig) != tc.sigLen {
					t.Fatalf("%s signature of %d bytes, want %d (%v)", tc.alg, len(sig), tc.sigLen, err)
				}
				var raw map[string]any
				hdr, _ := base64.RawURLEncoding.DecodeString(tok[:strings.IndexByte(tok, '.')])
				if err := json.Unmarshal(hdr, &raw); err != nil || len(raw) != 3 {
					t.Fatalf("header %s: %v", hdr, err)
				}
			}
		}
	}
	bad := &key{id: "k", alg: jose.PS256, private: rs}
	if _, err := bad.sign("JWT", payload); err == nil {
		t.Fatal("signed with an algorithm Latchkey does not offer")
	}
}

func TestECDSARawRefusesMalformed(t *testing.T) {
	for _, der := range [][]byte{nil, {0x30, 0x00}, {0x30, 0x03, 0x02, 0x01, 0x01}, {0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01},
		append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, make([]byte, 36)...)} {
		if _, err := ecdsaRaw(der, 32); err == nil {
			t.Errorf("accepted % x", der)
		}
	}
}

// The keyring remembers the tokens it signed: checking one again is a
// hash lookup, while any other bytes — a changed signature or payload, or
// a token of a key no longer published — are verified (and refused) as
// before; the memo keeps its newest sigMemoSize tokens.
func TestSigMemo(t *testing.T) {
	e := newEnv(t)
	k, err := e.s.keys.signingKey(e.ctx, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := e.s.signJWT(e.ctx, jose.ES256, "at+jwt", map[string]string{"sub": "u", "jti": "1"})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(signed, signingAlgs)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := jws.CompactSerialize(); err != nil || again != signed {
		t.Fatalf("a parsed token serialises as %q (%v), not as signed", again, err)
	}
	if !e.s.keys.verified.known(signed, k.id) {
		t.Fatal("a token just signed is not remembered")
	}
	if p, err := e.s.keys.VerifySignature(e.ctx, jws); err != nil || string(p) != `{"jti":"1","sub":"u"}` {
		t.Fatalf("remembered token: %s, %v", p, err)
	}
	// Another signature over the same payload, and the same signature
	// over another payload.
	dot := strings.LastIndexByte(signed, '.')
	sig := []byte(signed[dot+1:])
	sig[3] ^= 1
	b64 := base64.RawURLEncoding.EncodeToString
	for _, forged := range []string{signed[:dot+1] + string(sig),
		signed[:strings.IndexByte(signed, '.')+1] + b64([]byte(`{"jti":"1","sub":"admin"}`)) + signed[dot:]} {
		fj, err := jose.ParseSignedCompact(forged, signingAlgs)
		if err != nil {
			continue // refused while parsing
		}
		if _, err := e.s.keys.VerifySignature(e.ctx, fj); err == nil {
			t.Fatalf("forged token %s accepted", forged)
		}
	}
	// Forgotten after sigMemoSize newer tokens, and still verified.
	for i := 0; i < sigMemoSize; i++ {
		e.s.keys.verified.remember(b64([]byte{byte(i), byte(i >> 8)}), k.id)
	}
	if e.s.keys.verified.known(signed, k.id) || len(e.s.keys.verified.kids) != sigMemoSize {
		t.Fatalf("memo holds %d tokens, and still the oldest", len(e.s.keys.verified.kids))
	}
	if _, err := e.s.keys.VerifySignature(e.ctx, jws); err != nil || !e.s.keys.verified.known(signed, k.id) {
		t.Fatalf("forgotten token: %v (remembered again: %v)", err, e.s.keys.verified.known(signed, k.id))
	}
	// A token of a key that is no longer published is refused although
	// it is remembered.
	if err := e.db.Gorm().Exec("DELETE FROM signing_keys WHERE id = ?", k.id).Error; err != nil {
		t.Fatal(err)
	}
	e.s.keys.mu.Lock()
	err = e.s.keys.reloadLocked(e.ctx, false)
	e.s.keys.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.keys.VerifySignature(e.ctx, jws); err == nil {
		t.Fatal("a remembered token of a withdrawn key was accepted")
	}
}
