package idp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/models"
)

func TestAdminConsoleOnlyOnInternalListener(t *testing.T) {
	app := newAdminApp(t)
	for _, p := range []string{"/admin", "/admin/users", "/admin/login", "/admin/callback", "/api/v1/users"} {
		rec := httptest.NewRecorder()
		app.srv.PublicHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("public GET %s = %d, want 404", p, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	app.srv.InternalHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/users", nil))
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), "/admin/login?next=") {
		t.Errorf("internal GET /admin/users without session = %d %q, want a redirect to sign in", rec.Code, rec.Header().Get("Location"))
	}
}

func TestAdminDefaultURL(t *testing.T) {
	for _, tc := range []struct{ listen, tls, want string }{
		{"127.0.0.1:8081", "", "http://localhost:8081"},
		{":9000", "", "http://localhost:9000"},
		{"10.0.0.5:8081", "cert.pem", "https://10.0.0.5:8081"},
	} {
		c := Config{InternalListen: tc.listen, TLSCert: tc.tls}
		c.adminDefaults()
		if c.AdminURL != tc.want {
			t.Errorf("listen %q: AdminURL %q, want %q", tc.listen, c.AdminURL, tc.want)
		}
	}
}

var setupLinkRe = regexp.MustCompile(`id="setup-link" type="text" readonly value="([^"]+)"`)

// TestAdminConsoleFlow: an admin signs in with a passkey through the
// built-in client, creates a user (setup link + QR), the user registers,
// the change shows in the audit log with the admin as actor; a non-admin
// is refused with a 403 page; sign-out ends the console session.
func TestAdminConsoleFlow(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	root, link := app.newUser("root", true)
	ab := app.newBrowser()
	ab.register(link)

	resp := app.consoleSignIn(ab)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("callback = %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	body, csrf := ab.adminPage(app.adminURL+"/admin", http.StatusOK)
	if !strings.Contains(body, "Sign-ins per day") || !strings.Contains(body, "<svg") {
		t.Fatalf("overview page lacks the chart:\n%s", body)
	}

	// Form errors are shown on the form.
	resp = ab.postForm(app.adminURL+"/admin/users", csrf, url.Values{"username": {"bad name!"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) {
		t.Fatalf("bad username: %d\n%s", resp.StatusCode, body)
	}
	// Missing CSRF token is refused.
	resp = ab.postForm(app.adminURL+"/admin/users", "wrong", url.Values{"username": {"carol"}})
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token = %d, want 403", resp.StatusCode)
	}

	resp = ab.postForm(app.adminURL+"/admin/users", csrf, url.Values{"username": {"Carol"}, "email": {"carol@example.com"},
		"display_name": {"Carol"}, "custom_claims": {`{"department":"sales"}`}})
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create user = %d\n%s", resp.StatusCode, body)
	}
	m := setupLinkRe.FindStringSubmatch(body)
	if m == nil || !strings.HasPrefix(m[1], app.issuer+"/setup/") {
		t.Fatalf("no setup link on the page:\n%s", body)
	}
	if !strings.Contains(body, `src="data:image/png;base64,`) {
		t.Errorf("no QR code on the setup link page")
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("setup link page Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	carol, err := app.db.UserByUsername(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if carol.CustomClaims["department"] != "sales" {
		t.Errorf("custom claims = %v", carol.CustomClaims)
	}
	cb := app.newBrowser()
	cb.register(strings.ReplaceAll(m[1], "&#43;", "+"))

	// The audit log shows the creation with the admin as actor.
	evs, _, err := app.db.QueryAudit(ctx, models.AuditQuery{Type: models.EventUserCreated})
	if err != nil || len(evs) != 1 || evs[0].ActorID != root.ID || evs[0].UserID != carol.ID {
		t.Fatalf("user_created events = %+v, %v", evs, err)
	}
	body, _ = ab.adminPage(app.adminURL+"/admin/audit?user=carol", http.StatusOK)
	for _, want := range []string{"user_created", "setup_link_used", "passkey_added", "root"} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page for carol lacks %q", want)
		}
	}
	// Export as JSON lines.
	resp = ab.get(app.adminURL + "/admin/audit/export?type=user_created")
	body = readBody(t, resp)
	lines := strings.Split(strings.TrimSpace(body), "\n")
	var ev map[string]any
	if resp.StatusCode != http.StatusOK || len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &ev) != nil || ev["actor_id"] != root.ID {
		t.Fatalf("export = %d %q", resp.StatusCode, body)
	}

	// Disable ends the user's sessions at once.
	_, csrf = ab.adminPage(app.adminURL+"/admin/users/"+carol.ID, http.StatusOK)
	resp = ab.postForm(app.adminURL+"/admin/users/"+carol.ID+"/disable", csrf, url.Values{})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable = %d", resp.StatusCode)
	}
	if u, _ := app.db.UserByID(ctx, carol.ID); !u.Disabled {
		t.Fatal("carol not disabled")
	}
	// The last admin cannot be disabled.
	resp = ab.postForm(app.adminURL+"/admin/users/"+root.ID+"/disable", csrf, url.Values{})
	if readBody(t, resp); resp.StatusCode != http.StatusConflict {
		t.Fatalf("disabling the last admin = %d, want 409", resp.StatusCode)
	}

	// A non-admin who signs in gets a clear 403 page.
	_, bobLink := app.newUser("bob", false)
	bb := app.newBrowser()
	bb.register(bobLink)
	resp = app.consoleSignIn(bb)
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Not an administrator") {
		t.Fatalf("non-admin console sign-in = %d\n%s", resp.StatusCode, body)
	}

	// Sign-out.
	_, csrf = ab.adminPage(app.adminURL+"/admin/users", http.StatusOK)
	resp = ab.postForm(app.adminURL+"/admin/logout", csrf, url.Values{})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	resp = ab.get(app.adminURL + "/admin/users")
	if readBody(t, resp); resp.StatusCode != http.StatusFound {
		t.Fatalf("after sign-out /admin/users = %d, want a redirect to sign in", resp.StatusCode)
	}
}

