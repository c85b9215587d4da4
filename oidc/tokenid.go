package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// Tokens name what they were issued from and carry a MAC, so that no
// token needs a row of its own (models.Grant):
//
//	refresh token   <grant ID>.<generation>.<MAC>
//	access token ID g.<grant ID>.<generation>.<iat>.<exp>.<scopes>.<MAC>   (a user's grant)
//	                c.<random>.<iat>.<exp>.<scopes>.<audience>.<MAC>        (client credentials)
//
// A DPoP-bound access token ID (RFC 9449) has the key's thumbprint as one
// more field before the MAC.
//
// The access token ID is the JWT's jti (RFC 9068 §2.2) or what op
// encrypts into an opaque token; <scopes> is empty when the token has the
// grant's scopes, else the base64url of the space-separated scopes (a
// refresh may narrow them, RFC 6749 §6). The MACs are HMAC-SHA256 under
// keys derived from the op crypto key, which is sealed by the master key,
// so a stolen database yields no token. A refresh token's MAC is what lets
// an old generation count as a replay (RFC 9700 §4.14.2): a forged one
// cannot revoke somebody's grant. The access token ID's MAC does not rely
// on the JWT signature or on op's encryption (which also decrypts
// unauthenticated AES-CFB, op.NewAESDecrypter) to keep its fields honest.

// tokenKeys are the MAC keys of refresh tokens and access token IDs.
type tokenKeys struct{ refresh, access, dpopNonce []byte }

func newTokenKeys(cryptoKey [32]byte) tokenKeys {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, cryptoKey[:])
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return tokenKeys{refresh: derive("latchkey refresh token v1"), access: derive("latchkey access token id v1"),
		dpopNonce: derive("latchkey dpop nonce v1")}
}

func mac(key []byte, msg string, size int) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:size])
}

// checkMAC splits s at its last dot and checks the MAC of the part before
// it in constant time.
func checkMAC(key []byte, s string, size int) (string, bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return "", false
	}
	body, got := s[:i], s[i+1:]
	return body, hmac.Equal([]byte(got), []byte(mac(key, body, size)))
}

// refreshToken returns the refresh token of generation gen of a grant.
func (k tokenKeys) refreshToken(grantID string, gen int64) string {
	body := grantID + "." + strconv.FormatInt(gen, 10)
	return body + "." + mac(k.refresh, body, sha256.Size)
}

// errNotOurs is a token that is not one of ours (or was tampered with).
var errNotOurs = errors.New("not a token of this provider")

// parseRefreshToken returns the grant and generation an authentic refresh
// token names; errNotOurs for anything else (including the format before
// grants: callers try models.GrantStore.LiveLegacyGrant then).
func (k tokenKeys) parseRefreshToken(raw string) (grantID string, gen int64, err error) {
	if len(raw) > 256 {
		return "", 0, errNotOurs
	}
	body, ok := checkMAC(k.refresh, raw, sha256.Size)
	if !ok {
		return "", 0, errNotOurs
	}
	grantID, n, ok := strings.Cut(body, ".")
	if !ok {
		return "", 0, errNotOurs
	}
	if gen, err = strconv.ParseInt(n, 10, 64); err != nil || gen < 1 {
		return "", 0, errNotOurs
	}
	return grantID, gen, nil
}

// accessTokenID is what an access token's ID says.
type accessTokenID struct {
	grant      string // the grant's ID; "" for client credentials
	generation int64  // the grant's refresh generation at issue
	random     string // client credentials: makes the ID unique
	issued     time.Time
	expires    time.Time
	scopes     []string // nil: the grant's
	audience   []string // client credentials only
	jkt        string   // the DPoP key it is bound to (RFC 9449 §6); "" unbound
}

// accessMACSize is the access token ID's MAC: 128 bits.
const accessMACSize = 16

func encodeList(l []string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(l, " ")))
}

func decodeList(s string) ([]string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	if len(b) == 0 {
		return []string{}, true
	}
	return strings.Split(string(b), " "), true
}

// encode returns the token ID with its MAC.
func (k tokenKeys) encode(t accessTokenID) string {
	iat, exp := strconv.FormatInt(t.issued.Unix(), 10), strconv.FormatInt(t.expires.Unix(), 10)
	var body string
	if t.grant != "" {
		scopes := ""
		if t.scopes != nil {
			scopes = encodeList(t.scopes)
		}
		body = strings.Join([]string{"g", t.grant, strconv.FormatInt(t.generation, 10), iat, exp, scopes}, ".")
	} else {
		body = strings.Join([]string{"c", t.random, iat, exp, encodeList(t.scopes), encodeList(t.audience)}, ".")
	}
	if t.jkt != "" {
		body += "." + t.jkt
	}
	return body + "." + mac(k.access, body, accessMACSize)
}

// decode checks an access token ID's MAC and reads it; errNotOurs for
// anything else.
func (k tokenKeys) decode(id string) (accessTokenID, error) {
	var t accessTokenID
	if len(id) > 4096 {
		return t, errNotOurs
	}
	body, ok := checkMAC(k.access, id, accessMACSize)
	if !ok {
		return t, errNotOurs
	}
	f := strings.Split(body, ".")
	if len(f) == 7 { // DPoP-bound
		t.jkt, f = f[6], f[:6]
		ok = t.jkt != ""
	}
	num := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			ok = false
		}
		return n
	}
	switch {
	case len(f) == 6 && f[0] == "g":
		t.grant, t.generation = f[1], num(f[2])
		t.issued, t.expires = time.Unix(num(f[3]), 0).UTC(), time.Unix(num(f[4]), 0).UTC()
		if f[5] != "" {
			t.scopes, ok = decodeListAnd(ok, f[5])
		}
	case len(f) == 6 && f[0] == "c":
		t.random = f[1]
		t.issued, t.expires = time.Unix(num(f[2]), 0).UTC(), time.Unix(num(f[3]), 0).UTC()
		t.scopes, ok = decodeListAnd(ok, f[4])
		t.audience, ok = decodeListAnd(ok, f[5])
	default:
		ok = false
	}
	if !ok || t.grant == "" && t.random == "" {
		return accessTokenID{}, errNotOurs
	}
	return t, nil
}

// decodeOK is decode for callers to whom a token not ours is no error.
func (k tokenKeys) decodeOK(id string) (accessTokenID, bool) {
	t, err := k.decode(id)
	return t, err == nil
}

func decodeListAnd(ok bool, s string) ([]string, bool) {
	l, ok2 := decodeList(s)
	return l, ok && ok2
}

// idHash is what models keeps of an access token revoked on its own.
func idHash(id string) []byte { return models.HashToken(id) }
