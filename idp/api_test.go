package idp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/admin"

	"github.com/latchkey-idp/latchkey/models"
)

// apiCall sends a JSON request with a bearer token to the admin API.
func apiCall(t *testing.T, app *adminApp, method, path, token string, in any, out any) int {
	t.Helper()
	var body *bytes.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, app.adminURL+path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := readBody(t, resp)
	if out != nil && raw != "" {
		if err := json.Unmarshal([]byte(raw), out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

var newTokenRe = regexp.MustCompile(`id="new-token" type="text" readonly value="([^"]+)"`)

func TestAdminAPI(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	b, root := adminWithConsole(t, app)

	// Without or with a wrong token: 401 JSON.
	var e map[string]string
	if st := apiCall(t, app, http.MethodGet, "/api/v1/users", "", nil, &e); st != http.StatusUnauthorized || e["error"] == "" {
		t.Fatalf("no token: %d %v", st, e)
	}
	if st := apiCall(t, app, http.MethodGet, "/api/v1/users", "lk_nope", nil, &e); st != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", st)
	}

	// Create a token in the console; it is shown once and stored hashed.
	_, csrf := b.adminPage(app.adminURL+"/admin/tokens", http.StatusOK)
	resp := b.postForm(app.adminURL+"/admin/tokens", csrf, url.Values{"name": {"ci"}, "expires_days": {"30"}})
	body := readBody(t, resp)
	m := newTokenRe.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || m == nil {
		t.Fatalf("create token = %d\n%s", resp.StatusCode, body)
	}
	token := m[1]
	ts, _ := app.db.ListAPITokens(ctx)
	if len(ts) != 1 || bytes.Contains(ts[0].TokenHash, []byte(token)) || ts[0].ExpiresAt == nil {
		t.Fatalf("stored tokens = %+v", ts)
	}

	var users struct {
		Users []admin.APIUser `json:"users"`
		Next  *string         `json:"next"`
	}
	if st := apiCall(t, app, http.MethodGet, "/api/v1/users", token, nil, &users); st != http.StatusOK || len(users.Users) != 1 || users.Next != nil {
		t.Fatalf("list users: %d %+v", st, users)
	}
	var created struct {
		User     admin.APIUser `json:"user"`
		SetupURL string        `json:"setup_url"`
	}
	if st := apiCall(t, app, http.MethodPost, "/api/v1/users", token, map[string]any{"username": "erin", "email": "erin@example.com", "groups": []string{"staff"}}, &created); st != http.StatusCreated || !strings.HasPrefix(created.SetupURL, app.issuer+"/setup/") || !slices.Equal(created.User.Groups, []string{"staff"}) {
		t.Fatalf("create user: %d %+v", st, created)
	}
	if st := apiCall(t, app, http.MethodPost, "/api/v1/users", token, map[string]any{"username": "erin"}, &e); st != http.StatusConflict {
		t.Fatalf("duplicate user: %d %v", st, e)
	}
	var u admin.APIUser
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/users/"+created.User.ID, token, map[string]any{"display_name": "Erin E"}, &u); st != http.StatusOK || u.DisplayName != "Erin E" || u.Email != "erin@example.com" {
		t.Fatalf("patch user: %d %+v", st, u)
	}
	if st := apiCall(t, app, http.MethodPost, "/api/v1/users/"+root.ID+"/disable", token, nil, &e); st != http.StatusUnprocessableEntity {
		t.Fatalf("disable last admin: %d %v", st, e)
	}
	if st := apiCall(t, app, http.MethodPost, "/api/v1/users/"+created.User.ID+"/disable", token, nil, &u); st != http.StatusOK || !u.Disabled {
		t.Fatalf("disable: %d %+v", st, u)
	}
	var cl admin.APIClient
	if st := apiCall(t, app, http.MethodPost, "/api/v1/clients", token, map[string]any{"name": "API app", "redirect_uris": []string{"https://app.example.com/cb"}}, &cl); st != http.StatusCreated || cl.ClientSecret == "" {
		t.Fatalf("create client: %d %+v", st, cl)
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/clients/"+admin.ClientID, token, map[string]any{"name": "x"}, &e); st != http.StatusForbidden {
		t.Fatalf("patch built-in client: %d", st)
	}
	if st := apiCall(t, app, http.MethodGet, "/api/v1/keys", token, nil, nil); st != http.StatusOK {
		t.Fatalf("keys: %d", st)
	}
	evs, _, _ := app.db.QueryAudit(ctx, models.AuditQuery{Type: models.EventUserDisabled})
	if len(evs) != 1 || evs[0].ActorID != "api:"+ts[0].ID {
		t.Fatalf("API change audited as %+v", evs)
	}

	// The audit log as JSON lines: limit cuts it, before continues it, and
	// a malformed cursor or limit is a 400 in the API's JSON shape.
	auditLines := func(query string) (int, []map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, app.adminURL+"/api/v1/audit"+query, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var evs []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(readBody(t, resp)), "\n") {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("audit %s: %d, line not JSON: %q", query, resp.StatusCode, line)
			}
			evs = append(evs, ev)
		}
		return resp.StatusCode, evs
	}
	st, all := auditLines("")
	if st != http.StatusOK || len(all) < 3 {
		t.Fatalf("audit: %d %d events", st, len(all))
	}
	st, two := auditLines("?limit=2")
	if st != http.StatusOK || len(two) != 2 || two[0]["id"] != all[0]["id"] || two[1]["id"] != all[1]["id"] {
		t.Fatalf("audit limit=2: %d %v", st, two)
	}
	st, next := auditLines(fmt.Sprintf("?limit=1&before=%v", two[1]["id"]))
	if st != http.StatusOK || len(next) != 1 || next[0]["id"] != all[2]["id"] {
		t.Fatalf("audit before: %d %v", st, next)
	}
	for _, q := range []string{"?limit=0", "?limit=100001", "?limit=ten", "?before=x", "?before=-4", "?after=1e3", "?since=5/12/2026"} {
		if st, evs := auditLines(q); st != http.StatusBadRequest || len(evs) != 1 || evs[0]["error"] == nil {
			t.Fatalf("audit %s: %d %v", q, st, evs)
		}
	}

	// Revoked: refused at once.
	resp = b.postForm(app.adminURL+"/admin/tokens/"+ts[0].ID+"/revoke", csrf, url.Values{})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke = %d", resp.StatusCode)
	}
	if st := apiCall(t, app, http.MethodGet, "/api/v1/users", token, nil, &e); st != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", st)
	}
}