// TestAdminCallbackRejectsForgedState: a callback without the flow cookie
// or with another state is refused.
func TestAdminCallbackRejectsForgedState(t *testing.T) {
	app := newAdminApp(t)
	b := app.newBrowser()
	resp := b.get(app.adminURL + "/admin/callback?code=x&state=y")
	if readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback without flow cookie = %d, want 400", resp.StatusCode)
	}
	b.expectRedirect(app.adminURL + "/admin/login")
	resp = b.get(app.adminURL + "/admin/callback?code=x&state=forged")
	if readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback with a forged state = %d, want 400", resp.StatusCode)
	}
}

// adminWithConsole returns a console-signed-in browser.
func adminWithConsole(t *testing.T, app *adminApp) (*browser, *models.User) {
	t.Helper()
	root, link := app.newUser("root", true)
	b := app.newBrowser()
	b.register(link)
	if resp := app.consoleSignIn(b); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console sign-in = %d %s", resp.StatusCode, readBody(t, resp))
	}
	return b, root
}

func TestAdminGroupsClientsKeys(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	b, _ := adminWithConsole(t, app)
	_, csrf := b.adminPage(app.adminURL+"/admin/groups", http.StatusOK)
	resp := b.postForm(app.adminURL+"/admin/groups", csrf, url.Values{"name": {"staff"}})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create group = %d", resp.StatusCode)
	}
	resp = b.postForm(app.adminURL+"/admin/groups", csrf, url.Values{"name": {"staff"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "exists") {
		t.Fatalf("duplicate group = %d %s", resp.StatusCode, body)
	}
	gid := strings.TrimPrefix(strings.Split(b.expectRedirectAfter(app.adminURL+"/admin/groups", csrf, url.Values{"name": {"ops"}}), "?")[0], "/admin/groups/")
	u, _ := app.newUser("dave", false)
	resp = b.postForm(app.adminURL+"/admin/groups/"+gid+"/members", csrf, url.Values{"username": {"dave"}})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add member = %d", resp.StatusCode)
	}
	if u, _ = app.db.UserByID(ctx, u.ID); len(u.Groups) != 1 || u.Groups[0].Name != "ops" {
		t.Fatalf("dave's groups = %v", u.GroupNames())
	}

	// Register an application restricted to "ops"; the secret is shown once.
	resp = b.postForm(app.adminURL+"/admin/clients", csrf, url.Values{"name": {"Wiki"}, "type": {"confidential"},
		"redirect_uris": {"https://wiki.example.com/cb"}, "id_token_alg": {"ES256"}, "groups": {"ops"}, "scopes": {"openid", "groups"}})
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `id="client-secret"`) || !strings.Contains(body, "OIDC_ISSUER="+app.issuer) {
		t.Fatalf("create client = %d\n%s", resp.StatusCode, body)
	}
	resp = b.postForm(app.adminURL+"/admin/clients", csrf, url.Values{"name": {"Bad"}, "redirect_uris": {"https://ok.example/cb"},
		"backchannel_logout_uri": {"javascript:alert(1)"}, "id_token_alg": {"RS256"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "back-channel logout URI") {
		t.Fatalf("bad back-channel logout URI = %d", resp.StatusCode)
	}
	// The outbound policy (internal/outbound): even on this loopback
	// issuer, where plain http to localhost is allowed for development,
	// the metadata service, other schemes and credentials are refused.
	for uri, why := range map[string]string{"https://169.254.169.254/latest/meta-data/": "link-local",
		"gopher://localhost:70/_x": "gopher", "http://169.254.169.254/": "https", "http://u:p@localhost:9/bc": "user name",
		"https://10.1.2.3/bc": "--outbound-allow"} {
		resp = b.postForm(app.adminURL+"/admin/clients", csrf, url.Values{"name": {"Bad"}, "redirect_uris": {"https://ok.example/cb"},
			"backchannel_logout_uri": {uri}, "id_token_alg": {"RS256"}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "back-channel logout URI") || !strings.Contains(body, why) {
			t.Errorf("back-channel logout URI %s = %d, want 400 saying %q", uri, resp.StatusCode, why)
		}
	}
	resp = b.postForm(app.adminURL+"/admin/clients", csrf, url.Values{"name": {"Bad"}, "redirect_uris": {"not a url"}, "id_token_alg": {"RS256"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not a usable redirect URI") {
		t.Fatalf("bad redirect URI = %d", resp.StatusCode)
	}
	cs, _ := app.db.ListClients(ctx)
	var wiki *models.Client
	for i := range cs {
		if cs[i].Name == "Wiki" {
			wiki = &cs[i]
		}
	}
	if wiki == nil || wiki.IDTokenAlg != "ES256" || !wiki.AllowedGroups.Contains("ops") {
		t.Fatalf("stored client = %+v", wiki)
	}
	// The built-in console client is listed but cannot be edited.
	resp = b.get(app.adminURL + "/admin/clients/" + admin.ClientID)
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("built-in client page = %d, want 403", resp.StatusCode)
	}

	// Keys: list and rotate.
	body, _ = b.adminPage(app.adminURL+"/admin/keys", http.StatusOK)
	if !strings.Contains(body, "active (signing)") {
		t.Errorf("keys page shows no active key")
	}
	resp = b.postForm(app.adminURL+"/admin/keys/rotate", csrf, url.Values{})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rotate = %d", resp.StatusCode)
	}
	if evs, _, _ := app.db.QueryAudit(ctx, models.AuditQuery{Type: models.EventKeyRotated}); len(evs) == 0 {
		t.Errorf("rotation not audited")
	}
}

func (b *browser) expectRedirectAfter(u, csrf string, form url.Values) string {
	b.t.Helper()
	resp := b.postForm(u, csrf, form)
	body := readBody(b.t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST %s = %d\n%s", u, resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

var _ = io.EOF
