package idp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-idp/latchkey/models"
)

// The FAPI 2.0 Security Profile per client: each rule of the profile is
// broken once and refused with the error the profile's specs name, and
// a client that keeps every rule signs a user in (PAR, private_key_jwt,
// PKCE S256, DPoP), its ID token checked by coreos/go-oidc.

// fapiClient is a client under the FAPI 2.0 profile with an EC key (for
// ES256) and an RSA key (for PS256, and RS256 which the profile refuses).
type fapiClient struct {
	id  string
	ec  *clientKey
	rsa *rsa.PrivateKey
}

func newFAPIClient(t *testing.T, app *testApp, redirect string) *fapiClient {
	t.Helper()
	ec := newClientKey(t, "fapi-ec")
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &ec.priv.PublicKey, KeyID: "fapi-ec", Use: "sig"},
		{Key: &rk.PublicKey, KeyID: "fapi-rsa", Use: "sig"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := app.newClient(redirect, func(c *models.Client) {
		c.JWKS, c.IDTokenAlg, c.Profile, c.Name = string(set), "ES256", models.ProfileFAPI2, "Bank"
	})
	return &fapiClient{id: c.ID, ec: ec, rsa: rk}
}

// sign signs claims as a JWT with alg (ES256 with the EC key, PS256 or
// RS256 with the RSA key) and header typ.
func (f *fapiClient) sign(t *testing.T, alg jose.SignatureAlgorithm, typ string, claims map[string]any) string {
	t.Helper()
	key := jose.JSONWebKey{Key: f.rsa, KeyID: "fapi-rsa"}
	if alg == jose.ES256 {
		key = jose.JSONWebKey{Key: f.ec.priv, KeyID: "fapi-ec"}
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

// assertion is a client_assertion signed with alg.
func (f *fapiClient) assertion(t *testing.T, app *testApp, alg jose.SignatureAlgorithm) url.Values {
	now := time.Now()
	return assertionParams(f.sign(t, alg, "", map[string]any{"iss": f.id, "sub": f.id, "aud": app.issuer,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": models.NewToken()}))
}

func withParams(base url.Values, more ...url.Values) url.Values {
	out := url.Values{}
	for _, v := range append([]url.Values{base}, more...) {
		for k, vs := range v {
			out[k] = vs
		}
	}
	return out
}

func TestFAPI2Profile(t *testing.T) {
	app := newTestApp(t)
	user, setup := app.newUser("fiona", false)
	b := app.newBrowser()
	b.register(setup)
	const redirect = "http://localhost:9999/callback"
	fc := newFAPIClient(t, app, redirect)
	r := app.newRP(fc.id, "", redirect, "openid")
	dk := newDPoPKey(t)
	parURL, tokenURL := app.issuer+"/oauth/par", app.issuer+"/oauth/token"

	push := func(t *testing.T, params url.Values) oauthAnswer {
		t.Helper()
		return app.in(t).send(http.MethodPost, "/oauth/par", params, nil)
	}
	// pushAndSignIn pushes params, signs the user in and returns the code.
	pushAndSignIn := func(t *testing.T, params url.Values) string {
		t.Helper()
		ans := push(t, params)
		if ans.status != http.StatusCreated {
			t.Fatalf("PAR %d %v", ans.status, ans.body)
		}
		cb := b.in(t).signIn(parAuthorizeURL(app.issuer, fc.id, ans.str("request_uri")))
		if cb.Query().Get("iss") != app.issuer { // RFC 9207, required by FAPI 2.0
			t.Fatalf("callback without iss: %s", cb)
		}
		return cb.Query().Get("code")
	}
	redeem := func(t *testing.T, code string, f flow, alg jose.SignatureAlgorithm, proof bool) oauthAnswer {
		t.Helper()
		form := withParams(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"code_verifier": {f.verifier}}, fc.assertion(t, app, alg))
		h := map[string]string{}
		if proof {
			h["DPoP"] = dk.proof(http.MethodPost, tokenURL, proofOpts{})
		}
		return app.in(t).send(http.MethodPost, "/oauth/token", form, h)
	}

	t.Run("a client that keeps every rule signs in with DPoP-bound tokens", func(t *testing.T) {
		f := newFlow()
		code := pushAndSignIn(t, withParams(r.authParams(f), fc.assertion(t, app, jose.ES256)))
		tok := redeem(t, code, f, jose.PS256, true)
		if tok.status != http.StatusOK || tok.str("token_type") != "DPoP" {
			t.Fatalf("token %d %v", tok.status, tok.body)
		}
		idt, err := r.verifier.Verify(context.Background(), tok.str("id_token"))
		if err != nil || idt.Subject != user.ID || idt.Nonce != f.nonce {
			t.Fatalf("ID token (go-oidc): %v %v", idt, err)
		}
		for _, name := range []string{"id_token", "access_token"} { // PS256 or ES256 only; we sign with ES256
			var hdr struct{ Alg string }
			head, _ := b64urlDecode(strings.Split(tok.str(name), ".")[0])
			if json.Unmarshal(head, &hdr) != nil || hdr.Alg != "ES256" {
				t.Fatalf("%s alg %q", name, hdr.Alg)
			}
		}
	})

	t.Run("an unpushed request is refused (PAR required)", func(t *testing.T) {
		f := newFlow()
		cb := b.in(t).signIn(app.issuer + "/authorize?" + r.authParams(f).Encode())
		if cb.Query().Get("error") != "invalid_request" || cb.Query().Get("iss") != app.issuer {
			t.Fatalf("unpushed request: %s", cb)
		}
	})

	refusedAtPAR := []struct {
		name   string
		params func(f flow) url.Values
		code   string
	}{
		{"without PKCE", func(f flow) url.Values {
			p := withParams(r.authParams(f), fc.assertion(t, app, jose.ES256))
			p.Del("code_challenge")
			p.Del("code_challenge_method")
			return p
		}, "invalid_request"},
		{"PKCE plain", func(f flow) url.Values {
			p := withParams(r.authParams(f), fc.assertion(t, app, jose.ES256))
			p.Set("code_challenge", f.verifier)
			p.Set("code_challenge_method", "plain")
			return p
		}, "invalid_request"},
		{"without redirect_uri", func(f flow) url.Values {
			p := withParams(r.authParams(f), fc.assertion(t, app, jose.ES256))
			p.Del("redirect_uri")
			return p
		}, "invalid_request"},
		{"a client secret instead of private_key_jwt", func(f flow) url.Values {
			return withParams(r.authParams(f), url.Values{"client_secret": {"anything"}})
		}, "invalid_client"},
		{"only the client_id", func(f flow) url.Values { return r.authParams(f) }, "invalid_client"},
		{"an RS256 client assertion", func(f flow) url.Values {
			return withParams(r.authParams(f), fc.assertion(t, app, jose.RS256))
		}, "invalid_client"},
		{"an RS256 request object", func(f flow) url.Values {
			claims := objectClaims(app, fc.id, redirect, f)
			return withParams(url.Values{"client_id": {fc.id}, "request": {fc.sign(t, jose.RS256, "oauth-authz-req+jwt", claims)}},
				fc.assertion(t, app, jose.ES256))
		}, "invalid_request_object"},
	}
	for _, tc := range refusedAtPAR {
		t.Run("PAR "+tc.name, func(t *testing.T) {
			before := app.in(t).pushedRequests()
			ans := push(t, tc.params(newFlow()))
			if ans.status < 400 || ans.str("error") != tc.code {
				t.Fatalf("PAR %d %v, want %s", ans.status, ans.body, tc.code)
			}
			if app.in(t).pushedRequests() != before {
				t.Fatal("a refused pushed request was stored")
			}
		})
	}

	t.Run("PAR with an assertion for the endpoint URL or an aud array", func(t *testing.T) {
		now := time.Now()
		for _, aud := range []any{parURL, []string{app.issuer}} {
			a := assertionParams(fc.sign(t, jose.ES256, "", map[string]any{"iss": fc.id, "sub": fc.id, "aud": aud,
				"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": models.NewToken()}))
			if ans := push(t, withParams(r.authParams(newFlow()), a)); ans.str("error") != "invalid_client" {
				t.Fatalf("aud %v: %d %v, want invalid_client", aud, ans.status, ans.body)
			}
		}
	})

	t.Run("a PS256 request object is accepted", func(t *testing.T) {
		f := newFlow()
		claims := objectClaims(app, fc.id, redirect, f)
		code := pushAndSignIn(t, withParams(url.Values{"client_id": {fc.id}, "request": {fc.sign(t, jose.PS256, "oauth-authz-req+jwt", claims)}},
			fc.assertion(t, app, jose.ES256)))
		if tok := redeem(t, code, f, jose.ES256, true); tok.status != http.StatusOK {
			t.Fatalf("token %d %v", tok.status, tok.body)
		}
	})

	t.Run("token requests without DPoP or with RS256 assertions are refused", func(t *testing.T) {
		f := newFlow()
		code := pushAndSignIn(t, withParams(r.authParams(f), fc.assertion(t, app, jose.ES256)))
		if tok := redeem(t, code, f, jose.ES256, false); tok.status != http.StatusBadRequest || tok.str("error") != "invalid_dpop_proof" {
			t.Fatalf("no DPoP proof: %d %v", tok.status, tok.body)
		}
		if tok := redeem(t, code, f, jose.RS256, true); tok.status < 400 || tok.str("error") != "invalid_client" {
			t.Fatalf("RS256 assertion: %d %v", tok.status, tok.body)
		}
		secret := withParams(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"code_verifier": {f.verifier}, "client_id": {fc.id}, "client_secret": {"x"}})
		if tok := app.in(t).send(http.MethodPost, "/oauth/token", secret, map[string]string{"DPoP": dk.proof(http.MethodPost, tokenURL, proofOpts{})}); tok.str("error") != "invalid_client" {
			t.Fatalf("client secret: %d %v", tok.status, tok.body)
		}
	})

	t.Run("a DPoP proof signed RS256 is refused", func(t *testing.T) {
		f := newFlow()
		code := pushAndSignIn(t, withParams(r.authParams(f), fc.assertion(t, app, jose.ES256)))
		form := withParams(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"code_verifier": {f.verifier}}, fc.assertion(t, app, jose.ES256))
		if tok := app.in(t).send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": rsaDPoPProof(t, fc.rsa, tokenURL)}); tok.str("error") != "invalid_dpop_proof" {
			t.Fatalf("RS256 DPoP proof: %d %v", tok.status, tok.body)
		}
		// Refused before the code was looked at: it still redeems.
		if tok := redeem(t, code, f, jose.ES256, true); tok.status != http.StatusOK {
			t.Fatalf("after a refused proof: %d %v", tok.status, tok.body)
		}
	})

	t.Run("refresh tokens do not rotate, and each refresh needs the key and a proof", func(t *testing.T) {
		// FAPI 2.0 Security Profile: the authorization server "shall not
		// use refresh token rotation except in extraordinary
		// circumstances".
		ro := app.newRP(fc.id, "", redirect, "openid", "offline_access")
		f := newFlow()
		code := pushAndSignIn(t, withParams(ro.authParams(f), fc.assertion(t, app, jose.ES256)))
		tok := redeem(t, code, f, jose.ES256, true)
		rt := tok.str("refresh_token")
		if tok.status != http.StatusOK || rt == "" {
			t.Fatalf("token %d %v, want a refresh token", tok.status, tok.body)
		}
		refresh := func(t *testing.T, proof bool) oauthAnswer {
			t.Helper()
			form := withParams(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, fc.assertion(t, app, jose.ES256))
			h := map[string]string{}
			if proof {
				h["DPoP"] = dk.proof(http.MethodPost, tokenURL, proofOpts{})
			}
			return app.in(t).send(http.MethodPost, "/oauth/token", form, h)
		}
		if ans := refresh(t, false); ans.status != http.StatusBadRequest || ans.str("error") != "invalid_dpop_proof" {
			t.Fatalf("refresh without a proof: %d %v", ans.status, ans.body)
		}
		for i := range 3 {
			ans := refresh(t, true)
			if ans.status != http.StatusOK || ans.str("token_type") != "DPoP" || ans.str("refresh_token") != rt {
				t.Fatalf("refresh %d: %d %v, want the same refresh token", i, ans.status, ans.body)
			}
			if cnf, _ := app.in(t).verifyJWT(ans.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != dk.jkt {
				t.Fatalf("refresh %d: cnf = %v", i, cnf)
			}
		}
		if n := app.in(t).auditCount(models.EventRefreshReuse); n != 0 {
			t.Fatalf("%d refresh token reuse events", n)
		}
	})

	t.Run("introspection holds the client to the profile's assertions", func(t *testing.T) {
		f := newFlow()
		code := pushAndSignIn(t, withParams(r.authParams(f), fc.assertion(t, app, jose.ES256)))
		tok := redeem(t, code, f, jose.ES256, true)
		introspect := func(a url.Values) oauthAnswer {
			return app.in(t).send(http.MethodPost, "/oauth/introspect", withParams(url.Values{"token": {tok.str("access_token")}}, a), nil)
		}
		if in := introspect(fc.assertion(t, app, jose.RS256)); in.status < 400 || in.str("error") != "invalid_client" {
			t.Fatalf("introspection with an RS256 assertion: %d %v", in.status, in.body)
		}
		now := time.Now()
		endpointAud := assertionParams(fc.sign(t, jose.ES256, "", map[string]any{"iss": fc.id, "sub": fc.id, "aud": app.issuer + "/oauth/introspect",
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": models.NewToken()}))
		if in := introspect(endpointAud); in.status < 400 || in.str("error") != "invalid_client" {
			t.Fatalf("introspection with an assertion for the endpoint URL: %d %v", in.status, in.body)
		}
		if in := introspect(fc.assertion(t, app, jose.PS256)); in.status != http.StatusOK || in.body["active"] != true || in.str("token_type") != "DPoP" {
			t.Fatalf("introspection with a PS256 assertion: %d %v", in.status, in.body)
		}
	})

	t.Run("codes live at most 60 seconds", func(t *testing.T) {
		f := newFlow()
		code := pushAndSignIn(t, withParams(r.authParams(f), fc.assertion(t, app, jose.ES256)))
		app.clock.Advance(61 * time.Second)
		defer app.clock.Advance(-61 * time.Second)
		if tok := redeem(t, code, f, jose.ES256, true); tok.str("error") != "invalid_grant" {
			t.Fatalf("a 61 s old code: %d %v", tok.status, tok.body)
		}
	})
}

func b64urlDecode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// The profile is refused at configuration time for a client that cannot
// meet it; CLI, console and API all save clients through these checks.
func TestFAPI2ProfileNeedsAClientThatCanMeetIt(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	key := newClientKey(t, "k")
	base := func() *models.Client {
		return &models.Client{Name: "Bank", RedirectURIs: models.StringList{"https://bank.example/cb"}, JWKS: key.jwks(t),
			IDTokenAlg: "ES256", Profile: models.ProfileFAPI2}
	}
	for name, mutate := range map[string]func(*models.Client){
		"public client":        func(c *models.Client) { c.Public, c.JWKS = true, "" },
		"no keys":              func(c *models.Client) { c.JWKS = "" },
		"RS256 ID tokens":      func(c *models.Client) { c.IDTokenAlg = "RS256" },
		"unknown profile":      func(c *models.Client) { c.Profile = "fapi1" },
		"default ID token alg": func(c *models.Client) { c.IDTokenAlg = "" },
	} {
		c := base()
		mutate(c)
		if _, err := app.db.CreateClient(ctx, c); !errors.Is(err, models.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	c := base()
	if _, err := app.db.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.IDTokenAlg = "RS256"
	if err := app.db.SaveClient(ctx, c); !errors.Is(err, models.ErrInvalid) {
		t.Fatalf("save with RS256: %v", err)
	}
	got, err := app.db.ClientByID(ctx, c.ID)
	if err != nil || got.IDTokenAlg != "ES256" || !got.FAPI2() || !got.NeedsPAR() || !got.NeedsPKCE() || !got.NeedsDPoP() {
		t.Fatalf("stored %+v %v", got, err)
	}
}

// rsaDPoPProof is a DPoP proof for POST htu signed RS256 with k.
func rsaDPoPProof(t *testing.T, k *rsa.PrivateKey, htu string) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"jti": models.NewToken(), "htm": http.MethodPost, "htu": htu, "iat": time.Now().Unix()})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}
