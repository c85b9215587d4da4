package idp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// DPoP (RFC 9449) end to end: an independent client that builds its
// proofs with go-jose from the RFC, against the real server over HTTP;
// ID tokens are checked by coreos/go-oidc (rp.exchange).

// dpopKey is a client's DPoP key pair.
type dpopKey struct {
	t    *testing.T
	priv *ecdsa.PrivateKey
	jkt  string // RFC 7638 thumbprint, base64url
}

func newDPoPKey(t *testing.T) *dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{t: t, priv: priv, jkt: b64url(tp)}
}

// proofOpts change a proof from a correct one.
type proofOpts struct {
	iat         time.Time
	jti         string
	nonce       string
	accessToken string // ath
	typ         string
	signWith    *ecdsa.PrivateKey // a key other than the embedded one
	embedJWK    *jose.JSONWebKey  // a jwk header other than the public key
	hmacKey     []byte
	padding     string // an extra claim, to make the proof large
}

// proof returns a DPoP proof (RFC 9449 §4.2) for method and htu.
func (k *dpopKey) proof(method, htu string, o proofOpts) string {
	k.t.Helper()
	if o.iat.IsZero() {
		o.iat = time.Now()
	}
	if o.jti == "" {
		o.jti = models.NewToken()
	}
	if o.typ == "" {
		o.typ = "dpop+jwt"
	}
	claims := map[string]any{"jti": o.jti, "htm": method, "htu": htu, "iat": o.iat.Unix()}
	if o.nonce != "" {
		claims["nonce"] = o.nonce
	}
	if o.padding != "" {
		claims["padding"] = o.padding
	}
	if o.accessToken != "" {
		sum := sha256.Sum256([]byte(o.accessToken))
		claims["ath"] = b64url(sum[:])
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		k.t.Fatal(err)
	}
	var signer jose.Signer
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(o.typ))
	switch {
	case o.hmacKey != nil:
		opts = opts.WithHeader("jwk", &jose.JSONWebKey{Key: k.priv.Public()})
		signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: o.hmacKey}, opts)
	case o.embedJWK != nil || o.signWith != nil:
		jwk := o.embedJWK
		if jwk == nil {
			jwk = &jose.JSONWebKey{Key: k.priv.Public()}
		}
		key := k.priv
		if o.signWith != nil {
			key = o.signWith
		}
		opts = opts.WithHeader("jwk", jwk)
		signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	default:
		opts.EmbedJWK = true
		signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, opts)
	}
	if err != nil {
		k.t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		k.t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		k.t.Fatal(err)
	}
	return s
}

// oauthAnswer is an answer of the token, PAR or userinfo endpoint.
type oauthAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a oauthAnswer) str(k string) string { s, _ := a.body[k].(string); return s }

