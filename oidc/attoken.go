package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// JWT access tokens carry the header typ "at+jwt" (RFC 9068 §2.1), so a
// resource server cannot take an ID token for an access token. op signs
// every JWT with typ "JWT" (op.SignerFromKey fixes it), so Latchkey's
// token endpoint (server.go tokenResponse) signs access tokens itself,
// once, with key.sign; the ID token is then signed once by op, its
// at_hash computed over the final access token (OIDC Core §3.1.3.6).

// sign returns the compact JWS (RFC 7515 §7.1) of payload under typ,
// with the protected header {"alg","kid","typ"}. It is written here
// rather than with go-jose's signer, which is built anew for each token
// and marshals the header every time: 57 vs 47 µs and 136 vs 59
// allocations per ES256 token (four per sign-in). TestKeySign checks the
// output with go-jose's verifier for both algorithms.
func (k *key) sign(typ string, payload []byte) (string, error) {
	if k.alg != jose.RS256 && k.alg != jose.ES256 {
		return "", fmt.Errorf("signing with %s is not supported", k.alg)
	}
	hdr, err := k.header(typ)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	b := make([]byte, 0, len(hdr)+enc.EncodedLen(len(payload))+2+enc.EncodedLen(512))
	b = append(b, hdr...)
	b = append(b, '.')
	b = enc.AppendEncode(b, payload)
	digest := sha256.Sum256(b)
	sig, err := k.private.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", err
	}
	// RS256 is RSASSA-PKCS1-v1_5, what rsa's Sign does given a hash.
	if k.alg == jose.ES256 {
		// RFC 7518 §3.4: R and S as two 32-byte big-endian integers, not
		// the ASN.1 DER that crypto.Signer returns.
		if sig, err = ecdsaRaw(sig, 32); err != nil {
			return "", err
		}
	}
	b = append(b, '.')
	return string(enc.AppendEncode(b, sig)), nil
}

// header returns the base64url protected header of k's tokens of typ.
func (k *key) header(typ string) (string, error) {
	if k.headers != nil {
		if h, ok := k.headers.Load(typ); ok {
			return h.(string), nil
		}
	}
	raw, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{string(k.alg), k.id, typ})
	if err != nil {
		return "", err
	}
	h := base64.RawURLEncoding.EncodeToString(raw)
	if k.headers != nil {
		k.headers.Store(typ, h)
	}
	return h, nil
}

// ecdsaRaw turns an ASN.1 ECDSA signature into R || S of size bytes each.
func ecdsaRaw(der []byte, size int) ([]byte, error) {
	var r, s []byte
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !in.Empty() ||
		!readUnsignedInt(&seq, &r) || !readUnsignedInt(&seq, &s) || !seq.Empty() || len(r) > size || len(s) > size {
		return nil, errors.New("malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	copy(out[size-len(r):size], r)
	copy(out[2*size-len(s):], s)
	return out, nil
}

// readUnsignedInt reads a non-negative ASN.1 INTEGER's big-endian bytes
// without its leading zero.
func readUnsignedInt(s *cryptobyte.String, out *[]byte) bool {
	var v cryptobyte.String
	if !s.ReadASN1(&v, casn1.INTEGER) || len(v) == 0 || v[0]&0x80 != 0 {
		return false
	}
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	*out = v
	return true
}
