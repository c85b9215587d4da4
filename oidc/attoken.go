package oidc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Token responses are signed once, after op has built them.
//
// RFC 9068 §2.1: a JWT access token has the header typ "at+jwt", so a
// resource server cannot take an ID token for an access token. op signs
// every JWT with typ "JWT" (op.SignerFromKey fixes it, and a signing key
// cannot change the protected header, which is part of the signed input).
// Re-signing op's output would cost four signature operations per grant
// where two are needed, so on the token endpoint (authorization_code,
// refresh_token grants) SigningKey hands op a deferred key: op's JWTs get
// an empty signature, the response is buffered, and flush signs each JWT
// exactly once — the access token under typ "at+jwt" with op's payload
// bytes, the ID token under "JWT" with its at_hash recomputed over the
// final access token (OIDC Core §3.1.3.6).
//
// The deferred key exists only in a request that flush finishes: a JWT
// with an empty signature never leaves the server. If signing fails the
// client gets a server_error, not the unsigned token. Client credentials
// and device grants sign as at+jwt directly (clientcredentials.go).

// tokenState is the state of one token endpoint request.
type tokenState struct {
	// used records that op produced JWTs that flush must sign.
	used bool
	// redeemed is the auth request whose code this request redeemed
	// (authrequest.go).
	redeemed string
}

func withTokenState(ctx context.Context) (context.Context, *tokenState) {
	ts := &tokenState{}
	return context.WithValue(ctx, ctxKeyTokenState, ts), ts
}

func tokenStateFrom(ctx context.Context) *tokenState {
	ts, _ := ctx.Value(ctxKeyTokenState).(*tokenState)
	return ts
}

// deferredKey is the op.SigningKey of a deferred request; its Key is a
// jose.OpaqueSigner that signs nothing.
type deferredKey struct {
	k  *key
	ts *tokenState
}

func (dk deferredKey) SignatureAlgorithm() jose.SignatureAlgorithm { return dk.k.alg }
func (dk deferredKey) Key() any                                    { return dk }
func (dk deferredKey) ID() string                                  { return dk.k.id }

// Public, Algs and SignPayload implement jose.OpaqueSigner.
func (dk deferredKey) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: dk.k.public, KeyID: dk.k.id, Algorithm: string(dk.k.alg), Use: "sig"}
}
func (dk deferredKey) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{dk.k.alg} }
func (dk deferredKey) SignPayload([]byte, jose.SignatureAlgorithm) ([]byte, error) {
	dk.ts.used = true
	return nil, nil
}

var (
	_ op.SigningKey     = deferredKey{}
	_ jose.OpaqueSigner = deferredKey{}
)

// tokenWriter holds op's token response until flush signs it.
type tokenWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (t *tokenWriter) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
}

func (t *tokenWriter) Write(p []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	return t.body.Write(p)
}