// send posts form (or GETs when form is nil) to path with the given
// headers and decodes the JSON answer.
func (a *testApp) send(method, path string, form url.Values, header map[string]string) oauthAnswer {
	a.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, a.issuer+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	raw := readBody(a.t, resp)
	ans := oauthAnswer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal([]byte(raw), &ans.body); err != nil {
		a.t.Fatalf("%s %s: %d is not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return ans
}

// dpopProofs counts the spent proofs.
func (a *testApp) dpopProofs() int64 {
	a.t.Helper()
	var n int64
	if err := a.db.Gorm().Model(&models.DPoPProof{}).Count(&n).Error; err != nil {
		a.t.Fatal(err)
	}
	return n
}

func (a *testApp) clientCredentials(id, secret, proof string) oauthAnswer {
	a.t.Helper()
	h := map[string]string{}
	if proof != "" {
		h["DPoP"] = proof
	}
	return a.send(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}, h)
}

func TestDPoPDiscovery(t *testing.T) {
	app := newTestApp(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		d := app.send(http.MethodGet, path, nil, nil)
		algs, _ := d.body["dpop_signing_alg_values_supported"].([]any)
		var got []string
		for _, a := range algs {
			got = append(got, a.(string))
		}
		if strings.Join(got, " ") != "ES256 PS256 RS256 EdDSA" {
			t.Errorf("%s dpop_signing_alg_values_supported = %v", path, got)
		}
	}
}

// TestDPoPCodeFlow: dpop_jkt binds the code; the token endpoint binds the
// access token (cnf.jkt, token_type DPoP) and a public client's refresh
// token; userinfo takes the DPoP scheme with ath and refuses the bound
// token as a Bearer token; introspection tells the binding.
func TestDPoPCodeFlow(t *testing.T) {
	app := newTestApp(t)
	user, setup := app.newUser("dora", false)
	const redirect = "http://localhost:9999/callback"
	pub, _ := app.newClient(redirect, func(c *models.Client) { c.Public = true })
	conf, confSecret := app.newClient(redirect)
	b := app.newBrowser()
	b.register(setup)
	key := newDPoPKey(t)
	tokenURL := app.issuer + "/oauth/token"

	// code signs in through /authorize with dpop_jkt and returns the
	// callback's code and the flow.
	code := func(t *testing.T, r *rp, jkt string) (string, flow) {
		u, f := r.authURL(oauth2.SetAuthURLParam("dpop_jkt", jkt))
		cb := b.in(t).signIn(u)
		if cb.Query().Get("code") == "" {
			t.Fatalf("no code: %s", cb)
		}
		return cb.Query().Get("code"), f
	}
	redeem := func(t *testing.T, clientID, secret, c string, f flow, proof string) oauthAnswer {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {redirect},
			"client_id": {clientID}, "code_verifier": {f.verifier}}
		if secret != "" {
			form.Set("client_secret", secret)
		}
		h := map[string]string{}
		if proof != "" {
			h["DPoP"] = proof
		}
		return app.in(t).send(http.MethodPost, "/oauth/token", form, h)
	}

	var access, refresh string
	t.Run("bound code redeems with a proof of its key", func(t *testing.T) {
		r := app.in(t).newRP(pub.ID, "", redirect)
		c, f := code(t, r, key.jkt)
		ans := redeem(t, pub.ID, "", c, f, key.proof(http.MethodPost, tokenURL, proofOpts{}))
		if ans.status != http.StatusOK || ans.str("token_type") != "DPoP" {
			t.Fatalf("token answer %d %v, want token_type DPoP (RFC 9449 §5)", ans.status, ans.body)
		}
		if ans.header.Get("DPoP-Nonce") == "" {
			t.Error("no DPoP-Nonce handed out with the token answer")
		}
		access, refresh = ans.str("access_token"), ans.str("refresh_token")
		cl := app.in(t).verifyJWT(access)
		if cnf, _ := cl["cnf"].(map[string]any); cnf["jkt"] != key.jkt {
			t.Fatalf("access token cnf = %v, want jkt %s (RFC 9449 §6.1)", cl["cnf"], key.jkt)
		}
		idt, err := r.verifier.Verify(context.Background(), ans.str("id_token"))
		if err != nil || idt.Subject != user.ID {
			t.Fatalf("ID token (go-oidc): %v %v", err, idt)
		}
	})

	userinfo := func(t *testing.T, h map[string]string) oauthAnswer {
		return app.in(t).send(http.MethodGet, "/userinfo", nil, h)
	}
	uiURL := app.issuer + "/userinfo"
	t.Run("userinfo with the DPoP scheme", func(t *testing.T) {
		ans := userinfo(t, map[string]string{"Authorization": "DPoP " + access, "DPoP": key.proof(http.MethodGet, uiURL, proofOpts{accessToken: access})})
		if ans.status != http.StatusOK || ans.str("sub") != user.ID {
			t.Fatalf("userinfo %d %v", ans.status, ans.body)
		}
	})
	t.Run("userinfo refusals", func(t *testing.T) {
		other := newDPoPKey(t)
		replayed := key.proof(http.MethodGet, uiURL, proofOpts{accessToken: access})
		if ans := userinfo(t, map[string]string{"Authorization": "DPoP " + access, "DPoP": replayed}); ans.status != http.StatusOK {
			t.Fatalf("first use of the proof: %d %v", ans.status, ans.body)
		}
		for name, tc := range map[string]struct {
			h    map[string]string
			want string
		}{
			"bound token as Bearer": {map[string]string{"Authorization": "Bearer " + access}, "invalid_token"},
			"no proof":              {map[string]string{"Authorization": "DPoP " + access}, "invalid_dpop_proof"},
			"no ath": {map[string]string{"Authorization": "DPoP " + access,
				"DPoP": key.proof(http.MethodGet, uiURL, proofOpts{})}, "invalid_dpop_proof"},
			"ath of another token": {map[string]string{"Authorization": "DPoP " + access,
				"DPoP": key.proof(http.MethodGet, uiURL, proofOpts{accessToken: access + "x"})}, "invalid_dpop_proof"},
			"another key": {map[string]string{"Authorization": "DPoP " + access,
				"DPoP": other.proof(http.MethodGet, uiURL, proofOpts{accessToken: access})}, "invalid_token"},
			"wrong htm": {map[string]string{"Authorization": "DPoP " + access,
				"DPoP": key.proof(http.MethodPost, uiURL, proofOpts{accessToken: access})}, "invalid_dpop_proof"},
			"replayed proof": {map[string]string{"Authorization": "DPoP " + access, "DPoP": replayed}, "invalid_dpop_proof"},
		} {
			t.Run(name, func(t *testing.T) {
				before := app.in(t).dpopProofs()
				ans := userinfo(t, tc.h)
				if ans.status != http.StatusUnauthorized || ans.str("error") != tc.want {
					t.Fatalf("userinfo %d %v, want 401 %s", ans.status, ans.body, tc.want)
				}
				if ch := ans.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, `error="`+tc.want+`"`) {
					t.Errorf("WWW-Authenticate = %q, want a DPoP challenge with %s (RFC 9449 §7.1)", ch, tc.want)
				}
				if after := app.in(t).dpopProofs(); after != before {
					t.Errorf("a refused request stored %d proofs", after-before)
				}
			})
		}
	})
	t.Run("public client's refresh token is bound to the key", func(t *testing.T) {
		other := newDPoPKey(t)
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {pub.ID}}
		for name, proof := range map[string]string{"another key": other.proof(http.MethodPost, tokenURL, proofOpts{}), "no proof": ""} {
			h := map[string]string{}
			if proof != "" {
				h["DPoP"] = proof
			}
			ans := app.in(t).send(http.MethodPost, "/oauth/token", form, h)
			if ans.status != http.StatusBadRequest || ans.str("error") != "invalid_grant" {
				t.Fatalf("refresh with %s: %d %v, want invalid_grant (RFC 9449 §5)", name, ans.status, ans.body)
			}
		}
		ans := app.in(t).send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": key.proof(http.MethodPost, tokenURL, proofOpts{})})
		if ans.status != http.StatusOK || ans.str("token_type") != "DPoP" || ans.str("refresh_token") == "" {
			t.Fatalf("refresh with the bound key: %d %v", ans.status, ans.body)
		}
	})
	t.Run("code bound to another key is refused", func(t *testing.T) {
		r := app.in(t).newRP(conf.ID, confSecret, redirect)
		c, f := code(t, r, newDPoPKey(t).jkt)
		ans := redeem(t, conf.ID, confSecret, c, f, key.proof(http.MethodPost, tokenURL, proofOpts{}))
		if ans.status != http.StatusBadRequest || ans.str("error") != "invalid_grant" {
			t.Fatalf("bound code with another key: %d %v, want invalid_grant (RFC 9449 §10)", ans.status, ans.body)
		}
	})
	t.Run("confidential client: bound access token, introspection cnf, unbound refresh", func(t *testing.T) {
		r := app.in(t).newRP(conf.ID, confSecret, redirect)
		c, f := code(t, r, "")
		ans := redeem(t, conf.ID, confSecret, c, f, key.proof(http.MethodPost, tokenURL, proofOpts{}))
		if ans.status != http.StatusOK || ans.str("token_type") != "DPoP" {
			t.Fatalf("token answer %d %v", ans.status, ans.body)
		}
		in := app.in(t).send(http.MethodPost, "/oauth/introspect", url.Values{"token": {ans.str("access_token")}, "client_id": {conf.ID}, "client_secret": {confSecret}}, nil)
		if cnf, _ := in.body["cnf"].(map[string]any); in.body["active"] != true || in.str("token_type") != "DPoP" || cnf["jkt"] != key.jkt {
			t.Fatalf("introspection %v, want active, token_type DPoP, cnf.jkt (RFC 9449 §6.2)", in.body)
		}
		// A resource server that got the token as "Authorization: DPoP …"
		// introspects it as it is, authenticated with Basic and a hint.
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(conf.ID)+":"+url.QueryEscape(confSecret)))
		in = app.in(t).send(http.MethodPost, "/oauth/introspect", url.Values{"token": {ans.str("access_token")}, "token_type_hint": {"access_token"}},
			map[string]string{"Authorization": basic})
		if cnf, _ := in.body["cnf"].(map[string]any); in.body["active"] != true || in.str("token_type") != "DPoP" || cnf["jkt"] != key.jkt {
			t.Fatalf("introspection with Basic and a hint %v, want active, token_type DPoP, cnf.jkt", in.body)
		}
		// RFC 9449 §5: a confidential client's refresh token is not bound
		// to the key; the new access token is bound to the new proof's.
		other := newDPoPKey(t)
		rt := app.in(t).send(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ans.str("refresh_token")},
			"client_id": {conf.ID}, "client_secret": {confSecret}}, map[string]string{"DPoP": other.proof(http.MethodPost, tokenURL, proofOpts{})})
		if rt.status != http.StatusOK {
			t.Fatalf("refresh: %d %v", rt.status, rt.body)
		}
		if cnf, _ := app.in(t).verifyJWT(rt.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != other.jkt {
			t.Fatalf("refreshed access token cnf = %v, want the new key's", cnf)
		}
		// Without a proof, a Bearer token as before.
		c, f = code(t, r, "")
		plain := redeem(t, conf.ID, confSecret, c, f, "")
		if plain.status != http.StatusOK || plain.str("token_type") != "Bearer" {
			t.Fatalf("token without proof: %d %v", plain.status, plain.body)
		}
		if ui := userinfo(t, map[string]string{"Authorization": "Bearer " + plain.str("access_token")}); ui.status != http.StatusOK {
			t.Fatalf("userinfo with an unbound Bearer token: %d %v", ui.status, ui.body)
		}
	})
}