// TestOpenAPIMatchesRoutes: every path and method in docs/openapi.yaml is
// served on the internal listener, and every /api/v1 route is documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	app := newAdminApp(t)
	f, err := os.Open(filepath.Join("..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // opened read-only: a close error loses nothing
	pathRe := regexp.MustCompile(`^  (/api/v1\S*):\s*$`)
	methodRe := regexp.MustCompile(`^    (get|post|put|patch|delete):`)
	param := regexp.MustCompile(`\{(\w+)\}`)
	documented := map[string]bool{}
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := pathRe.FindStringSubmatch(sc.Text()); m != nil {
			cur = param.ReplaceAllString(m[1], ":$1")
		} else if m := methodRe.FindStringSubmatch(sc.Text()); m != nil && cur != "" {
			documented[strings.ToUpper(m[1])+" "+cur] = true
		} else if !strings.HasPrefix(sc.Text(), " ") {
			cur = ""
		}
	}
	if len(documented) < 20 {
		t.Fatalf("parsed only %d operations from openapi.yaml", len(documented))
	}
	served := map[string]bool{}
	for _, r := range app.srv.internal.Routes() {
		if strings.HasPrefix(r.Path, "/api/v1") {
			served[r.Method+" "+r.Path] = true
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("documented but not served: %s", op)
		}
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("served but not documented: %s", op)
		}
	}
	for _, r := range app.srv.public.Routes() {
		if strings.HasPrefix(r.Path, "/api/") || strings.HasPrefix(r.Path, "/admin") {
			t.Errorf("public listener serves %s %s", r.Method, r.Path)
		}
	}
}
