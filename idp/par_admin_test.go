package idp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/models"
)

// require_pushed_authorization_requests per client: the console's
// checkbox and the API's field (docs/openapi.yaml); with --require-par the
// console still signs in (its built-in client is spared).
func TestAdminRequirePAR(t *testing.T) {
	app := newAdminApp(t, func(c *Config) { c.OIDC.RequirePAR = true })
	ctx := context.Background()
	b, _ := adminWithConsole(t, app) // the console's client is not refused under --require-par
	body, csrf := b.adminPage(app.adminURL+"/admin/clients/new", http.StatusOK)
	if !strings.Contains(body, `name="require_par"`) {
		t.Fatalf("the application form has no PAR checkbox:\n%s", body)
	}
	resp := b.postForm(app.adminURL+"/admin/clients", csrf, url.Values{"name": {"Bank"}, "type": {"confidential"},
		"redirect_uris": {"https://bank.example/cb"}, "id_token_alg": {"RS256"}, "scopes": {"openid"}, "require_par": {"on"}})
	if readBody(t, resp); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create client = %d", resp.StatusCode)
	}
	bank := clientNamed(t, app.db, "Bank")
	if !bank.RequirePAR {
		t.Fatal("the console did not store require_par")
	}
	body, csrf = b.adminPage(app.adminURL+"/admin/clients/"+bank.ID, http.StatusOK)
	if !strings.Contains(body, `name="require_par" id="require-par" checked`) {
		t.Fatal("the edit form does not show require_par checked")
	}
	resp = b.postForm(app.adminURL+"/admin/clients/"+bank.ID, csrf, url.Values{"name": {"Bank"},
		"redirect_uris": {"https://bank.example/cb"}, "id_token_alg": {"RS256"}, "scopes": {"openid"}})
	readBody(t, resp)
	if clientNamed(t, app.db, "Bank").RequirePAR {
		t.Fatalf("unchecking require_par (%d) left it set", resp.StatusCode)
	}

	token, _, err := app.db.CreateAPIToken(ctx, "ci", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var cl admin.APIClient
	if st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token, map[string]any{"name": "API bank",
		"redirect_uris": []string{"https://api-bank.example/cb"}, "require_pushed_authorization_requests": true}, &cl); st != http.StatusCreated || !cl.RequirePAR {
		t.Fatalf("create client: %d %+v", st, cl)
	}
	if !clientNamed(t, app.db, "API bank").RequirePAR {
		t.Fatal("the API did not store require_par")
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+cl.ID, token, map[string]any{"name": "API bank 2"}, &cl); st != http.StatusOK || !cl.RequirePAR {
		t.Fatalf("a PATCH without the field changed it: %d %+v", st, cl)
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+cl.ID, token, map[string]any{"require_pushed_authorization_requests": false}, &cl); st != http.StatusOK || cl.RequirePAR {
		t.Fatalf("patch: %d %+v", st, cl)
	}
	if clientNamed(t, app.db, "API bank 2").RequirePAR {
		t.Fatal("the API PATCH did not store require_par false")
	}
}

func clientNamed(t *testing.T, db *models.DB, name string) *models.Client {
	t.Helper()
	cs, err := db.ListClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	t.Fatalf("no client %q", name)
	return nil
}

// The console's own client checks iss (RFC 9207 §2.4): a response that
// names another issuer, or none, is refused and signs nobody in.
func TestAdminCallbackChecksIss(t *testing.T) {
	app := newAdminApp(t)
	_, link := app.newUser("root", true)
	b := app.newBrowser()
	b.register(link)
	for _, iss := range []string{"https://other.example", ""} {
		loc := b.expectRedirect(app.adminURL + "/admin")
		cb := b.signIn(b.expectRedirect(loc.String()).String())
		q := cb.Query()
		if q.Get("iss") != app.issuer {
			t.Fatalf("console callback %s without iss", cb)
		}
		q.Set("iss", iss)
		if iss == "" {
			q.Del("iss")
		}
		cb.RawQuery = q.Encode()
		resp := b.get(cb.String())
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "does not come from this server") {
			t.Fatalf("iss %q: %d", iss, resp.StatusCode)
		}
		if resp := b.get(app.adminURL + "/admin"); resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
			t.Fatalf("iss %q: the console let the browser in (%d)", iss, resp.StatusCode)
		} else {
			readBody(t, resp)
		}
	}
}
