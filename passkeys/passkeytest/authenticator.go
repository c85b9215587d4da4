// Package passkeytest is a software passkey authenticator for tests: it
// answers the options JSON of navigator.credentials.create and .get with
// the JSON body a browser would POST (PublicKeyCredential.toJSON(), all
// binary fields base64url).
//
// It holds one discoverable ES256 credential and uses "none" attestation
// unless Attestation asks for "packed" self or certificate attestation
// (see mds.go for a test FIDO PKI and metadata blob).
// Key material comes from crypto/ecdsa, whose public key encoding always
// has 32-byte coordinates, so it does not share descope/virtualwebauthn's
// occasional coordinate-padding flake. Do not use it outside tests.
package passkeytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Authenticator is a software authenticator with one credential. Its
// exported fields may be changed between calls to tamper with the next
// response.
type Authenticator struct {
	// Origin is written into clientDataJSON.
	Origin string
	// RPID is hashed into the authenticator data; "" uses the options' RP ID.
	RPID string
	// UP and UV set the user-present and user-verified flags (default true).
	UP, UV bool
	// BackupEligible and BackupState set the BE and BS flags.
	BackupEligible, BackupState bool
	// AAGUID is reported at registration (default all zeros).
	AAGUID [16]byte
	// UserHandle is returned in assertions; Create sets it from the options.
	UserHandle []byte
	// Transports are reported at registration (default ["internal", "hybrid"]).
	Transports []string
	// Discoverable is reported as credProps.rk (default true).
	Discoverable bool
	// Attestation is the statement format of Create: "" or "none",
	// "packed-self" (signed with the credential key, WebAuthn L3 §8.2) or
	// "packed" (signed with AttestationKey, certificate chain
	// AttestationChain, leaf first, DER).
	Attestation      string
	AttestationKey   *ecdsa.PrivateKey
	AttestationChain [][]byte

	key       *ecdsa.PrivateKey
	credID    []byte
	signCount uint32
}

// New returns an authenticator for rpID that puts origin into its client
// data, with UP and UV set and no backup flags.
func New(rpID, origin string) *Authenticator {
	return &Authenticator{
		Origin:       origin,
		RPID:         rpID,
		UP:           true,
		UV:           true,
		Transports:   []string{"internal", "hybrid"},
		Discoverable: true,
	}
}

// CredentialID returns the ID of the stored credential (nil before Create).
func (a *Authenticator) CredentialID() []byte { return bytes.Clone(a.credID) }

// SetSignCount sets the signature counter; the next Get reports n+1.
func (a *Authenticator) SetSignCount(n uint32) { a.signCount = n }

// SignCount returns the counter reported by the last response.
func (a *Authenticator) SignCount() uint32 { return a.signCount }

