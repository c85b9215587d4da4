package idp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
)

// Pushed authorization requests (RFC 9126), request_uri (RFC 9101 §5.2)
// and the authorization response iss parameter (RFC 9207), driven over
// HTTP with requests built here from the RFCs (no client library has PAR)
// and the tokens checked by coreos/go-oidc.

// parAnswer is the PAR endpoint's answer: success or an OAuth error.
type parAnswer struct {
	status     int
	RequestURI string `json:"request_uri"`
	ExpiresIn  int    `json:"expires_in"`
	Error      string `json:"error"`
	Desc       string `json:"error_description"`
}

// push posts form to the PAR endpoint; basic, when set, is the client's
// id and secret for client_secret_basic.
func (a *testApp) push(form url.Values, basic ...string) parAnswer {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.issuer+"/oauth/par", strings.NewReader(form.Encode()))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	body := readBody(a.t, resp)
	ans := parAnswer{status: resp.StatusCode}
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		a.t.Fatalf("PAR answer %d is not JSON: %q", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		a.t.Errorf("PAR answer Cache-Control = %q, want no-store", cc)
	}
	return ans
}

// pushedRequests counts the stored pushed requests.
func (a *testApp) pushedRequests() int64 {
	a.t.Helper()
	var n int64
	if err := a.db.Gorm().Model(&models.PushedRequest{}).Count(&n).Error; err != nil {
		a.t.Fatal(err)
	}
	return n
}

// authParams are the parameters of an authorization request of r's
// client for flow f.
func (r *rp) authParams(f flow) url.Values {
	u, err := url.Parse(r.oauth.AuthCodeURL(f.state, gooidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)))
	if err != nil {
		r.t.Fatal(err)
	}
	return u.Query()
}

func newFlow() flow {
	return flow{state: models.NewToken(), nonce: models.NewToken(), verifier: oauth2.GenerateVerifier()}
}

// authorizeError opens an authorize URL that op must refuse without a
// redirect and returns the error code of its JSON answer.
func (b *browser) authorizeError(u string) string {
	b.t.Helper()
	resp := b.get(u)
	body := readBody(b.t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		b.t.Fatalf("GET %s: status %d, want 400\n%s", u, resp.StatusCode, body)
	}
	var e struct{ Error string }
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		b.t.Fatalf("GET %s: not an OAuth error: %q", u, body)
	}
	return e.Error
}

func parAuthorizeURL(issuer, clientID, requestURI string) string {
	return issuer + "/authorize?" + url.Values{"client_id": {clientID}, "request_uri": {requestURI}}.Encode()
}

