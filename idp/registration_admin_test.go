package idp

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// TestRegistrationTokensConsoleAndAPI: an admin issues initial access
// tokens in the console and through /api/v1/registration-tokens (shown
// once, stored hashed, optionally expiring), an application registers
// with one, the console and the API mark it self-registered, and a
// revoked token is refused at once.
func TestRegistrationTokensConsoleAndAPI(t *testing.T) {
	app := newAdminApp(t, withRegistration(oidc.RegistrationToken))
	ctx := context.Background()
	b, root := adminWithConsole(t, app)

	body, csrf := b.adminPage(app.adminURL+"/admin/registration-tokens", http.StatusOK)
	if !strings.Contains(body, app.issuer+"/oauth/register") || !strings.Contains(body, "No initial access tokens yet") ||
		!strings.Contains(body, "needs one of these tokens") {
		t.Fatalf("registration page:\n%s", body)
	}
	resp := b.postForm(app.adminURL+"/admin/registration-tokens", csrf, url.Values{"name": {"Agent platform"}, "expires_days": {"7"}})
	body = readBody(t, resp)
	m := newTokenRe.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || m == nil || !strings.HasPrefix(m[1], models.RegistrationTokenPrefix) {
		t.Fatalf("create registration token = %d\n%s", resp.StatusCode, body)
	}
	consoleToken := m[1]
	for _, bad := range []url.Values{{"name": {" "}, "expires_days": {"7"}}, {"name": {"x"}, "expires_days": {"3650"}}} {
		resp = b.postForm(app.adminURL+"/admin/registration-tokens", csrf, bad)
		if readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("bad form %v = %d", bad, resp.StatusCode)
		}
	}
	ts, _ := app.db.ListRegistrationTokens(ctx)
	if len(ts) != 1 || bytes.Contains(ts[0].TokenHash, []byte(consoleToken)) || ts[0].CreatedBy != root.ID || ts[0].ExpiresAt == nil {
		t.Fatalf("stored registration tokens = %+v", ts)
	}
	if apiTokens, _ := app.db.ListAPITokens(ctx); len(apiTokens) != 0 {
		t.Fatalf("a registration token is listed as an API token: %+v", apiTokens)
	}

	reg := app.register(map[string]any{"redirect_uris": []string{"https://agent.example/cb"}, "client_name": "Helpful Agent"}, consoleToken)
	if reg.status != http.StatusCreated {
		t.Fatalf("register: %d %v", reg.status, reg.body)
	}
	id := reg.str("client_id")
	body, _ = b.adminPage(app.adminURL+"/admin/clients", http.StatusOK)
	if !strings.Contains(body, `Helpful Agent</a> <span class="badge"`) || !strings.Contains(body, ">self-registered</span>") {
		t.Fatalf("the clients list does not mark the self-registered client:\n%s", body)
	}
	body, _ = b.adminPage(app.adminURL+"/admin/clients/"+id, http.StatusOK)
	if !strings.Contains(body, `id="self-registered"`) || !strings.Contains(body, "with an initial access token") {
		t.Fatalf("the client page does not mark it self-registered:\n%s", body)
	}

	apiToken, _, err := app.db.CreateAPIToken(ctx, "ci", root.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cl admin.APIClient
	if st := apiCall(t, app, http.MethodGet, "/api/v1/clients/"+id, apiToken, nil, &cl); st != http.StatusOK || !cl.SelfRegistered || cl.RegisteredBy != ts[0].ID {
		t.Fatalf("API client: %d %+v", st, cl)
	}
	var e map[string]string
	if st := apiCall(t, app, http.MethodGet, "/api/v1/registration-tokens", consoleToken, nil, &e); st != http.StatusUnauthorized {
		t.Fatalf("an initial access token on /api/v1: %d", st)
	}
	var created admin.APIRegistrationToken
	if st := apiCall(t, app, http.MethodPost, "/api/v1/registration-tokens", apiToken, map[string]any{"name": "partner", "expires_in": 3600}, &created); st != http.StatusCreated ||
		!strings.HasPrefix(created.Token, models.RegistrationTokenPrefix) || created.State != "active" || created.ExpiresAt == "" {
		t.Fatalf("API create: %d %+v", st, created)
	}
	for _, bad := range []map[string]any{{"name": ""}, {"name": "x", "expires_in": -1}} {
		if st := apiCall(t, app, http.MethodPost, "/api/v1/registration-tokens", apiToken, bad, &e); st != http.StatusUnprocessableEntity {
			t.Fatalf("API create %v: %d %v", bad, st, e)
		}
	}
	var list struct {
		Tokens []admin.APIRegistrationToken `json:"registration_tokens"`
	}
	if st := apiCall(t, app, http.MethodGet, "/api/v1/registration-tokens", apiToken, nil, &list); st != http.StatusOK || len(list.Tokens) != 2 ||
		list.Tokens[0].Token != "" || list.Tokens[1].LastUsedAt == "" {
		t.Fatalf("API list: %d %+v", st, list)
	}
	if st := apiCall(t, app, http.MethodDelete, "/api/v1/registration-tokens/"+created.ID, apiToken, nil, nil); st != http.StatusNoContent {
		t.Fatalf("API revoke: %d", st)
	}
	wantRefused(t, app.register(map[string]any{"redirect_uris": []string{"https://partner.example/cb"}}, created.Token), http.StatusUnauthorized, "invalid_token")
	if st := apiCall(t, app, http.MethodDelete, "/api/v1/registration-tokens/"+created.ID, apiToken, nil, &e); st != http.StatusNotFound {
		t.Fatalf("API revoke twice: %d", st)
	}

	// Revoke in the console; the client registered with it stays.
	body, csrf = b.adminPage(app.adminURL+"/admin/registration-tokens", http.StatusOK)
	if !strings.Contains(body, "Agent platform") || !strings.Contains(body, "revoked") || strings.Contains(body, consoleToken) {
		t.Fatalf("registration page lists:\n%s", body)
	}
	loc := b.expectRedirectAfter(app.adminURL+"/admin/registration-tokens/"+ts[0].ID+"/revoke", csrf, url.Values{})
	if !strings.Contains(loc, "done=registration-token-revoked") {
		t.Fatalf("revoke redirected to %s", loc)
	}
	wantRefused(t, app.register(map[string]any{"redirect_uris": []string{"https://agent.example/cb"}}, consoleToken), http.StatusUnauthorized, "invalid_token")
	if _, err := app.db.ClientByID(ctx, id); err != nil {
		t.Fatalf("revoking the token removed its client: %v", err)
	}
	evs, _, _ := app.db.QueryAudit(ctx, models.AuditQuery{Type: models.EventRegistrationTokenRevoked})
	if len(evs) != 2 || evs[0].ActorID != root.ID || !strings.HasPrefix(evs[1].ActorID, "api:") {
		t.Errorf("revocations audited: %+v", evs)
	}
}