// TestDPoPProofRefusals: every broken proof at the token endpoint gets
// the spec's error and changes nothing.
func TestDPoPProofRefusals(t *testing.T) {
	app := newTestApp(t)
	svc, secret := app.newClient("http://localhost:9999/cb")
	key := newDPoPKey(t)
	tokenURL := app.issuer + "/oauth/token"
	other := newDPoPKey(t)
	privJWK := &jose.JSONWebKey{Key: key.priv}
	used := key.proof(http.MethodPost, tokenURL, proofOpts{})
	if ans := app.clientCredentials(svc.ID, secret, used); ans.status != http.StatusOK || ans.str("token_type") != "DPoP" {
		t.Fatalf("client credentials with a proof: %d %v", ans.status, ans.body)
	} else if cnf, _ := app.verifyJWT(ans.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != key.jkt {
		t.Fatalf("cnf = %v", cnf)
	}
	// The htu is compared without query and fragment (RFC 9449 §4.3).
	if ans := app.clientCredentials(svc.ID, secret, key.proof(http.MethodPost, tokenURL+"?x=1#f", proofOpts{})); ans.status != http.StatusOK {
		t.Fatalf("htu with a query: %d %v", ans.status, ans.body)
	}
	for name, proof := range map[string]string{
		"wrong signature":      key.proof(http.MethodPost, tokenURL, proofOpts{signWith: other.priv}),
		"wrong htm":            key.proof(http.MethodGet, tokenURL, proofOpts{}),
		"wrong htu":            key.proof(http.MethodPost, app.issuer+"/oauth/par", proofOpts{}),
		"htu of another host":  key.proof(http.MethodPost, "https://evil.example/oauth/token", proofOpts{}),
		"old iat":              key.proof(http.MethodPost, tokenURL, proofOpts{iat: time.Now().Add(-10 * time.Minute)}),
		"iat in the future":    key.proof(http.MethodPost, tokenURL, proofOpts{iat: time.Now().Add(5 * time.Minute)}),
		"replayed jti":         used,
		"private key in jwk":   key.proof(http.MethodPost, tokenURL, proofOpts{embedJWK: privJWK}),
		"typ JWT":              key.proof(http.MethodPost, tokenURL, proofOpts{typ: "JWT"}),
		"HS256":                key.proof(http.MethodPost, tokenURL, proofOpts{hmacKey: []byte("0123456789abcdef0123456789abcdef")}),
		"ath at the token end": key.proof(http.MethodPost, tokenURL, proofOpts{accessToken: "x"}),
		"unknown nonce":        key.proof(http.MethodPost, tokenURL, proofOpts{nonce: "bm9wZQ"}),
		"not a JWT":            "not.a.jwt",
		"oversize":             key.proof(http.MethodPost, tokenURL, proofOpts{padding: strings.Repeat("p", 9<<10)}),
	} {
		t.Run(name, func(t *testing.T) {
			a := app.in(t)
			before := a.dpopProofs()
			ans := a.clientCredentials(svc.ID, secret, proof)
			want := "invalid_dpop_proof"
			if name == "unknown nonce" {
				want = "use_dpop_nonce"
			}
			if ans.status != http.StatusBadRequest || ans.str("error") != want {
				t.Fatalf("%d %v, want 400 %s", ans.status, ans.body, want)
			}
			if after := a.dpopProofs(); after != before {
				t.Errorf("a refused request stored %d proofs", after-before)
			}
		})
	}
	t.Run("a client that requires DPoP", func(t *testing.T) {
		a := app.in(t)
		strict, secret := a.newClient("http://localhost:9999/cb", func(c *models.Client) { c.RequireDPoP = true })
		if ans := a.clientCredentials(strict.ID, secret, ""); ans.status != http.StatusBadRequest || ans.str("error") != "invalid_dpop_proof" {
			t.Fatalf("no proof: %d %v, want invalid_dpop_proof", ans.status, ans.body)
		}
		if ans := a.clientCredentials(strict.ID, secret, key.proof(http.MethodPost, tokenURL, proofOpts{})); ans.status != http.StatusOK {
			t.Fatalf("with a proof: %d %v", ans.status, ans.body)
		}
	})
}

// TestDPoPServerNonce: with nonces required, a proof without one gets
// use_dpop_nonce and the nonce in DPoP-Nonce (RFC 9449 §8); the retry
// with it passes (on a second instance: TestDPoPServerNonceAcrossInstances).
func TestDPoPServerNonce(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.OIDC.DPoPNonce = true })
	svc, secret := app.newClient("http://localhost:9999/cb")
	key := newDPoPKey(t)
	tokenURL := app.issuer + "/oauth/token"
	ans := app.clientCredentials(svc.ID, secret, key.proof(http.MethodPost, tokenURL, proofOpts{}))
	nonce := ans.header.Get("DPoP-Nonce")
	if ans.status != http.StatusBadRequest || ans.str("error") != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("proof without nonce: %d %v nonce %q, want use_dpop_nonce with DPoP-Nonce", ans.status, ans.body, nonce)
	}
	if n := app.dpopProofs(); n != 0 {
		t.Fatalf("%d proofs stored for a refused request", n)
	}
	ans = app.clientCredentials(svc.ID, secret, key.proof(http.MethodPost, tokenURL, proofOpts{nonce: nonce}))
	if ans.status != http.StatusOK || ans.str("token_type") != "DPoP" {
		t.Fatalf("proof with the nonce: %d %v", ans.status, ans.body)
	}
	// A nonce lives two windows at most.
	app.clock.Advance(11 * time.Minute)
	ans = app.clientCredentials(svc.ID, secret, key.proof(http.MethodPost, tokenURL, proofOpts{nonce: nonce, iat: app.clock.Now()}))
	if ans.status != http.StatusBadRequest || ans.str("error") != "use_dpop_nonce" {
		t.Fatalf("stale nonce: %d %v", ans.status, ans.body)
	}
	// The device authorization endpoint, where a proof binds the device
	// code, hands out the nonce too.
	app.clock.Advance(-11 * time.Minute)
	deviceURL, form := app.issuer+"/device_authorization", url.Values{"client_id": {svc.ID}, "client_secret": {secret}, "scope": {"openid"}}
	dev := app.send(http.MethodPost, "/device_authorization", form, map[string]string{"DPoP": key.proof(http.MethodPost, deviceURL, proofOpts{})})
	if nonce = dev.header.Get("DPoP-Nonce"); dev.str("error") != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("device authorization proof without nonce: %d %v nonce %q", dev.status, dev.body, nonce)
	}
	dev = app.send(http.MethodPost, "/device_authorization", form, map[string]string{"DPoP": key.proof(http.MethodPost, deviceURL, proofOpts{nonce: nonce})})
	if dev.status != http.StatusOK || dev.str("device_code") == "" {
		t.Fatalf("device authorization proof with the nonce: %d %v", dev.status, dev.body)
	}
}