func TestPushedAuthorizationRequest(t *testing.T) {
	app, b, user, r, client := enrolled(t)
	secret := r.oauth.ClientSecret

	var d map[string]any
	if err := json.Unmarshal([]byte(b.getBody("/.well-known/openid-configuration")), &d); err != nil {
		t.Fatal(err)
	}
	if d["pushed_authorization_request_endpoint"] != app.issuer+"/oauth/par" || d["require_pushed_authorization_requests"] != false {
		t.Fatalf("discovery PAR metadata: %v %v", d["pushed_authorization_request_endpoint"], d["require_pushed_authorization_requests"])
	}

	t.Run("pushed request signs in and its code redeems", func(t *testing.T) {
		r, b := r.in(t), b.in(t)
		f := newFlow()
		ans := app.in(t).push(r.authParams(f), client.ID, secret)
		if ans.status != http.StatusCreated || !strings.HasPrefix(ans.RequestURI, "urn:ietf:params:oauth:request_uri:") || ans.ExpiresIn != 60 {
			t.Fatalf("PAR answer %+v", ans)
		}
		cb := b.signIn(parAuthorizeURL(app.issuer, client.ID, ans.RequestURI))
		if cb.Query().Get("iss") != app.issuer {
			t.Errorf("callback %s: iss missing (RFC 9207)", cb)
		}
		_, idt := r.exchange(cb, f)
		if idt.Subject != user.ID {
			t.Fatalf("sub = %s", idt.Subject)
		}
		if n := app.in(t).pushedRequests(); n != 0 {
			t.Fatalf("%d pushed requests left after use", n)
		}
		// Single use (RFC 9126 §4).
		if e := b.authorizeError(parAuthorizeURL(app.issuer, client.ID, ans.RequestURI)); e != "invalid_request_uri" {
			t.Fatalf("reused request_uri: %s", e)
		}
	})

	t.Run("the pushed parameters win over the query", func(t *testing.T) {
		b := b.in(t)
		f := newFlow()
		ans := app.in(t).push(r.authParams(f), client.ID, secret)
		q := url.Values{"client_id": {client.ID}, "request_uri": {ans.RequestURI}, "state": {"from-the-query"},
			"redirect_uri": {"http://localhost:9999/elsewhere"}, "response_mode": {"fragment"}}
		cb := b.signIn(app.issuer + "/authorize?" + q.Encode())
		if cb.Path != "/callback" || cb.Query().Get("state") != f.state {
			t.Fatalf("callback %s, want the pushed redirect URI and state", cb)
		}
	})

	t.Run("another client's request_uri is refused and stays usable", func(t *testing.T) {
		app, b := app.in(t), b.in(t)
		other, _ := app.newClient("http://localhost:9999/callback")
		f := newFlow()
		ans := app.push(r.authParams(f), client.ID, secret)
		if e := b.authorizeError(parAuthorizeURL(app.issuer, other.ID, ans.RequestURI)); e != "invalid_request_uri" {
			t.Fatalf("other client: %s", e)
		}
		if e := b.authorizeError(app.issuer + "/authorize?" + url.Values{"request_uri": {ans.RequestURI}}.Encode()); e != "invalid_request" {
			t.Fatalf("no client_id: %s", e)
		}
		cb := b.signIn(parAuthorizeURL(app.issuer, client.ID, ans.RequestURI))
		r.in(t).exchange(cb, f)
	})

	t.Run("an expired request_uri is refused", func(t *testing.T) {
		app, b := app.in(t), b.in(t)
		ans := app.push(r.authParams(newFlow()), client.ID, secret)
		app.clock.Advance(61 * time.Second)
		if e := b.authorizeError(parAuthorizeURL(app.issuer, client.ID, ans.RequestURI)); e != "invalid_request_uri" {
			t.Fatalf("expired request_uri: %s", e)
		}
		if n := app.pushedRequests(); n != 0 {
			t.Fatalf("%d pushed requests left", n)
		}
	})

	t.Run("a request_uri we did not issue is refused and never fetched", func(t *testing.T) {
		b := b.in(t)
		var fetched atomic.Int32
		remote := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { fetched.Add(1) }))
		defer remote.Close()
		for _, uri := range []string{remote.URL + "/request.jwt", "urn:ietf:params:oauth:request_uri:" + models.NewToken(),
			"urn:ietf:params:oauth:request_uri:", "urn:example:other"} {
			q := r.authParams(newFlow())
			q.Set("request_uri", uri)
			if e := b.authorizeError(app.issuer + "/authorize?" + q.Encode()); e != "invalid_request_uri" {
				t.Errorf("request_uri %q: %s", uri, e)
			}
		}
		if fetched.Load() != 0 {
			t.Fatalf("the remote request_uri was fetched %d times", fetched.Load())
		}
	})
}

func TestPushedAuthorizationRequestRefusals(t *testing.T) {
	app, _, _, r, client := enrolled(t)
	secret := r.oauth.ClientSecret
	good := func() url.Values { return r.authParams(newFlow()) }
	with := func(k, v string) url.Values {
		p := good()
		p.Set(k, v)
		return p
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		basic  []string
		status int
		code   string
	}{
		{"unknown client", good(), []string{"no-such-client", secret}, 400, "invalid_client"},
		{"wrong secret", good(), []string{client.ID, "wrong"}, 400, "invalid_client"},
		{"no client authentication", good(), nil, 400, "invalid_client"},
		{"client_id of another client in the body", with("client_id", "someone-else"), []string{client.ID, secret}, 400, "invalid_request"},
		{"request_uri in the body (RFC 9126 §2.1)", with("request_uri", "urn:ietf:params:oauth:request_uri:x"), []string{client.ID, secret}, 400, "invalid_request"},
		{"unregistered redirect_uri", with("redirect_uri", "https://attacker.example/cb"), []string{client.ID, secret}, 400, "invalid_request"},
		{"PKCE plain", with("code_challenge_method", "plain"), []string{client.ID, secret}, 400, "invalid_request"},
		{"implicit response_type", with("response_type", "token"), []string{client.ID, secret}, 400, "invalid_request"},
		{"no openid scope", with("scope", "profile"), []string{client.ID, secret}, 400, "invalid_scope"},
		{"oversize body", with("state", strings.Repeat("x", 70<<10)), []string{client.ID, secret}, 413, "invalid_request"},
		{"unsigned request object", with("request", "eyJhbGciOiJub25lIn0.e30."), []string{client.ID, secret}, 400, "invalid_request_object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := app.in(t)
			ans := app.push(tc.form, tc.basic...)
			if ans.status != tc.status || ans.Error != tc.code {
				t.Fatalf("PAR answer %d %s (%s), want %d %s", ans.status, ans.Error, ans.Desc, tc.status, tc.code)
			}
			if n := app.pushedRequests(); n != 0 {
				t.Fatalf("a refused request stored %d pushed requests", n)
			}
		})
	}
	t.Run("GET is 405 (RFC 9126 §2.3)", func(t *testing.T) {
		resp, err := http.Get(app.issuer + "/oauth/par?" + good().Encode())
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET /oauth/par: %d", resp.StatusCode)
		}
		if n := app.in(t).pushedRequests(); n != 0 {
			t.Fatalf("%d pushed requests", n)
		}
	})
	t.Run("client_secret_post", func(t *testing.T) {
		p := good()
		p.Set("client_secret", secret)
		if ans := app.in(t).push(p); ans.status != http.StatusCreated {
			t.Fatalf("client_secret_post: %+v", ans)
		}
	})
	t.Run("two authentication methods", func(t *testing.T) {
		p := good()
		p.Set("client_secret", secret)
		if ans := app.in(t).push(p, client.ID, secret); ans.Error != "invalid_request" {
			t.Fatalf("basic and post: %+v", ans)
		}
	})
}

