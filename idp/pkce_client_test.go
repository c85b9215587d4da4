package idp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/models"
)

// PKCE is a per-client setting (issue 19): a confidential client that
// requires it is refused without a code challenge (RFC 7636 §4.4.1:
// invalid_request) and signs in with one; public clients need it whatever
// the setting says.
func TestClientRequiresPKCE(t *testing.T) {
	app := newTestApp(t)
	_, setup := app.newUser("alice", false)
	b := app.newBrowser()
	b.register(setup)
	const redirect = "http://localhost:9999/callback"
	strict, secret := app.newClient(redirect, func(c *models.Client) { c.RequirePKCE = true })
	relaxed, relaxedSecret := app.newClient(redirect)
	public, _ := app.newClient(redirect, func(c *models.Client) { c.Public = true })

	refused := func(r *rp, want string) {
		t.Helper()
		u, _ := url.Parse(r.oauth.AuthCodeURL("st", gooidc.Nonce("n")))
		loc := b.expectRedirect(u.String())
		q := loc.Query()
		if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), want) || q.Get("state") != "st" {
			t.Fatalf("%s without a code challenge: redirected to %s", r.oauth.ClientID, loc)
		}
	}
	refused(app.newRP(strict.ID, secret, redirect), "required for this client")
	refused(app.newRP(public.ID, "", redirect), "required for public clients")

	// With a challenge the strict client signs in, and the token endpoint
	// checks the verifier.
	r := app.newRP(strict.ID, secret, redirect)
	authURL, _ := r.authURL()
	cb := b.signIn(authURL)
	if _, err := r.oauth.Exchange(r.ctx, cb.Query().Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Fatal("a code redeemed with the wrong verifier")
	}
	authURL, f := r.authURL()
	r.exchange(b.signIn(authURL), f)

	// Without the setting a confidential client may leave PKCE out.
	rr := app.newRP(relaxed.ID, relaxedSecret, redirect)
	u := rr.oauth.AuthCodeURL("st2", gooidc.Nonce("n2"))
	cb = b.signIn(u)
	if cb.Query().Get("code") == "" {
		t.Fatalf("a confidential client without require_pkce was refused: %s", cb)
	}
	if _, err := rr.oauth.Exchange(rr.ctx, cb.Query().Get("code")); err != nil {
		t.Fatalf("exchange without PKCE: %v", err)
	}
}

// The console's application form: a new application has the usual scopes
// ticked (offline_access and groups included), every scope is explained,
// and PKCE is a checkbox that is stored, shown, and cannot be turned off
// for a public client; the CLI and the API set it too.
func TestAdminClientScopesAndPKCE(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	b, _ := adminWithConsole(t, app)
	body, csrf := b.adminPage(app.adminURL+"/admin/clients/new", http.StatusOK)
	for _, sc := range []string{"openid", "profile", "email", "groups", "offline_access"} {
		if !strings.Contains(body, `value="`+sc+`" aria-describedby="scope-`+sc+`-hint" checked`) {
			t.Errorf("the new-application form does not tick %s", sc)
		}
		if !strings.Contains(body, `<p class="hint" id="scope-`+sc+`-hint">`) {
			t.Errorf("the form does not explain %s", sc)
		}
	}
	if !strings.Contains(body, `name="require_pkce"`) || !strings.Contains(body, "Public applications always need PKCE") {
		t.Fatal("the application form has no PKCE setting with its explanation")
	}

	form := url.Values{"name": {"Wiki"}, "type": {"confidential"}, "redirect_uris": {"https://wiki.example/cb"},
		"id_token_alg": {"RS256"}, "scopes": {"openid", "offline_access", "nonsense"}, "require_pkce": {"on"}}
	resp := b.postForm(app.adminURL+"/admin/clients", csrf, form)
	if readBody(t, resp); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create client = %d", resp.StatusCode)
	}
	wiki := clientNamed(t, app.db, "Wiki")
	if !wiki.RequirePKCE || strings.Join(wiki.AllowedScopes, " ") != "openid offline_access" {
		t.Fatalf("stored require_pkce=%v scopes=%v", wiki.RequirePKCE, wiki.AllowedScopes)
	}
	body, csrf = b.adminPage(app.adminURL+"/admin/clients/"+wiki.ID, http.StatusOK)
	if !strings.Contains(body, `id="require-pkce" aria-describedby="pkce-hint" checked>`) {
		t.Fatal("the edit form does not show require_pkce ticked")
	}
	form.Del("require_pkce")
	form.Del("type")
	if resp := b.postForm(app.adminURL+"/admin/clients/"+wiki.ID, csrf, form); readBody(t, resp) != "" && resp.StatusCode >= 400 {
		t.Fatalf("saving the form answered %d", resp.StatusCode)
	}
	if clientNamed(t, app.db, "Wiki").RequirePKCE {
		t.Fatal("unticking require_pkce left it set")
	}

	pub, _ := app.newClient("https://spa.example/cb", func(c *models.Client) { c.Public = true; c.Name = "SPA" })
	body, _ = b.adminPage(app.adminURL+"/admin/clients/"+pub.ID, http.StatusOK)
	if !strings.Contains(body, `id="require-pkce" aria-describedby="pkce-hint" checked disabled>`) {
		t.Fatal("a public client's form does not show PKCE as required and fixed")
	}

	token, _, err := app.db.CreateAPIToken(ctx, "ci", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var cl admin.APIClient
	if st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token, map[string]any{"name": "API app",
		"redirect_uris": []string{"https://api-app.example/cb"}, "require_pkce": true}, &cl); st != http.StatusCreated || !cl.RequirePKCE {
		t.Fatalf("create client: %d %+v", st, cl)
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+cl.ID, token, map[string]any{"require_pkce": false}, &cl); st != http.StatusOK || cl.RequirePKCE {
		t.Fatalf("patch: %d %+v", st, cl)
	}
	if clientNamed(t, app.db, "API app").RequirePKCE {
		t.Fatal("the API PATCH did not store require_pkce false")
	}
	var pc admin.APIClient
	if st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token, map[string]any{"name": "API SPA", "public": true,
		"redirect_uris": []string{"https://api-spa.example/cb"}}, &pc); st != http.StatusCreated || !pc.RequirePKCE {
		t.Fatalf("a public client's require_pkce reads %v (%d)", pc.RequirePKCE, st)
	}
}
