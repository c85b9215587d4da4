package oidc

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
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

// opJWT is what op makes of payload with sk: a compact JWS with typ JWT,
// whose signature a deferred key leaves empty.
func opJWT(t *testing.T, sk op.SigningKey, payload string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: sk.SignatureAlgorithm(), Key: &jose.JSONWebKey{Key: sk.Key(), KeyID: sk.ID()}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
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
	placeholder := opJWT(t, sk, `{"sub":"u"}`)
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

// signDeferred splices the signed tokens into op's response where it can
// read them plainly and decodes the response otherwise; both ways give a
// verifiable at+jwt access token, an ID token whose top-level at_hash
// covers it (and only that claim changed), and the other members intact.
func TestDeferredSigningBothPaths(t *testing.T) {
	e := newEnv(t)
	ctx, _ := withTokenState(e.ctx)
	sk, err := e.s.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := func(payload string) string { return opJWT(t, sk, payload) }
	atPayload := `{"sub":"u","jti":"j1"}`
	idPayload := `{"aaa":{"at_hash":"custom"},"at_hash":"placeholder","sub":"u","x":"\"at_hash\":\"no\""}`
	at, idt := unsigned(atPayload), unsigned(idPayload)
	k := e.p.storage.keys.lookup(sk.ID())
	for name, body := range map[string]string{
		"plain":   `{"access_token":"` + at + `","token_type":"Bearer","refresh_token":"r1","expires_in":300,"id_token":"` + idt + `","state":"a\"b"}`,
		"escaped": `{"access_token":"` + at + `","token_type":"Bearer","st\u0061te":"s","id_token":"` + idt + `"}`,
	} {
		for path, sign := range map[string]func([]byte) ([]byte, error){"signDeferred": e.p.signDeferred, "decoded": e.p.signDeferredDecoded} {
			out, err := sign([]byte(body))
			if err != nil {
				t.Fatalf("%s/%s: %v", name, path, err)
			}
			var got, want map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%s/%s: %s: %v", name, path, out, err)
			}
			_ = json.Unmarshal([]byte(body), &want)
			for key, v := range want {
				if key != "access_token" && key != "id_token" && got[key] != v {
					t.Errorf("%s/%s: %s = %v, want %v", name, path, key, got[key], v)
				}
			}
			signedAT, _ := got["access_token"].(string)
			parsed, err := jose.ParseSigned(signedAT, signingAlgs)
			if err != nil {
				t.Fatalf("%s/%s: access token %q: %v", name, path, signedAT, err)
			}
			if p, err := parsed.Verify(k.public); err != nil || string(p) != atPayload || parsed.Signatures[0].Header.ExtraHeaders["typ"] != "at+jwt" {
				t.Fatalf("%s/%s: access token: %v %s %v", name, path, err, p, parsed.Signatures[0].Header.ExtraHeaders)
			}
			parsed, err = jose.ParseSigned(got["id_token"].(string), signingAlgs)
			if err != nil {
				t.Fatal(err)
			}
			p, err := parsed.Verify(k.public)
			if err != nil {
				t.Fatal(err)
			}
			var claims map[string]any
			_ = json.Unmarshal(p, &claims)
			h, _ := zoidc.ClaimHash(signedAT, k.alg)
			if claims["at_hash"] != h || claims["aaa"].(map[string]any)["at_hash"] != "custom" || claims["x"] != `"at_hash":"no"` || claims["sub"] != "u" {
				t.Fatalf("%s/%s: ID token claims %v, want at_hash %s and the rest unchanged", name, path, claims, h)
			}
		}
	}
}