func TestPushedAuthorizationRequestClientAuthentication(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("pam", false)
	b := app.newBrowser()
	b.register(setup)
	const redirect = "http://localhost:9999/callback"
	key := newClientKey(t, "par-key")
	keyed, _ := app.newClient(redirect, func(c *models.Client) { c.JWKS = key.jwks(t) })
	public, _ := app.newClient(redirect, func(c *models.Client) { c.Public = true })

	t.Run("private_key_jwt with the PAR endpoint as audience, once", func(t *testing.T) {
		app := app.in(t)
		r := app.newRP(keyed.ID, "", redirect, "openid")
		f := newFlow()
		a := key.assertion(t, keyed.ID, app.issuer+"/oauth/par")
		form := r.authParams(f)
		for k, v := range assertionParams(a) {
			form[k] = v
		}
		ans := app.push(form)
		if ans.status != http.StatusCreated {
			t.Fatalf("PAR with private_key_jwt: %+v", ans)
		}
		if again := app.push(form); again.Error != "invalid_client" {
			t.Fatalf("replayed assertion: %+v", again)
		}
		forged := r.authParams(newFlow())
		for k, v := range assertionParams(newClientKey(t, "par-key").assertion(t, keyed.ID, app.issuer)) {
			forged[k] = v
		}
		if ans := app.push(forged); ans.Error != "invalid_client" {
			t.Fatalf("assertion by another key: %+v", ans)
		}
		if ans := app.push(withParam(r.authParams(newFlow()), "client_secret", "guess"), keyed.ID, "guess"); ans.Error != "invalid_request" && ans.Error != "invalid_client" {
			t.Fatalf("secret for a key client: %+v", ans)
		}
		cb := b.in(t).signIn(parAuthorizeURL(app.issuer, keyed.ID, ans.RequestURI))
		code := cb.Query().Get("code")
		tokenForm := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {f.verifier}}
		for k, v := range assertionParams(key.assertion(t, keyed.ID, app.issuer)) {
			tokenForm[k] = v
		}
		resp, err := http.PostForm(app.issuer+"/oauth/token", tokenForm)
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
		if err != nil || idt.Nonce != f.nonce {
			t.Fatalf("ID token: %v nonce %q", err, idt.Nonce)
		}
	})

	t.Run("public client with PKCE", func(t *testing.T) {
		app := app.in(t)
		r := app.newRP(public.ID, "", redirect, "openid")
		f := newFlow()
		ans := app.push(r.authParams(f))
		if ans.status != http.StatusCreated {
			t.Fatalf("public PAR: %+v", ans)
		}
		cb := b.in(t).signIn(parAuthorizeURL(app.issuer, public.ID, ans.RequestURI))
		r.in(t).exchange(cb, f)
		noPKCE := r.authParams(newFlow())
		noPKCE.Del("code_challenge")
		noPKCE.Del("code_challenge_method")
		if ans := app.push(noPKCE); ans.Error != "invalid_request" {
			t.Fatalf("public client without PKCE: %+v", ans)
		}
	})
}

func withParam(p url.Values, k, v string) url.Values {
	p.Set(k, v)
	return p
}

