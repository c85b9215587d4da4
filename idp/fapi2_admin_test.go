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

// The FAPI 2.0 profile in the console (a select on the application form)
// and the API (profile): set on a client that can meet it, refused with
// the reason on one that cannot, and nothing changes on a refusal.
func TestAdminFAPI2Profile(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	b, _ := adminWithConsole(t, app)
	key := newClientKey(t, "k")
	bank, _ := app.newClient("https://bank.example/cb", func(c *models.Client) { c.Name, c.JWKS, c.IDTokenAlg = "Bank", key.jwks(t), "ES256" })
	plain, _ := app.newClient("https://plain.example/cb", func(c *models.Client) { c.Name = "Plain" })

	body, csrf := b.adminPage(app.adminURL+"/admin/clients/"+bank.ID, http.StatusOK)
	if !strings.Contains(body, `<select id="profile" name="profile"`) {
		t.Fatalf("the application form has no profile select:\n%s", body)
	}
	form := func(idTokenAlg, profile string) url.Values {
		return url.Values{"name": {"Bank"}, "redirect_uris": {"https://bank.example/cb"}, "id_token_alg": {idTokenAlg},
			"scopes": {"openid"}, "profile": {profile}}
	}
	resp := b.postForm(app.adminURL+"/admin/clients/"+bank.ID, csrf, form("ES256", "fapi2"))
	readBody(t, resp)
	if c := clientNamed(t, app.db, "Bank"); !c.FAPI2() {
		t.Fatalf("the console did not store the profile (%d)", resp.StatusCode)
	}
	body, _ = b.adminPage(app.adminURL+"/admin/clients/"+bank.ID, http.StatusOK)
	if !strings.Contains(body, `<option value="fapi2" selected>`) {
		t.Fatal("the edit form does not show the FAPI 2.0 profile")
	}
	resp = b.postForm(app.adminURL+"/admin/clients/"+bank.ID, csrf, form("RS256", "fapi2"))
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "ES256 ID tokens") {
		t.Fatalf("FAPI 2.0 with RS256 ID tokens: %d\n%s", resp.StatusCode, body)
	}
	if c := clientNamed(t, app.db, "Bank"); c.IDTokenAlg != "ES256" || !c.FAPI2() {
		t.Fatalf("a refused form changed the client: %+v", c)
	}

	token, _, err := app.db.CreateAPIToken(ctx, "ci", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var cl admin.APIClient
	if st := apiCall(t, app, http.MethodGet, "/api/v1/clients/"+bank.ID, token, nil, &cl); st != http.StatusOK || cl.Profile != "fapi2" || !cl.RequirePKCE {
		t.Fatalf("API read: %d %+v", st, cl)
	}
	var e map[string]string
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+plain.ID, token, map[string]any{"profile": "fapi2"}, &e); st != http.StatusUnprocessableEntity ||
		!strings.Contains(e["error"], "FAPI 2.0") {
		t.Fatalf("API profile on a client without keys: %d %v", st, e)
	}
	if clientNamed(t, app.db, "Plain").FAPI2() {
		t.Fatal("a refused PATCH stored the profile")
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+bank.ID, token, map[string]any{"profile": ""}, &cl); st != http.StatusOK || cl.Profile != "" {
		t.Fatalf("API profile off: %d %+v", st, cl)
	}
	if clientNamed(t, app.db, "Bank").FAPI2() {
		t.Fatal("the API did not take the profile off")
	}
}