// Clone returns an authenticator holding the same credential and counter,
// as a cloned security key would.
func (a *Authenticator) Clone() *Authenticator {
	b := *a
	b.UserHandle = bytes.Clone(a.UserHandle)
	b.Transports = append([]string(nil), a.Transports...)
	b.credID = bytes.Clone(a.credID)
	b.AttestationChain = append([][]byte(nil), a.AttestationChain...)
	return &b
}

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		PubKeyCredParams []struct {
			Alg int `json:"alg"`
		} `json:"pubKeyCredParams"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

// Create answers creation options (as returned by BeginRegistration) with
// a new discoverable credential, replacing any earlier one. Like a real
// authenticator it refuses when its credential is in excludeCredentials.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("parse creation options: %w", err)
	}
	pk := o.PublicKey
	challenge, err := b64(pk.Challenge)
	if err != nil || len(challenge) == 0 {
		return nil, fmt.Errorf("creation options: bad challenge %q", pk.Challenge)
	}
	userID, err := b64(pk.User.ID)
	if err != nil || len(userID) == 0 {
		return nil, fmt.Errorf("creation options: bad user.id %q", pk.User.ID)
	}
	es256 := false
	for _, p := range pk.PubKeyCredParams {
		es256 = es256 || p.Alg == -7
	}
	if !es256 {
		return nil, errors.New("creation options: ES256 (-7) not offered")
	}
	for _, c := range pk.ExcludeCredentials {
		if id, _ := b64(c.ID); a.credID != nil && bytes.Equal(id, a.credID) {
			return nil, errors.New("InvalidStateError: credential already registered (excludeCredentials)")
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	credID := make([]byte, 32)
	if _, err := rand.Read(credID); err != nil {
		return nil, err
	}
	a.key, a.credID, a.UserHandle, a.signCount = key, credID, userID, 0

	clientData := a.clientData("webauthn.create", challenge)
	authData, err := a.authData(a.rpID(pk.RP.ID), true)
	if err != nil {
		return nil, err
	}
	format, stmt, err := a.attestationStatement(authData, clientData)
	if err != nil {
		return nil, err
	}
	attObj := cborMap(3,
		cborText("fmt"), cborText(format),
		cborText("attStmt"), stmt,
		cborText("authData"), cborBytes(authData))
	return json.Marshal(map[string]any{
		"id":    enc(credID),
		"rawId": enc(credID),
		"type":  "public-key",
		"response": map[string]any{
			"clientDataJSON":    enc(clientData),
			"attestationObject": enc(attObj),
			"transports":        a.Transports,
		},
		"clientExtensionResults":  map[string]any{"credProps": map[string]bool{"rk": a.Discoverable}},
		"authenticatorAttachment": "platform",
	})
}

type requestOptions struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		RPID             string `json:"rpId"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// Get answers request options (as returned by BeginLogin) with an
// assertion by the stored credential, including its user handle, after
// incrementing the signature counter.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	if a.key == nil {
		return nil, errors.New("NotAllowedError: no credential (call Create first)")
	}
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("parse request options: %w", err)
	}
	pk := o.PublicKey
	challenge, err := b64(pk.Challenge)
	if err != nil || len(challenge) == 0 {
		return nil, fmt.Errorf("request options: bad challenge %q", pk.Challenge)
	}
	if len(pk.AllowCredentials) > 0 {
		allowed := false
		for _, c := range pk.AllowCredentials {
			id, _ := b64(c.ID)
			allowed = allowed || bytes.Equal(id, a.credID)
		}
		if !allowed {
			return nil, errors.New("NotAllowedError: credential not in allowCredentials")
		}
	}
	a.signCount++
	clientData := a.clientData("webauthn.get", challenge)
	authData, err := a.authData(a.rpID(pk.RPID), false)
	if err != nil {
		return nil, err
	}
	sig, err := a.sign(authData, clientData)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id":    enc(a.credID),
		"rawId": enc(a.credID),
		"type":  "public-key",
		"response": map[string]any{
			"clientDataJSON":    enc(clientData),
			"authenticatorData": enc(authData),
			"signature":         enc(sig),
			"userHandle":        enc(a.UserHandle),
		},
		"clientExtensionResults":  map[string]any{},
		"authenticatorAttachment": "platform",
	})
}

func (a *Authenticator) rpID(fromOptions string) string {
	if a.RPID != "" {
		return a.RPID
	}
	return fromOptions
}

func (a *Authenticator) clientData(typ string, challenge []byte) []byte {
	b, _ := json.Marshal(map[string]any{
		"type":        typ,
		"challenge":   enc(challenge),
		"origin":      a.Origin,
		"crossOrigin": false,
	})
	return b
}