func TestRequirePushedAuthorizationRequests(t *testing.T) {
	t.Run("per client", func(t *testing.T) {
		app, b, _, _, _ := enrolled(t)
		const redirect = "http://localhost:9999/callback"
		strict, secret := app.newClient(redirect, func(c *models.Client) { c.RequirePAR = true })
		r := app.newRP(strict.ID, secret, redirect)
		f := newFlow()
		cb := b.signIn(app.issuer + "/authorize?" + r.authParams(f).Encode())
		if cb.Query().Get("error") != "invalid_request" || cb.Query().Get("state") != f.state || cb.Query().Get("iss") != app.issuer {
			t.Fatalf("unpushed request of a PAR client: %s", cb)
		}
		if n := app.pushedRequests(); n != 0 {
			t.Fatalf("%d pushed requests", n)
		}
		ans := app.push(r.authParams(f), strict.ID, secret)
		r.exchange(b.signIn(parAuthorizeURL(app.issuer, strict.ID, ans.RequestURI)), f)
	})
	t.Run("globally (--require-par)", func(t *testing.T) {
		app := newTestApp(t, func(c *Config) { c.OIDC.RequirePAR = true })
		_, setup := app.newUser("gus", false)
		b := app.newBrowser()
		b.register(setup)
		const redirect = "http://localhost:9999/callback"
		client, secret := app.newClient(redirect)
		var d map[string]any
		if err := json.Unmarshal([]byte(b.getBody("/.well-known/oauth-authorization-server")), &d); err != nil {
			t.Fatal(err)
		}
		if d["require_pushed_authorization_requests"] != true {
			t.Fatalf("metadata require_pushed_authorization_requests = %v", d["require_pushed_authorization_requests"])
		}
		r := app.newRP(client.ID, secret, redirect)
		f := newFlow()
		cb := b.signIn(app.issuer + "/authorize?" + r.authParams(f).Encode())
		if cb.Query().Get("error") != "invalid_request" {
			t.Fatalf("unpushed request: %s", cb)
		}
		ans := app.push(r.authParams(f), client.ID, secret)
		r.exchange(b.signIn(parAuthorizeURL(app.issuer, client.ID, ans.RequestURI)), f)
	})
}

// getBody GETs u and returns the body of its 200 answer.
func (b *browser) getBody(u string) string {
	b.t.Helper()
	resp := b.get(u)
	body := readBody(b.t, resp)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, body)
	}
	return body
}

// A request pushed to one instance is used at another, once (Postgres).
func TestPushedAuthorizationRequestAcrossInstances(t *testing.T) {
	c := newCluster(t)
	_, setup := c.newUser("ivy", false)
	b := c.newBrowser()
	b.register(setup)
	const redirect = "http://localhost:9999/callback"
	client, secret := c.newClient(redirect)
	r := c.newRP(client.ID, secret, redirect)
	c.pin("/oauth/par", 'A')
	c.pin("/authorize", 'B')
	f := newFlow()
	ans := c.push(r.authParams(f), client.ID, secret)
	if ans.status != http.StatusCreated {
		t.Fatalf("PAR: %+v", ans)
	}
	r.exchange(b.signIn(parAuthorizeURL(c.issuer, client.ID, ans.RequestURI)), f)
	c.pin("/authorize", 'A')
	if e := b.authorizeError(parAuthorizeURL(c.issuer, client.ID, ans.RequestURI)); e != "invalid_request_uri" {
		t.Fatalf("request_uri reused at the other instance: %s", e)
	}
	if got := c.servedBy("/oauth/par") + c.servedBy("/authorize"); got != "ABA" {
		t.Fatalf("served by %s, want ABA", got)
	}
}

// The PAR endpoint shares the token endpoint's rate limit: a flood is 429
// and stores nothing.
func TestPushedAuthorizationRequestRateLimit(t *testing.T) {
	app := newTestApp(t, func(c *Config) {
		c.RateLimits.Limits = map[string]RateLimit{RateLimitToken: {2, time.Minute}}
	})
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)
	for i := range 2 {
		if ans := app.push(r.authParams(newFlow()), client.ID, secret); ans.status != http.StatusCreated {
			t.Fatalf("push %d: %+v", i, ans)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, app.issuer+"/oauth/par", strings.NewReader(r.authParams(newFlow()).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third push: %d", resp.StatusCode)
	}
	if n := app.pushedRequests(); n != 2 {
		t.Fatalf("%d pushed requests stored, want 2", n)
	}
}