// TestDPoPPushedRequest: a DPoP proof at the PAR endpoint binds the code
// to its key (RFC 9449 §10.1); dpop_jkt must match the proof's key.
func TestDPoPPushedRequest(t *testing.T) {
	app, b, _, r, client := enrolled(t)
	secret := r.oauth.ClientSecret
	key := newDPoPKey(t)
	parURL, tokenURL := app.issuer+"/oauth/par", app.issuer+"/oauth/token"
	push := func(t *testing.T, params url.Values, proof string) oauthAnswer {
		params.Set("client_secret", secret)
		h := map[string]string{}
		if proof != "" {
			h["DPoP"] = proof
		}
		return app.in(t).send(http.MethodPost, "/oauth/par", params, h)
	}
	t.Run("dpop_jkt of another key", func(t *testing.T) {
		params := r.authParams(newFlow())
		params.Set("dpop_jkt", newDPoPKey(t).jkt)
		before := app.in(t).pushedRequests()
		ans := push(t, params, key.proof(http.MethodPost, parURL, proofOpts{}))
		if ans.status != http.StatusBadRequest || ans.str("error") != "invalid_dpop_proof" {
			t.Fatalf("PAR %d %v, want invalid_dpop_proof", ans.status, ans.body)
		}
		if app.in(t).pushedRequests() != before || app.in(t).dpopProofs() != 0 {
			t.Fatal("a refused PAR request stored something")
		}
	})
	t.Run("malformed dpop_jkt", func(t *testing.T) {
		params := r.authParams(newFlow())
		params.Set("dpop_jkt", "short")
		if ans := push(t, params, ""); ans.status != http.StatusBadRequest || ans.str("error") != "invalid_request" {
			t.Fatalf("PAR %d %v, want invalid_request", ans.status, ans.body)
		}
	})
	t.Run("proof at PAR binds the code", func(t *testing.T) {
		f := newFlow()
		ans := push(t, r.authParams(f), key.proof(http.MethodPost, parURL, proofOpts{}))
		if ans.status != http.StatusCreated {
			t.Fatalf("PAR %d %v", ans.status, ans.body)
		}
		cb := b.in(t).signIn(parAuthorizeURL(app.issuer, client.ID, ans.str("request_uri")))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {r.oauth.RedirectURL},
			"client_id": {client.ID}, "client_secret": {secret}, "code_verifier": {f.verifier}}
		// Without a proof of the key: refused.
		if tok := app.in(t).send(http.MethodPost, "/oauth/token", form, nil); tok.status != http.StatusBadRequest || tok.str("error") != "invalid_grant" {
			t.Fatalf("bound code without a proof: %d %v, want invalid_grant", tok.status, tok.body)
		}
	})
	t.Run("proof at PAR, code redeemed with it", func(t *testing.T) {
		f := newFlow()
		ans := push(t, r.authParams(f), key.proof(http.MethodPost, parURL, proofOpts{}))
		cb := b.in(t).signIn(parAuthorizeURL(app.issuer, client.ID, ans.str("request_uri")))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {r.oauth.RedirectURL},
			"client_id": {client.ID}, "client_secret": {secret}, "code_verifier": {f.verifier}}
		tok := app.in(t).send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": key.proof(http.MethodPost, tokenURL, proofOpts{})})
		if tok.status != http.StatusOK || tok.str("token_type") != "DPoP" {
			t.Fatalf("bound code with its key: %d %v", tok.status, tok.body)
		}
		if _, err := r.verifier.Verify(context.Background(), tok.str("id_token")); err != nil {
			t.Fatalf("ID token (go-oidc): %v", err)
		}
	})
}