// authData builds rpIdHash(32) | flags(1) | signCount(4) | [attested
// credential data] (WebAuthn L3 §6.1).
func (a *Authenticator) authData(rpID string, attested bool) ([]byte, error) {
	h := sha256.Sum256([]byte(rpID))
	var flags byte
	for _, f := range []struct {
		on  bool
		bit byte
	}{{a.UP, 0x01}, {a.UV, 0x04}, {a.BackupEligible, 0x08}, {a.BackupState, 0x10}, {attested, 0x40}} {
		if f.on {
			flags |= f.bit
		}
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.signCount)
	if !attested {
		return out, nil
	}
	cose, err := a.coseKey()
	if err != nil {
		return nil, err
	}
	out = append(out, a.AAGUID[:]...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(a.credID))) //nolint:gosec // G115: credential IDs are at most 1023 bytes (WebAuthn §5.8.3)
	out = append(out, a.credID...)
	return append(out, cose...), nil
}

// coseKey encodes the public key as a COSE_Key (RFC 9053 §7.1.1: kty EC2,
// alg ES256, crv P-256, x, y).
func (a *Authenticator) coseKey() ([]byte, error) {
	pub, err := a.key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := pub.Bytes() // 0x04 | X(32) | Y(32)
	if len(raw) != 65 {
		return nil, fmt.Errorf("unexpected public key length %d", len(raw))
	}
	return cborMap(5,
		cborInt(1), cborInt(2),
		cborInt(3), cborInt(-7),
		cborInt(-1), cborInt(1),
		cborInt(-2), cborBytes(raw[1:33]),
		cborInt(-3), cborBytes(raw[33:65])), nil
}

// sign returns the ASN.1 DER ECDSA signature over authData | SHA-256(clientData).
func (a *Authenticator) sign(authData, clientData []byte) ([]byte, error) {
	return signWith(a.key, authData, clientData)
}

func signWith(key *ecdsa.PrivateKey, authData, clientData []byte) ([]byte, error) {
	ch := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(bytes.Clone(authData), ch[:]...))
	return ecdsa.SignASN1(rand.Reader, key, digest[:])
}

// attestationStatement returns the format and the CBOR attStmt for Create.
func (a *Authenticator) attestationStatement(authData, clientData []byte) (string, []byte, error) {
	switch a.Attestation {
	case "", "none":
		return "none", cborMap(0), nil
	case "packed-self":
		sig, err := a.sign(authData, clientData)
		if err != nil {
			return "", nil, err
		}
		return "packed", cborMap(2, cborText("alg"), cborInt(-7), cborText("sig"), cborBytes(sig)), nil
	case "packed":
		if a.AttestationKey == nil || len(a.AttestationChain) == 0 {
			return "", nil, errors.New("packed attestation needs AttestationKey and AttestationChain")
		}
		sig, err := signWith(a.AttestationKey, authData, clientData)
		if err != nil {
			return "", nil, err
		}
		x5c := cborHead(4, uint64(len(a.AttestationChain)))
		for _, c := range a.AttestationChain {
			x5c = append(x5c, cborBytes(c)...)
		}
		return "packed", cborMap(3, cborText("alg"), cborInt(-7), cborText("sig"), cborBytes(sig), cborText("x5c"), x5c), nil
	}
	return "", nil, fmt.Errorf("unknown attestation %q", a.Attestation)
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(s)
}

// Minimal canonical CBOR (RFC 8949) for the few shapes needed here.

func cborHead(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 1<<8:
		return []byte{major<<5 | 24, byte(n)}
	case n < 1<<16:
		return binary.BigEndian.AppendUint16([]byte{major<<5 | 25}, uint16(n))
	case n < 1<<32:
		return binary.BigEndian.AppendUint32([]byte{major<<5 | 26}, uint32(n))
	default:
		return binary.BigEndian.AppendUint64([]byte{major<<5 | 27}, n)
	}
}

func cborInt(v int) []byte {
	if v < 0 {
		return cborHead(1, uint64(-1-v))
	}
	return cborHead(0, uint64(v))
}

func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }

func cborText(s string) []byte { return append(cborHead(3, uint64(len(s))), s...) }

func cborMap(pairs int, items ...[]byte) []byte {
	out := cborHead(5, uint64(pairs)) //nolint:gosec // G115: a small literal count of map entries
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}
