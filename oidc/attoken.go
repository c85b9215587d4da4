package oidc

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// RFC 9068 §2.1: a JWT access token has the header typ "at+jwt", so a
// resource server cannot take an ID token for an access token. op signs
// every JWT with typ "JWT" (op.SignerFromKey fixes it, and a custom
// signing key cannot change the protected header, which is part of the
// signed input). For the grants op serves (authorization_code,
// refresh_token, device_code) the token response is therefore buffered and
// its JWT access token re-signed with the same key and the same payload
// bytes under typ "at+jwt"; the ID token's at_hash, computed by op over the
// old access token, is recomputed and the ID token re-signed with its own
// key. Only tokens whose signature verifies with Latchkey's own keys are
// touched. Client credentials tokens are signed as at+jwt directly
// (clientcredentials.go).

// tokenWriter holds op's token response until it is rewritten.
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

// flush sends the (possibly rewritten) response.
func (t *tokenWriter) flush(p *Provider) {
	body := t.body.Bytes()
	if t.status == http.StatusOK {
		if out, ok := p.retypeAccessToken(body); ok {
			body = out
		}
	}
	if t.status == 0 {
		t.status = http.StatusOK
	}
	t.Header().Set("Content-Length", strconv.Itoa(len(body)))
	t.ResponseWriter.WriteHeader(t.status)
	_, _ = t.ResponseWriter.Write(body)
}

// retypeAccessToken rewrites a token response body; ok is false when there
// is nothing to change or anything is unexpected (the response is then sent
// as op wrote it).
func (p *Provider) retypeAccessToken(body []byte) ([]byte, bool) {
	var resp map[string]json.RawMessage
	if json.Unmarshal(body, &resp) != nil {
		return nil, false
	}
	var at, idt string
	if json.Unmarshal(resp["access_token"], &at) != nil || strings.Count(at, ".") != 2 {
		return nil, false // opaque access token
	}
	newAT, ok := p.resign(at, "at+jwt", nil)
	if !ok {
		slog.Warn("could not retype the access token as at+jwt; sent as op signed it")
		return nil, false
	}
	resp["access_token"], _ = json.Marshal(newAT)
	if raw, has := resp["id_token"]; has && json.Unmarshal(raw, &idt) == nil && idt != "" {
		newIDT, ok := p.resign(idt, "JWT", func(alg jose.SignatureAlgorithm, claims map[string]json.RawMessage) bool {
			if _, has := claims["at_hash"]; !has {
				return true
			}
			h, err := oidc.ClaimHash(newAT, alg)
			if err != nil {
				return false
			}
			claims["at_hash"], _ = json.Marshal(h)
			return true
		})
		if !ok {
			slog.Warn("could not re-sign the ID token for the at+jwt access token; both sent as op signed them")
			return nil, false
		}
		resp["id_token"], _ = json.Marshal(newIDT)
	}
	out, err := json.Marshal(resp)
	return out, err == nil
}

// resign verifies a compact JWS with Latchkey's keys and signs it again
// with the same key under typ. edit, if given, may change the claims;
// without it the payload bytes are kept as they are.
func (p *Provider) resign(compact, typ string, edit func(jose.SignatureAlgorithm, map[string]json.RawMessage) bool) (string, bool) {
	jws, err := jose.ParseSigned(compact, signingAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return "", false
	}
	kid, _ := oidc.GetKeyIDAndAlg(jws)
	k := p.storage.keys.lookup(kid)
	if k == nil || k.private == nil {
		return "", false
	}
	payload, err := jws.Verify(k.public)
	if err != nil {
		return "", false
	}
	if edit != nil {
		var claims map[string]json.RawMessage
		if json.Unmarshal(payload, &claims) != nil || !edit(k.alg, claims) {
			return "", false
		}
		if payload, err = json.Marshal(claims); err != nil {
			return "", false
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: &jose.JSONWebKey{Key: k.private, KeyID: k.id}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", false
	}
	out, err := signer.Sign(payload)
	if err != nil {
		return "", false
	}
	s, err := out.CompactSerialize()
	return s, err == nil
}