// TestDPoPProofReplayAcrossInstances: a proof spent on instance A is
// refused on instance B (one Postgres, RFC 9449 §11.1).
func TestDPoPProofReplayAcrossInstances(t *testing.T) {
	c := newCluster(t)
	svc, secret := c.newClient("http://localhost:9999/cb")
	key := newDPoPKey(t)
	proof := key.proof(http.MethodPost, c.issuer+"/oauth/token", proofOpts{})
	post := func(i byte) *http.Response {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {svc.ID}, "client_secret": {secret}}
		req, err := http.NewRequest(http.MethodPost, c.issuer+"/oauth/token", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		return c.on(i, req).Result()
	}
	if resp := post('A'); resp.StatusCode != http.StatusOK {
		t.Fatalf("A: %d %s", resp.StatusCode, readBody(t, resp))
	}
	resp := post('B')
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"invalid_dpop_proof"`) {
		t.Fatalf("B replay: %d %s, want invalid_dpop_proof", resp.StatusCode, body)
	}
}

// TestDPoPServerNonceAcrossInstances: a server nonce handed out by
// instance A is good at instance B (one Postgres, the nonce key derived
// from the shared master key), and a forged one is refused at both.
func TestDPoPServerNonceAcrossInstances(t *testing.T) {
	c := newCluster(t, func(cfg *Config) { cfg.OIDC.DPoPNonce = true })
	svc, secret := c.newClient("http://localhost:9999/cb")
	key := newDPoPKey(t)
	tokenURL := c.issuer + "/oauth/token"
	post := func(i byte, proof string) (int, string, string) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {svc.ID}, "client_secret": {secret}}
		req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		resp := c.on(i, req).Result()
		return resp.StatusCode, readBody(t, resp), resp.Header.Get("DPoP-Nonce")
	}
	st, body, nonce := post('A', key.proof(http.MethodPost, tokenURL, proofOpts{}))
	if st != http.StatusBadRequest || !strings.Contains(body, `"use_dpop_nonce"`) || nonce == "" {
		t.Fatalf("A without nonce: %d %s nonce %q", st, body, nonce)
	}
	if st, body, _ := post('B', key.proof(http.MethodPost, tokenURL, proofOpts{nonce: nonce})); st != http.StatusOK || !strings.Contains(body, `"DPoP"`) {
		t.Fatalf("B with A's nonce: %d %s", st, body)
	}
	forged := nonce[:len(nonce)-1] + "A"
	if forged == nonce {
		forged = nonce[:len(nonce)-1] + "B"
	}
	for _, i := range []byte{'A', 'B'} {
		if st, body, _ := post(i, key.proof(http.MethodPost, tokenURL, proofOpts{nonce: forged})); st != http.StatusBadRequest || !strings.Contains(body, `"use_dpop_nonce"`) {
			t.Fatalf("%c with a forged nonce: %d %s", i, st, body)
		}
	}
}

// TestDPoPDeviceGrant: the device_code grant binds its tokens to the
// poll's proof (RFC 9449 §5), a public client's refresh token too.
func TestDPoPDeviceGrant(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.OIDC.DevicePollInterval = time.Millisecond })
	user, setup := app.newUser("vera", false)
	tv, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Public = true; c.Name = "TV" })
	b := app.newBrowser()
	b.register(setup)
	key := newDPoPKey(t)
	tokenURL := app.issuer + "/oauth/token"
	start := app.send(http.MethodPost, "/device_authorization", url.Values{"client_id": {tv.ID}, "scope": {"openid offline_access"}}, nil)
	if start.status != http.StatusOK {
		t.Fatalf("device authorization: %d %v", start.status, start.body)
	}
	complete := start.str("verification_uri_complete")
	b.deviceSignIn(complete)
	if page := b.deviceDecide(complete, "allow"); !strings.Contains(page, "Device connected") {
		t.Fatalf("approve answered:\n%s", page)
	}
	time.Sleep(5 * time.Millisecond)
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {start.str("device_code")}, "client_id": {tv.ID}}
	// A broken proof is refused before the grant is looked at, so the
	// device code is still good afterwards.
	if bad := app.send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": key.proof(http.MethodPost, app.issuer+"/userinfo", proofOpts{})}); bad.str("error") != "invalid_dpop_proof" {
		t.Fatalf("poll with a proof for another URL: %d %v", bad.status, bad.body)
	}
	ans := app.send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": key.proof(http.MethodPost, tokenURL, proofOpts{})})
	if ans.status != http.StatusOK || ans.str("token_type") != "DPoP" || ans.str("refresh_token") == "" {
		t.Fatalf("device poll with a proof: %d %v", ans.status, ans.body)
	}
	if cnf, _ := app.verifyJWT(ans.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != key.jkt {
		t.Fatalf("cnf = %v", cnf)
	}
	ui := app.send(http.MethodGet, "/userinfo", nil, map[string]string{"Authorization": "DPoP " + ans.str("access_token"),
		"DPoP": key.proof(http.MethodGet, app.issuer+"/userinfo", proofOpts{accessToken: ans.str("access_token")})})
	if ui.status != http.StatusOK || ui.str("sub") != user.ID {
		t.Fatalf("userinfo: %d %v", ui.status, ui.body)
	}
	rt := app.send(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ans.str("refresh_token")}, "client_id": {tv.ID}},
		map[string]string{"DPoP": newDPoPKey(t).proof(http.MethodPost, tokenURL, proofOpts{})})
	if rt.status != http.StatusBadRequest || rt.str("error") != "invalid_grant" {
		t.Fatalf("refresh with another key: %d %v, want invalid_grant", rt.status, rt.body)
	}
}

// TestDPoPOpaqueAccessToken: an opaque access token is bound through its
// ID (tokenid.go), as a JWT one through cnf.
func TestDPoPOpaqueAccessToken(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("olga", false)
	const redirect = "http://localhost:9999/callback"
	c, secret := app.newClient(redirect, func(c *models.Client) { c.AccessTokenFormat = models.AccessTokenOpaque })
	b := app.newBrowser()
	b.register(setup)
	r := app.newRP(c.ID, secret, redirect)
	key := newDPoPKey(t)
	u, f := r.authURL()
	cb := b.signIn(u)
	ans := app.send(http.MethodPost, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {redirect}, "client_id": {c.ID}, "client_secret": {secret}, "code_verifier": {f.verifier}},
		map[string]string{"DPoP": key.proof(http.MethodPost, app.issuer+"/oauth/token", proofOpts{})})
	access := ans.str("access_token")
	if ans.status != http.StatusOK || ans.str("token_type") != "DPoP" || strings.Count(access, ".") == 2 {
		t.Fatalf("token answer %d %v, want an opaque DPoP token", ans.status, ans.body)
	}
	if ui := app.send(http.MethodGet, "/userinfo", nil, map[string]string{"Authorization": "Bearer " + access}); ui.status != http.StatusUnauthorized {
		t.Fatalf("bound opaque token as Bearer: %d %v", ui.status, ui.body)
	}
	if ui := app.send(http.MethodPost, "/userinfo", url.Values{"access_token": {access}}, nil); ui.status != http.StatusUnauthorized || ui.str("error") != "invalid_token" {
		t.Fatalf("bound opaque token in the form: %d %v", ui.status, ui.body)
	}
	ui := app.send(http.MethodGet, "/userinfo", nil, map[string]string{"Authorization": "DPoP " + access,
		"DPoP": key.proof(http.MethodGet, app.issuer+"/userinfo", proofOpts{accessToken: access})})
	if ui.status != http.StatusOK {
		t.Fatalf("userinfo with DPoP: %d %v", ui.status, ui.body)
	}
	in := app.send(http.MethodPost, "/oauth/introspect", url.Values{"token": {access}, "client_id": {c.ID}, "client_secret": {secret}}, nil)
	if cnf, _ := in.body["cnf"].(map[string]any); in.str("token_type") != "DPoP" || cnf["jkt"] != key.jkt {
		t.Fatalf("introspection %v", in.body)
	}
}

// TestDPoPServerNonceAtPARAndUserinfo: with nonces required, the PAR
// endpoint answers a proof without the nonce as the token endpoint does
// (RFC 9449 §8), and userinfo, a resource, with 401, a DPoP challenge of
// use_dpop_nonce and the nonce (§9); the retries with it pass.
func TestDPoPServerNonceAtPARAndUserinfo(t *testing.T) {
	app := newTestApp(t, func(c *Config) { c.OIDC.DPoPNonce = true })
	user, setup := app.newUser("nina", false)
	b := app.newBrowser()
	b.register(setup)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)
	key := newDPoPKey(t)
	parURL, tokenURL, uiURL := app.issuer+"/oauth/par", app.issuer+"/oauth/token", app.issuer+"/userinfo"

	f := newFlow()
	params := r.authParams(f)
	params.Set("client_secret", secret)
	ans := app.send(http.MethodPost, "/oauth/par", params, map[string]string{"DPoP": key.proof(http.MethodPost, parURL, proofOpts{})})
	nonce := ans.header.Get("DPoP-Nonce")
	if ans.status != http.StatusBadRequest || ans.str("error") != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("PAR proof without nonce: %d %v nonce %q, want use_dpop_nonce with DPoP-Nonce", ans.status, ans.body, nonce)
	}
	if app.pushedRequests() != 0 || app.dpopProofs() != 0 {
		t.Fatal("a refused PAR request stored something")
	}
	ans = app.send(http.MethodPost, "/oauth/par", params, map[string]string{"DPoP": key.proof(http.MethodPost, parURL, proofOpts{nonce: nonce})})
	if ans.status != http.StatusCreated {
		t.Fatalf("PAR proof with the nonce: %d %v", ans.status, ans.body)
	}
	cb := b.signIn(parAuthorizeURL(app.issuer, client.ID, ans.str("request_uri")))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {redirect},
		"client_id": {client.ID}, "client_secret": {secret}, "code_verifier": {f.verifier}}
	tok := app.send(http.MethodPost, "/oauth/token", form, map[string]string{"DPoP": key.proof(http.MethodPost, tokenURL, proofOpts{nonce: nonce})})
	if tok.status != http.StatusOK || tok.str("token_type") != "DPoP" {
		t.Fatalf("token: %d %v", tok.status, tok.body)
	}
	access := tok.str("access_token")

	before := app.dpopProofs()
	ui := app.send(http.MethodGet, "/userinfo", nil, map[string]string{"Authorization": "DPoP " + access,
		"DPoP": key.proof(http.MethodGet, uiURL, proofOpts{accessToken: access})})
	if ui.status != http.StatusUnauthorized || ui.str("error") != "use_dpop_nonce" || ui.header.Get("DPoP-Nonce") == "" ||
		!strings.Contains(ui.header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("userinfo proof without nonce: %d %v %v, want 401 use_dpop_nonce with DPoP-Nonce (RFC 9449 §9)", ui.status, ui.body, ui.header)
	}
	if app.dpopProofs() != before {
		t.Fatal("a refused userinfo request spent its proof")
	}
	ui = app.send(http.MethodGet, "/userinfo", nil, map[string]string{"Authorization": "DPoP " + access,
		"DPoP": key.proof(http.MethodGet, uiURL, proofOpts{accessToken: access, nonce: ui.header.Get("DPoP-Nonce")})})
	if ui.status != http.StatusOK || ui.str("sub") != user.ID {
		t.Fatalf("userinfo with the nonce: %d %v", ui.status, ui.body)
	}
}

// TestDPoPCORSForBrowserApps: a browser app (a public client) may send a
// DPoP header cross-origin to the token, PAR and userinfo endpoints and
// read the DPoP-Nonce and WWW-Authenticate headers of the answers (RFC
// 9449 §8, §7.1), without credentials.
func TestDPoPCORSForBrowserApps(t *testing.T) {
	app := newTestApp(t)
	spa, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.Public = true })
	const origin = "https://spa.example"
	for _, path := range []string{"/oauth/token", "/oauth/par", "/userinfo"} {
		req, _ := http.NewRequest(http.MethodOptions, app.issuer+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,dpop") // as browsers send it: lower case, sorted
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
		if resp.Header.Get("Access-Control-Allow-Origin") == "" || !strings.Contains(allowed, "dpop") || resp.Header.Get("Access-Control-Allow-Credentials") == "true" {
			t.Errorf("preflight of %s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	key := newDPoPKey(t)
	// A proof without the nonce is fine here; a bad one shows the header
	// on an error answer too.
	for name, proof := range map[string]string{"good": key.proof(http.MethodPost, app.issuer+"/oauth/par", proofOpts{}), "bad": "not.a.jwt"} {
		form := url.Values{"client_id": {spa.ID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {"http://localhost:9999/cb"},
			"code_challenge": {s256(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		req, _ := http.NewRequest(http.MethodPost, app.issuer+"/oauth/par", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
		if resp.Header.Get("DPoP-Nonce") == "" || !strings.Contains(exposed, "dpop-nonce") || !strings.Contains(exposed, "www-authenticate") {
			t.Errorf("%s proof at PAR: %d, DPoP-Nonce %q, exposed %q", name, resp.StatusCode, resp.Header.Get("DPoP-Nonce"), exposed)
		}
	}
}
