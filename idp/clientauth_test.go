package idp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey-idp/latchkey/models"
)

// clientKey is a relying party's private_key_jwt key pair.
type clientKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newClientKey(t *testing.T, kid string) *clientKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &clientKey{priv: k, kid: kid}
}

func (k *clientKey) jwks(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertion is a client_assertion (RFC 7523 §3) for clientID at issuer.
func (k *clientKey) assertion(t *testing.T, clientID, issuer string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": issuer,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": models.NewToken()})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func assertionParams(a string) url.Values {
	return url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
}

func TestPrivateKeyJWTClientAuthentication(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	_, setup := app.newUser("pia", false)
	b := app.newBrowser()
	b.register(setup)
	key := newClientKey(t, "rp-key-1")
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect, func(c *models.Client) {
		c.JWKS = key.jwks(t)
		c.AllowedScopes = models.StringList{"openid", "api:read"}
	})
	if d := app.discovery(); !slices.Contains(d.TokenAuthMethods, "private_key_jwt") || !slices.Contains(d.TokenAuthAlgs, "ES256") {
		t.Fatalf("discovery auth methods = %v algs = %v", d.TokenAuthMethods, d.TokenAuthAlgs)
	}

	r := app.newRP(client.ID, "", redirect, "openid")
	r.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	authURL, f := r.authURL()
	cb := b.signIn(authURL)
	exchange := func(code, verifier string, extra url.Values) error {
		opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
		for k, v := range extra {
			opts = append(opts, oauth2.SetAuthURLParam(k, v[0]))
		}
		_, err := r.oauth.Exchange(r.ctx, code, opts...)
		return err
	}
	t.Run("code exchange with an assertion signed by another key is refused", func(t *testing.T) {
		authURL, f := r.authURL()
		cb := b.signIn(authURL)
		if err := exchange(cb.Query().Get("code"), f.verifier, assertionParams(newClientKey(t, "rp-key-1").assertion(t, client.ID, app.issuer))); !isOAuthError(err, "invalid_client") && !isOAuthError(err, "invalid_grant") {
			// op answers invalid_grant here (RFC 7523 §3.2 suggests invalid_client).
			t.Fatalf("forged assertion: %v", err)
		}
	})
	if err := exchange(cb.Query().Get("code"), f.verifier, assertionParams(key.assertion(t, client.ID, app.issuer))); err != nil {
		t.Fatalf("code exchange with private_key_jwt: %v", err)
	}

	cc := clientcredentials.Config{ClientID: client.ID, TokenURL: app.issuer + "/oauth/token", Scopes: []string{"api:read"},
		AuthStyle: oauth2.AuthStyleInParams}
	t.Run("client credentials with private_key_jwt", func(t *testing.T) {
		c := cc
		c.EndpointParams = assertionParams(key.assertion(t, client.ID, app.issuer))
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an assertion authenticates once (OIDC Core §9)", func(t *testing.T) {
		c := cc
		c.EndpointParams = assertionParams(key.assertion(t, client.ID, app.issuer))
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Token(ctx); !isOAuthError(err, "invalid_client") {
			t.Fatalf("replayed assertion: %v", err)
		}
	})
	t.Run("the generated secret is refused for a key-registered client", func(t *testing.T) {
		c := cc
		c.ClientSecret = secret
		if _, err := c.Token(ctx); !isOAuthError(err, "invalid_client") {
			t.Fatalf("secret accepted: %v", err)
		}
	})
	t.Run("assertion for another audience is refused", func(t *testing.T) {
		c := cc
		c.EndpointParams = assertionParams(key.assertion(t, client.ID, "https://other.example"))
		if _, err := c.Token(ctx); !isOAuthError(err, "invalid_client") {
			t.Fatalf("wrong audience: %v", err)
		}
	})
}

func TestResponseModeFormPost(t *testing.T) {
	app, b, _, r, _ := enrolled(t)
	authURL, f := r.authURL(oauth2.SetAuthURLParam("response_mode", "form_post"))
	next := b.toConsent(authURL) // the op callback on the issuer
	if !strings.HasPrefix(next.String(), app.issuer) {
		next = mustURL(t, app.issuer+next.String())
	}
	resp := b.get(next.String())
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("form_post callback: %d\n%s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "'sha256-") || strings.Contains(csp, "'unsafe-inline'") {
		t.Fatalf("form_post CSP = %q, want the handler's hash and no unsafe-inline", csp)
	}
	if !strings.Contains(body, `action="http://localhost:9999/callback"`) || !strings.Contains(body, `name="state" value="`+f.state+`"`) {
		t.Fatalf("form_post page:\n%s", body)
	}
	code := regexpFind(t, body, `name="code" value="([^"]+)"`)
	if _, err := r.oauth.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier)); err != nil {
		t.Fatalf("code from form_post: %v", err)
	}
}

