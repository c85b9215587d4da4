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

// An admin sets a client's id_token_claims in the console's application
// form and in the API; anything but scoped or minimal is refused with a
// clear message and changes nothing.
func TestIDTokenClaimsSettingConsoleAndAPI(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	b, root := adminWithConsole(t, app)
	_, csrf := b.adminPage(app.adminURL+"/admin/clients/new", http.StatusOK)
	stored := func(name string) *models.Client {
		t.Helper()
		cs, err := app.db.ListClients(ctx)
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

	// Console: the form offers the setting; a new app defaults to scoped.
	body, _ := b.adminPage(app.adminURL+"/admin/clients/new", http.StatusOK)
	if !strings.Contains(body, `name="id_token_claims"`) || !strings.Contains(body, `<option value="scoped" selected>`) {
		t.Fatalf("the application form offers no ID token claims choice:\n%s", body)
	}
	form := url.Values{"name": {"Grafana"}, "type": {"confidential"}, "redirect_uris": {"https://grafana.example.com/cb"}, "id_token_alg": {"RS256"}}
	if resp := b.postForm(app.adminURL+"/admin/clients", csrf, form); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create client = %d\n%s", resp.StatusCode, readBody(t, resp))
	} else {
		readBody(t, resp)
	}
	cl := stored("Grafana")
	if cl.IDTokenClaims != models.IDTokenClaimsScoped {
		t.Fatalf("default id_token_claims = %q", cl.IDTokenClaims)
	}
	form.Set("id_token_claims", "minimal")
	b.expectRedirectAfter(app.adminURL+"/admin/clients/"+cl.ID, csrf, form)
	if got := stored("Grafana").IDTokenClaims; got != models.IDTokenClaimsMinimal {
		t.Fatalf("after saving minimal: %q", got)
	}
	body, _ = b.adminPage(app.adminURL+"/admin/clients/"+cl.ID, http.StatusOK)
	if !strings.Contains(body, `<option value="minimal" selected>`) {
		t.Fatal("the form does not show the stored minimal setting")
	}
	form.Set("id_token_claims", "bogus")
	form.Set("name", "Renamed")
	resp := b.postForm(app.adminURL+"/admin/clients/"+cl.ID, csrf, form)
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "ID token claims must be") {
		t.Fatalf("bogus id_token_claims = %d\n%s", resp.StatusCode, body)
	}
	if got := stored("Grafana"); got.IDTokenClaims != models.IDTokenClaimsMinimal {
		t.Fatalf("a refused form changed the client: %+v", got)
	}

	// API: create with minimal, patch to scoped, refuse bogus.
	token, _, err := app.db.CreateAPIToken(ctx, "claims", root.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ac admin.APIClient
	if st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token, map[string]any{"name": "Kube", "redirect_uris": []string{"http://localhost:8000"},
		"id_token_claims": "minimal"}, &ac); st != http.StatusCreated || ac.IDTokenClaims != "minimal" {
		t.Fatalf("create minimal client: %d %+v", st, ac)
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+ac.ID, token, map[string]any{"id_token_claims": "scoped"}, &ac); st != http.StatusOK || ac.IDTokenClaims != "scoped" {
		t.Fatalf("patch to scoped: %d %+v", st, ac)
	}
	var e map[string]string
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+ac.ID, token, map[string]any{"id_token_claims": "bogus", "name": "Other"}, &e); st != http.StatusUnprocessableEntity || !strings.Contains(e["error"], "ID token claims must be") {
		t.Fatalf("patch bogus: %d %v", st, e)
	}
	if st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token, map[string]any{"name": "Bad", "redirect_uris": []string{"http://localhost:8000"},
		"id_token_claims": "full"}, &e); st != http.StatusUnprocessableEntity {
		t.Fatalf("create bogus: %d %v", st, e)
	}
	if got := stored("Kube"); got.IDTokenClaims != models.IDTokenClaimsScoped || got.Name != "Kube" {
		t.Fatalf("a refused patch changed the client: %+v", got)
	}
	if st := apiCall(t, app, http.MethodGet, "/api/v1/clients/"+ac.ID, token, nil, &ac); st != http.StatusOK || ac.IDTokenClaims != "scoped" {
		t.Fatalf("get: %d %+v", st, ac)
	}
}
