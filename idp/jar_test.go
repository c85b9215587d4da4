package idp

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// JWT-secured authorization requests (RFC 9101): request objects built
// with go-jose and signed with the client's private_key_jwt key, at
// /authorize and at the PAR endpoint; tokens checked by coreos/go-oidc.

// requestObject signs claims as a request object with k.
func (k *clientKey) requestObject(t *testing.T, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("oauth-authz-req+jwt"))
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

// objectClaims are the claims of a good request object of clientID for f.
func objectClaims(app *testApp, clientID, redirect string, f flow) map[string]any {
	now := time.Now()
	return map[string]any{"iss": clientID, "aud": app.issuer, "client_id": clientID, "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "nbf": now.Unix(), "response_type": "code", "redirect_uri": redirect, "scope": "openid email",
		"state": f.state, "nonce": f.nonce, "code_challenge": s256(f.verifier), "code_challenge_method": "S256", "max_age": 3600}
}

// redeemWithAssertion redeems code at the token endpoint with a
// private_key_jwt assertion and returns the verified ID token's nonce.
func redeemWithAssertion(t *testing.T, app *testApp, r *rp, key *clientKey, clientID, code, redirect, verifier string) string {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	for k, v := range assertionParams(key.assertion(t, clientID, app.issuer)) {
		form[k] = v
	}
	resp, err := http.PostForm(app.issuer+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	idt, err := r.verifier.Verify(r.ctx, tok.IDToken)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	return idt.Nonce
}

func s256(verifier string) string { return oauth2.S256ChallengeFromVerifier(verifier) }

func TestRequestObjects(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("rho", false)
	b := app.newBrowser()
	b.register(setup)
	const redirect = "http://localhost:9999/callback"
	key := newClientKey(t, "jar-key")
	client, _ := app.newClient(redirect, func(c *models.Client) { c.JWKS = key.jwks(t) })
	plain, plainSecret := app.newClient(redirect)
	r := app.newRP(client.ID, "", redirect, "openid")

	if d := app.discovery(); !d.RequestParameter {
		t.Fatal("discovery: request_parameter_supported is false")
	}
	var meta struct {
		Algs []string `json:"request_object_signing_alg_values_supported"`
	}
	if err := json.Unmarshal([]byte(b.getBody("/.well-known/openid-configuration")), &meta); err != nil || !slices.Contains(meta.Algs, "ES256") || slices.Contains(meta.Algs, "none") {
		t.Fatalf("request_object_signing_alg_values_supported = %v (%v)", meta.Algs, err)
	}
	authorizeURL := func(clientID, object string, extra url.Values) string {
		q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "scope": {"openid"}, "request": {object}}
		for k, v := range extra {
			q[k] = v
		}
		return app.issuer + "/authorize?" + q.Encode()
	}
	authRequests := func(t *testing.T) int64 {
		var n int64
		if err := app.db.Gorm().Model(&models.AuthRequest{}).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("at /authorize the object's parameters win", func(t *testing.T) {
		f := newFlow()
		u := authorizeURL(client.ID, key.requestObject(t, objectClaims(app, client.ID, redirect, f)),
			url.Values{"state": {"from-the-query"}, "nonce": {"query-nonce"}})
		cb := b.in(t).signIn(u)
		if cb.Query().Get("state") != f.state || cb.Query().Get("iss") != app.issuer {
			t.Fatalf("callback %s: want the object's state and iss", cb)
		}
		if nonce := redeemWithAssertion(t, app, r, key, client.ID, cb.Query().Get("code"), redirect, f.verifier); nonce != f.nonce {
			t.Fatalf("nonce %q, want the object's", nonce)
		}
	})

	t.Run("at the PAR endpoint", func(t *testing.T) {
		app := app.in(t)
		f := newFlow()
		form := url.Values{"client_id": {client.ID}, "response_type": {"code"},
			"request": {key.requestObject(t, objectClaims(app, client.ID, redirect, f))}}
		for k, v := range assertionParams(key.assertion(t, client.ID, app.issuer+"/oauth/par")) {
			form[k] = v
		}
		ans := app.push(form)
		if ans.status != http.StatusCreated {
			t.Fatalf("PAR with a request object: %+v", ans)
		}
		cb := b.in(t).signIn(parAuthorizeURL(app.issuer, client.ID, ans.RequestURI))
		if cb.Query().Get("state") != f.state {
			t.Fatalf("callback %s", cb)
		}
		if nonce := redeemWithAssertion(t, app, r, key, client.ID, cb.Query().Get("code"), redirect, f.verifier); nonce != f.nonce {
			t.Fatalf("nonce %q", nonce)
		}
	})

	t.Run("a claims parameter inside the object (a JSON object, OIDC Core §6.1)", func(t *testing.T) {
		app := app.in(t)
		minimal, _ := app.newClient(redirect, func(c *models.Client) { c.JWKS = key.jwks(t); c.IDTokenClaims = models.IDTokenClaimsMinimal })
		mr := app.newRP(minimal.ID, "", redirect, "openid")
		f := newFlow()
		claims := objectClaims(app, minimal.ID, redirect, f)
		claims["claims"] = map[string]any{"id_token": map[string]any{"email": nil}}
		cb := b.in(t).signIn(authorizeURL(minimal.ID, key.requestObject(t, claims), nil))
		form := withParams(url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {redirect},
			"code_verifier": {f.verifier}}, assertionParams(key.assertion(t, minimal.ID, app.issuer)))
		tok := app.send(http.MethodPost, "/oauth/token", form, nil)
		if tok.status != http.StatusOK {
			t.Fatalf("token: %d %v", tok.status, tok.body)
		}
		if cl := mr.idTokenClaims(tok.str("id_token")); cl["email"] == nil || cl["email"] == "" {
			t.Fatalf("ID token %v, want the email the object's claims parameter asked for", cl)
		}
	})

	t.Run("at the PAR endpoint the body's parameters besides the object are ignored", func(t *testing.T) {
		app := app.in(t)
		f := newFlow()
		// RFC 9126 §3: only the object and client authentication belong
		// in the body; a dpop_jkt or response_mode there binds nothing.
		form := url.Values{"client_id": {client.ID}, "request": {key.requestObject(t, objectClaims(app, client.ID, redirect, f))},
			"response_mode": {"fragment"}, "dpop_jkt": {newDPoPKey(t).jkt}, "state": {"from-the-body"}, "prompt": {"none"}}
		for k, v := range assertionParams(key.assertion(t, client.ID, app.issuer+"/oauth/par")) {
			form[k] = v
		}
		ans := app.push(form)
		if ans.status != http.StatusCreated {
			t.Fatalf("PAR with a request object: %+v", ans)
		}
		cb := b.in(t).signIn(parAuthorizeURL(app.issuer, client.ID, ans.RequestURI))
		if cb.Fragment != "" || cb.Query().Get("state") != f.state {
			t.Fatalf("callback %s: want the object's state in the query", cb)
		}
		if nonce := redeemWithAssertion(t, app, r, key, client.ID, cb.Query().Get("code"), redirect, f.verifier); nonce != f.nonce {
			t.Fatalf("nonce %q (a body dpop_jkt bound the code?)", nonce)
		}
	})

	none := func(claims map[string]any) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"oauth-authz-req+jwt"}`))
		p, _ := json.Marshal(claims)
		return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	}
	tamper := func(k, v string) map[string]any {
		c := objectClaims(app, client.ID, redirect, newFlow())
		c[k] = v
		return c
	}
	expired := objectClaims(app, client.ID, redirect, newFlow())
	expired["exp"] = time.Now().Add(-5 * time.Minute).Unix()
	notYet := objectClaims(app, client.ID, redirect, newFlow())
	notYet["nbf"] = time.Now().Add(10 * time.Minute).Unix()
	nested := objectClaims(app, client.ID, redirect, newFlow())
	nested["request_uri"] = "https://attacker.example/r"
	good := func() string { return key.requestObject(t, objectClaims(app, client.ID, redirect, newFlow())) }
	oversize := objectClaims(app, client.ID, redirect, newFlow())
	oversize["padding"] = strings.Repeat("p", 20<<10)
	for _, tc := range []struct {
		name, clientID, object string
		extra                  url.Values
		code                   string
	}{
		{"unsigned (alg none)", client.ID, none(objectClaims(app, client.ID, redirect, newFlow())), nil, "invalid_request_object"},
		{"signed by another key", client.ID, newClientKey(t, "jar-key").requestObject(t, objectClaims(app, client.ID, redirect, newFlow())), nil, "invalid_request_object"},
		{"for another server", client.ID, key.requestObject(t, tamper("aud", "https://other.example")), nil, "invalid_request_object"},
		{"issued by another client", client.ID, key.requestObject(t, tamper("iss", plain.ID)), nil, "invalid_request_object"},
		{"expired", client.ID, key.requestObject(t, expired), nil, "invalid_request_object"},
		{"not valid yet", client.ID, key.requestObject(t, notYet), nil, "invalid_request_object"},
		{"response_type differs", client.ID, key.requestObject(t, tamper("response_type", "token")), nil, "invalid_request_object"},
		{"nests request_uri", client.ID, key.requestObject(t, nested), nil, "invalid_request_object"},
		{"not a JWT", client.ID, "not-a-jwt", nil, "invalid_request_object"},
		{"oversize", client.ID, key.requestObject(t, oversize), nil, "invalid_request_object"},
		{"client without registered keys", plain.ID, key.requestObject(t, objectClaims(app, plain.ID, redirect, newFlow())), nil, "invalid_request_object"},
		{"with request_uri too", client.ID, good(), url.Values{"request_uri": {"urn:ietf:params:oauth:request_uri:x"}}, "invalid_request"},
	} {
		t.Run("refused at /authorize: "+tc.name, func(t *testing.T) {
			before := authRequests(t)
			extra := url.Values{"redirect_uri": {redirect}, "state": {"query-state"}}
			for k, v := range tc.extra {
				extra[k] = v
			}
			// Sent back to the request's (registered) redirect URI, RFC
			// 9101 §6.2.
			a := b.in(t).authorize(authorizeURL(tc.clientID, tc.object, extra))
			if a.redirect == nil || a.redirect.Query().Get("error") != tc.code || a.redirect.Query().Get("state") != "query-state" ||
				a.redirect.Query().Get("iss") != app.issuer || a.redirect.Query().Get("code") != "" {
				t.Fatalf("answer %+v, want a redirect with error %s", a.redirect, tc.code)
			}
			if n := authRequests(t); n != before {
				t.Fatalf("a refused request stored an auth request (%d → %d)", before, n)
			}
		})
	}
	t.Run("a redirect URI that is not the client's gets no redirect", func(t *testing.T) {
		u := authorizeURL(client.ID, none(objectClaims(app, client.ID, redirect, newFlow())), url.Values{"redirect_uri": {"https://attacker.example/cb"}})
		if e := b.in(t).authorizeError(u); e != "invalid_request" {
			t.Fatalf("error %s", e)
		}
	})
	t.Run("refused at the PAR endpoint", func(t *testing.T) {
		app := app.in(t)
		for name, object := range map[string]string{"unsigned": none(objectClaims(app, plain.ID, redirect, newFlow())),
			"no registered keys": key.requestObject(t, objectClaims(app, plain.ID, redirect, newFlow()))} {
			form := url.Values{"response_type": {"code"}, "request": {object}}
			if ans := app.push(form, plain.ID, plainSecret); ans.Error != "invalid_request_object" {
				t.Errorf("%s: %+v", name, ans)
			}
		}
		form := url.Values{"client_id": {client.ID}, "request": {key.requestObject(t, oversize)}}
		for k, v := range assertionParams(key.assertion(t, client.ID, app.issuer+"/oauth/par")) {
			form[k] = v
		}
		if ans := app.push(form); ans.status != http.StatusBadRequest || ans.Error != "invalid_request_object" {
			t.Errorf("oversize: %+v", ans)
		}
		if n := app.pushedRequests(); n != 0 {
			t.Fatalf("%d pushed requests stored", n)
		}
	})
}