// The sign-in continues at op's /authorize/callback, which issues the
// code and hands the browser the client's redirect URI with it (RFC 6749
// §4.1.2): after a ceremony (the finish response) and with a live session
// (the login page's redirect), in query and fragment mode alike. form_post
// gets the callback's page (TestResponseModeFormPost).
func TestSignInContinuesAtCallback(t *testing.T) {
	app, b, _, r, _ := enrolled(t)
	for _, tc := range []struct{ name, mode string }{{"ceremony, query", ""}, {"live session, query", ""}, {"live session, fragment", "fragment"}} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []oauth2.AuthCodeOption
			if tc.mode != "" {
				opts = append(opts, oauth2.SetAuthURLParam("response_mode", tc.mode))
			}
			authURL, f := r.authURL(opts...)
			cb := b.toConsent(authURL)
			if !strings.HasPrefix(cb.String(), app.issuer+"/authorize/callback?id=") {
				t.Fatalf("sign-in leads to %s, want op's callback", cb)
			}
			next := b.expectRedirect(cb.String())
			if !strings.HasPrefix(next.String(), "http://localhost:9999/callback") {
				t.Fatalf("callback leads to %s, want the client's redirect URI", next)
			}
			params := next.Query()
			if tc.mode == "fragment" {
				if next.RawQuery != "" {
					t.Fatalf("fragment mode put parameters in the query: %s", next)
				}
				var err error
				if params, err = url.ParseQuery(next.Fragment); err != nil {
					t.Fatal(err)
				}
			}
			if params.Get("state") != f.state || params.Get("code") == "" {
				t.Fatalf("redirect %s: want code and state %q", next, f.state)
			}
			if _, err := r.oauth.Exchange(r.ctx, params.Get("code"), oauth2.VerifierOption(f.verifier)); err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if _, err := r.oauth.Exchange(r.ctx, params.Get("code"), oauth2.VerifierOption(f.verifier)); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("second exchange of the code: %v, want invalid_grant", err)
			}
		})
	}
}

func regexpFind(t *testing.T, s, expr string) string {
	t.Helper()
	m := regexp.MustCompile(expr).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no match for %s in\n%s", expr, s)
	}
	return m[1]
}

// The introspection endpoint authenticates a resource server as
// discovery says (RFC 8414 §2): Basic, the form, or private_key_jwt, the
// assertion single use; a DPoP-bound token's cnf is in the answer.
func TestIntrospectionClientAuthentication(t *testing.T) {
	app := newTestApp(t)
	d := app.discovery()
	if strings.Join(d.IntrospectionAuthMeths, " ") != "client_secret_basic client_secret_post private_key_jwt" {
		t.Fatalf("introspection_endpoint_auth_methods_supported = %v", d.IntrospectionAuthMeths)
	}
	key := newClientKey(t, "rs-key")
	rs, _ := app.newClient("http://localhost:9999/cb", func(c *models.Client) { c.JWKS = key.jwks(t) })
	dk := newDPoPKey(t)
	tok := app.send(http.MethodPost, "/oauth/token", withParams(url.Values{"grant_type": {"client_credentials"}}, assertionParams(key.assertion(t, rs.ID, app.issuer))),
		map[string]string{"DPoP": dk.proof(http.MethodPost, app.issuer+"/oauth/token", proofOpts{})})
	if tok.status != http.StatusOK {
		t.Fatalf("token: %d %v", tok.status, tok.body)
	}
	a := assertionParams(key.assertion(t, rs.ID, app.issuer))
	in := app.send(http.MethodPost, "/oauth/introspect", withParams(url.Values{"token": {tok.str("access_token")}}, a), nil)
	if cnf, _ := in.body["cnf"].(map[string]any); in.status != http.StatusOK || in.body["active"] != true || cnf["jkt"] != dk.jkt {
		t.Fatalf("introspection with private_key_jwt: %d %v", in.status, in.body)
	}
	if again := app.send(http.MethodPost, "/oauth/introspect", withParams(url.Values{"token": {tok.str("access_token")}}, a), nil); again.status < 400 ||
		again.str("error") != "invalid_client" {
		t.Fatalf("replayed assertion: %d %v", again.status, again.body)
	}
	other, _ := app.newClient("http://localhost:9999/cb")
	mismatched := withParams(url.Values{"client_id": {other.ID}}, assertionParams(key.assertion(t, rs.ID, app.issuer)))
	if bad := app.send(http.MethodPost, "/oauth/introspect", withParams(url.Values{"token": {tok.str("access_token")}}, mismatched), nil); bad.status != http.StatusUnauthorized ||
		bad.str("error") != "invalid_client" {
		t.Fatalf("client_id of another client beside the assertion: %d %v", bad.status, bad.body)
	}
	forged := assertionParams(newClientKey(t, "rs-key").assertion(t, rs.ID, app.issuer))
	if bad := app.send(http.MethodPost, "/oauth/introspect", withParams(url.Values{"token": {tok.str("access_token")}}, forged), nil); bad.status < 400 ||
		bad.str("error") != "invalid_client" {
		t.Fatalf("assertion by another key: %d %v", bad.status, bad.body)
	}
}
