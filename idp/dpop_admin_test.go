package idp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/admin"
)

// dpop_bound_access_tokens per client (RFC 9449 §5.2): the console's
// checkbox and the API's field (docs/openapi.yaml).
func TestAdminRequireDPoP(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	b, _ := adminWithConsole(t, app)
	body, csrf := b.adminPage(app.adminURL+"/admin/clients/new", http.StatusOK)
	if !strings.Contains(body, `name="require_dpop"`) {
		t.Fatalf("the application form has no DPoP checkbox:\n%s", body)
	}
	resp := b.postForm(app.adminURL+"/admin/clients", csrf, url.Values{"name": {"Agent"}, "type": {"confidential"},
		"redirect_uris": {"https://agent.example/cb"}, "id_token_alg": {"RS256"}, "scopes": {"openid"}, "require_dpop": {"on"}})
	if readBody(t, resp); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create client = %d", resp.StatusCode)
	}
	agent := clientNamed(t, app.db, "Agent")
	if !agent.RequireDPoP {
		t.Fatal("the console did not store require_dpop")
	}
	body, csrf = b.adminPage(app.adminURL+"/admin/clients/"+agent.ID, http.StatusOK)
	if !strings.Contains(body, `name="require_dpop" id="require-dpop" checked`) {
		t.Fatal("the edit form does not show require_dpop checked")
	}
	resp = b.postForm(app.adminURL+"/admin/clients/"+agent.ID, csrf, url.Values{"name": {"Agent"},
		"redirect_uris": {"https://agent.example/cb"}, "id_token_alg": {"RS256"}, "scopes": {"openid"}})
	readBody(t, resp)
	if clientNamed(t, app.db, "Agent").RequireDPoP {
		t.Fatalf("unchecking require_dpop (%d) left it set", resp.StatusCode)
	}

	token, _, err := app.db.CreateAPIToken(ctx, "ci", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var cl admin.APIClient
	if st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token, map[string]any{"name": "API agent",
		"redirect_uris": []string{"https://api-agent.example/cb"}, "dpop_bound_access_tokens": true}, &cl); st != http.StatusCreated || !cl.RequireDPoP {
		t.Fatalf("create client: %d %+v", st, cl)
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+cl.ID, token, map[string]any{"name": "API agent 2"}, &cl); st != http.StatusOK || !cl.RequireDPoP {
		t.Fatalf("a PATCH without the field changed it: %d %+v", st, cl)
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+cl.ID, token, map[string]any{"dpop_bound_access_tokens": false}, &cl); st != http.StatusOK || cl.RequireDPoP {
		t.Fatalf("patch: %d %+v", st, cl)
	}
	if clientNamed(t, app.db, "API agent 2").RequireDPoP {
		t.Fatal("the API PATCH did not store dpop_bound_access_tokens false")
	}
}