func (t *tokenWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// flush signs the deferred JWTs of the response and sends it.
func (t *tokenWriter) flush(p *Provider, ts *tokenState) {
	body := t.body.Bytes()
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if ts.used {
		out, err := p.signDeferred(body)
		if err != nil {
			slog.Error("could not sign the token response", "err", err)
			t.Header().Set("Content-Type", "application/json")
			t.status = http.StatusInternalServerError
			out, _ = json.Marshal(oidc.ErrServerError().WithDescription("could not sign the tokens"))
		}
		body = out
	}
	t.Header().Set("Content-Length", strconv.Itoa(len(body)))
	t.ResponseWriter.WriteHeader(t.status)
	_, _ = t.ResponseWriter.Write(body)
}

// signDeferred signs the access token and ID token of a token response
// whose JWTs op left unsigned. The signed tokens are spliced into op's
// bytes where they can be found plainly (topLevelString, jsonsplice.go);
// otherwise the response is decoded and encoded again.
func (p *Provider) signDeferred(body []byte) ([]byte, error) {
	atStart, atEnd, ok := topLevelString(body, "access_token")
	idStart, idEnd, idOK := topLevelString(body, "id_token")
	if !ok || (!idOK && bytes.Contains(body, []byte(`"id_token"`))) {
		return p.signDeferredDecoded(body)
	}
	at, err := p.signAccessToken(string(body[atStart:atEnd]))
	if err != nil {
		return nil, err
	}
	type splice struct {
		start, end int
		val        string
	}
	splices := []splice{{atStart, atEnd, at}}
	if idOK {
		idt, err := p.signIDToken(string(body[idStart:idEnd]), at)
		if err != nil {
			return nil, err
		}
		splices = append(splices, splice{idStart, idEnd, idt})
		if idStart < atStart {
			splices[0], splices[1] = splices[1], splices[0]
		}
	}
	out := make([]byte, 0, len(body)+1024)
	prev := 0
	for _, sp := range splices {
		if !plainJSON(sp.val) {
			return p.signDeferredDecoded(body)
		}
		out = append(append(out, body[prev:sp.start]...), sp.val...)
		prev = sp.end
	}
	return append(out, body[prev:]...), nil
}

// signDeferredDecoded is signDeferred through a full decode of the
// response, for a body topLevelString does not read plainly.
func (p *Provider) signDeferredDecoded(body []byte) ([]byte, error) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	var at, idt string
	if raw, has := resp["access_token"]; has {
		if err := json.Unmarshal(raw, &at); err != nil {
			return nil, err
		}
		signed, err := p.signAccessToken(at)
		if err != nil {
			return nil, err
		}
		at = signed
		resp["access_token"], _ = json.Marshal(at)
	}
	if raw, has := resp["id_token"]; has {
		if err := json.Unmarshal(raw, &idt); err != nil {
			return nil, err
		}
		signed, err := p.signIDToken(idt, at)
		if err != nil {
			return nil, err
		}
		resp["id_token"], _ = json.Marshal(signed)
	}
	return json.Marshal(resp)
}

// signAccessToken signs an unsigned JWT access token as at+jwt; op's
// opaque bearer tokens are returned as they are.
func (p *Provider) signAccessToken(at string) (string, error) {
	if strings.Count(at, ".") != 2 { // not a JWT
		return at, nil
	}
	return p.signUnsigned(at, "at+jwt", nil)
}

// signIDToken signs an unsigned ID token, with its at_hash (if it has
// one) computed over the final access token at (OIDC Core §3.1.3.6).
func (p *Provider) signIDToken(idt, at string) (string, error) {
	return p.signUnsigned(idt, "JWT", func(alg jose.SignatureAlgorithm, payload []byte) ([]byte, error) {
		if !bytes.Contains(payload, []byte(`"at_hash"`)) {
			return payload, nil
		}
		h, err := oidc.ClaimHash(at, alg)
		if err != nil {
			return nil, err
		}
		if out, ok := replaceTopLevelString(payload, "at_hash", h); ok {
			return out, nil
		}
		var claims map[string]json.RawMessage
		if err := json.Unmarshal(payload, &claims); err != nil {
			return nil, err
		}
		if _, has := claims["at_hash"]; !has {
			return payload, nil
		}
		claims["at_hash"], _ = json.Marshal(h)
		return json.Marshal(claims)
	})
}

var errNotDeferred = errors.New("token is not an unsigned JWT from this response")

// signUnsigned signs a compact JWS that a deferredKey left with an empty
// signature, with the key its kid names and under typ. edit, if given, may
// change the payload; without it the payload bytes are kept as they are.
// The input comes from op in this request, never from a client, so there
// is no signature to check.
func (p *Provider) signUnsigned(compact, typ string, edit func(jose.SignatureAlgorithm, []byte) ([]byte, error)) (string, error) {
	parts := strings.Split(compact, ".")
	if len(parts) != 3 || parts[2] != "" {
		return "", errNotDeferred
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", err
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hdr, &h); err != nil {
		return "", err
	}
	k := p.storage.keys.lookup(h.Kid)
	if k == nil || k.private == nil {
		return "", errors.New("deferred token names no private key")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	if edit != nil {
		if payload, err = edit(k.alg, payload); err != nil {
			return "", err
		}
	}
	signed, err := k.sign(typ, payload)
	if err == nil {
		p.storage.keys.verified.remember(signed, k.id)
	}
	return signed, err
}

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
