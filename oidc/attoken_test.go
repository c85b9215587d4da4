package oidc

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// A token response whose deferred JWTs cannot be signed becomes a
// server_error: the unsigned tokens never reach the client.
func TestDeferredSigningFailsClosed(t *testing.T) {
	e := newEnv(t)
	b64 := base64.RawURLEncoding.EncodeToString
	unsigned := b64([]byte(`{"alg":"ES256","kid":"no-such-key","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"u"}`)) + "."
	rec := httptest.NewRecorder()
	tw := &tokenWriter{ResponseWriter: rec}
	body, _ := json.Marshal(map[string]string{"access_token": unsigned, "token_type": "Bearer"})
	_, _ = tw.Write(body)
	tw.flush(e.p, &tokenState{used: true})
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "access_token") {
		t.Fatalf("got %d %s, want 500 without the token", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"server_error"`) {
		t.Fatalf("body = %s, want an OAuth server_error", rec.Body)
	}
}

// A deferred key produces an empty signature; signUnsigned signs it once
// under the requested typ with the key the header names, and refuses a
// token that already carries a signature (input from anywhere else).
func TestDeferredSigningSignsOnce(t *testing.T) {
	e := newEnv(t)
	ctx, ts := withTokenState(e.ctx)
	sk, err := e.s.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: sk.SignatureAlgorithm(), Key: &jose.JSONWebKey{Key: sk.Key(), KeyID: sk.ID()}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"sub":"u"}`))
	if err != nil {
		t.Fatal(err)
	}
	placeholder, _ := jws.CompactSerialize()
	if !ts.used || !strings.HasSuffix(placeholder, ".") {
		t.Fatalf("deferred key produced %q (used=%v), want an empty signature", placeholder, ts.used)
	}
	signed, err := e.p.signUnsigned(placeholder, "at+jwt", nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jose.ParseSigned(signed, signingAlgs)
	if err != nil {
		t.Fatal(err)
	}
	k := e.p.storage.keys.lookup(sk.ID())
	payload, err := parsed.Verify(k.public)
	if err != nil || string(payload) != `{"sub":"u"}` {
		t.Fatalf("verify: %v, payload %s", err, payload)
	}
	if typ := parsed.Signatures[0].Header.ExtraHeaders["typ"]; typ != "at+jwt" {
		t.Fatalf("typ = %v", typ)
	}
	if _, err := e.p.signUnsigned(signed, "at+jwt", nil); err == nil {
		t.Fatal("signUnsigned re-signed a token that already had a signature")
	}
}
