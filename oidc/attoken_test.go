package oidc

import (
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
)

// The token endpoint signs each JWT once: the access token under typ
// at+jwt (RFC 9068 §2.1), the ID token under JWT with its at_hash over
// that access token (OIDC Core §3.1.3.6), both verifiable with the
// published key the header names.
func TestTokenResponseSignsOnce(t *testing.T) {
	e, srv := newHTTPEnv(t)
	tok := codeFlow(t, e, srv, e.conf, e.secret)
	at, idt := tok["access_token"].(string), tok["id_token"].(string)
	for _, tc := range []struct {
		name, token, typ string
	}{{"access token", at, "at+jwt"}, {"ID token", idt, "JWT"}} {
		parsed, err := jose.ParseSigned(tc.token, signingAlgs)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		h := parsed.Signatures[0].Header
		if typ := h.ExtraHeaders["typ"]; typ != tc.typ {
			t.Fatalf("%s: typ = %v, want %s", tc.name, typ, tc.typ)
		}
		k := e.s.keys.lookup(h.KeyID)
		if k == nil {
			t.Fatalf("%s: unknown kid %q", tc.name, h.KeyID)
		}
		if _, err := parsed.Verify(k.public); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	_, atClaims := jwtParts(t, at)
	if atClaims["client_id"] != e.conf.ID || atClaims["sub"] != e.user.ID || atClaims["jti"] == "" || atClaims["iss"] != srv.URL {
		t.Fatalf("access token claims %v", atClaims)
	}
	h, claims := jwtParts(t, idt)
	want, _ := zoidc.ClaimHash(at, jose.SignatureAlgorithm(h["alg"].(string)))
	if claims["at_hash"] != want || claims["c_hash"] == nil {
		t.Fatalf("at_hash %v, want %s (c_hash %v)", claims["at_hash"], want, claims["c_hash"])
	}
}

// A JWT the token endpoint did not sign (here: an ID token presented as
// an access token) is refused by userinfo with 401 and the challenge.
func TestUserinfoRefusesIDToken(t *testing.T) {
	e, srv := newHTTPEnv(t)
	tok := codeFlow(t, e, srv, e.conf, e.secret)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok["id_token"].(string)+"x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("userinfo: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
