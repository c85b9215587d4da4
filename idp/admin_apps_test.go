package idp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

// TestAdminUserConnectedApps: the admin user page lists the applications
// the user signed in to, with the last token time; "Revoke tokens" ends
// the application's grant, is audited with the admin as actor, and the
// audit log names the application next to its client ID.
func TestAdminUserConnectedApps(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	ab, admin := adminWithConsole(t, app)

	carol, link := app.newUser("carol", false)
	cb := app.newBrowser()
	cb.register(link)
	const redirect = "https://wiki.example.com/cb"
	wiki, secret := app.newClient(redirect, func(c *models.Client) { c.Name = "Team Wiki" })
	r := app.newRP(wiki.ID, secret, redirect)
	g := r.signInGrant(cb)
	app.assertGrant(r, wiki.ID, secret, g, true, "before revocation")

	body, csrf := ab.adminPage(app.adminURL+"/admin/users/"+carol.ID, http.StatusOK)
	if !strings.Contains(body, `id="user-apps"`) || !strings.Contains(body, "Team Wiki") || !strings.Contains(body, wiki.ID) ||
		!strings.Contains(body, "/admin/users/"+carol.ID+"/apps/"+wiki.ID+"/revoke") {
		t.Fatalf("user page does not list the connected application:\n%s", body)
	}
	if !strings.Contains(body, "last token issued 20") {
		t.Errorf("user page shows no last-use time for the application")
	}
	if !strings.Contains(body, "admin.js") {
		t.Errorf("user page does not load admin.js, so its data-confirm buttons do not ask")
	}

	// An unknown application is a 404, and nothing is revoked.
	resp := ab.postForm(app.adminURL+"/admin/users/"+carol.ID+"/apps/no-such-client/revoke", csrf, url.Values{})
	if readBody(t, resp); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("revoke for an unknown application = %d, want 404", resp.StatusCode)
	}
	// No CSRF token: refused.
	resp = ab.postForm(app.adminURL+"/admin/users/"+carol.ID+"/apps/"+wiki.ID+"/revoke", "forged", url.Values{})
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("revoke with a forged CSRF token = %d, want 403", resp.StatusCode)
	}
	app.assertGrant(r, wiki.ID, secret, g, true, "after refused revocations")

	loc := ab.expectRedirectAfter(app.adminURL+"/admin/users/"+carol.ID+"/apps/"+wiki.ID+"/revoke", csrf, url.Values{})
	if loc != "/admin/users/"+carol.ID+"?done=app-revoked" {
		t.Fatalf("revoke redirected to %q", loc)
	}
	app.assertGrant(r, wiki.ID, secret, g, false, "after the admin revoked the tokens")
	if apps, err := app.db.ConnectedApps(ctx, carol.ID); err != nil || len(apps) != 0 {
		t.Fatalf("connected apps after revocation = %+v, %v", apps, err)
	}
	evs, _, err := app.db.QueryAudit(ctx, models.AuditQuery{Type: models.EventAppTokensRevoked})
	if err != nil || len(evs) != 1 || evs[0].ActorID != admin.ID || evs[0].UserID != carol.ID || evs[0].ClientID != wiki.ID {
		t.Fatalf("app_tokens_revoked events = %+v, %v", evs, err)
	}
	body, _ = ab.adminPage(app.adminURL+"/admin/users/"+carol.ID+"?done=app-revoked", http.StatusOK)
	if !strings.Contains(body, "tokens for this user were revoked") || !strings.Contains(body, "No application holds a token for this user.") {
		t.Errorf("user page after revocation lacks the notice or the empty state:\n%s", body)
	}

	// The audit log names the application next to its client ID.
	body, _ = ab.adminPage(app.adminURL+"/admin/audit?type=app_tokens_revoked", http.StatusOK)
	if !strings.Contains(body, `Team Wiki <code class="client-id">`+wiki.ID+`</code>`) {
		t.Errorf("audit log does not show the application's name next to its client ID:\n%s", body)
	}
	body, _ = ab.adminPage(app.adminURL+"/admin/audit?type=sign_in&user=carol", http.StatusOK)
	if !strings.Contains(body, `Team Wiki <code class="client-id">`+wiki.ID+`</code>`) {
		t.Errorf("audit log does not name the application carol signed in to")
	}
	// A deleted application still shows its client ID.
	if err := app.db.DeleteClient(ctx, wiki.ID); err != nil {
		t.Fatal(err)
	}
	body, _ = ab.adminPage(app.adminURL+"/admin/audit?type=app_tokens_revoked", http.StatusOK)
	if !strings.Contains(body, `<code class="client-id">`+wiki.ID+`</code>`) {
		t.Errorf("audit log lost the client ID of a deleted application")
	}
}

// TestAccountRemovedSignalOnlyForUnknownCredentials: the account page asks
// the browser to drop a passkey (signalUnknownCredential) only when no
// account has that credential any more, so a forged ?removed= link cannot
// make a password manager hide a working passkey; deleting the passkey the
// session signed in with still signals it on the sign-in page.
func TestAccountRemovedSignalOnlyForUnknownCredentials(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	u, link := app.newUser("hank", false)
	b := app.newBrowser()
	b.register(link)
	creds, err := app.db.CredentialsByUser(ctx, u.ID)
	if err != nil || len(creds) != 1 {
		t.Fatalf("credentials = %v, %v", creds, err)
	}
	live := b64url(creds[0].CredentialID)
	unknown := make([]byte, 16)
	_, _ = rand.Read(unknown)

	// Signed out: a link naming a live passkey signals nothing.
	body, _ := b.page("/account?removed="+live, http.StatusOK)
	if strings.Contains(body, "data-removed") {
		t.Errorf("sign-in page signals a passkey that still exists")
	}
	body, _ = b.page("/account?removed="+b64url(unknown), http.StatusOK)
	if !strings.Contains(body, `data-removed="`+b64url(unknown)+`"`) || !strings.Contains(body, "account.js") {
		t.Errorf("sign-in page does not signal an unknown passkey")
	}
	if strings.Contains(body, "data-user-id") {
		t.Errorf("sign-in page carries a user ID for signalAllAcceptedCredentials")
	}

	// Signed in: the same rule.
	b.accountSignIn()
	body, csrf := b.page("/account?done=passkey-deleted&removed="+live, http.StatusOK)
	if strings.Contains(body, `data-removed="`+live+`"`) {
		t.Errorf("account page signals a passkey that still exists")
	}

	// Delete the passkey this session signed in with (after adding a
	// second one): the session ends, and the sign-in page signals it.
	second := addAccountPasskey(t, b, u.ID, csrf, "Second")
	loc := b.expectRedirectAfter("/account/passkeys/"+creds[0].ID+"/delete", csrf, url.Values{})
	body, _ = b.page(loc, http.StatusOK)
	if !strings.Contains(body, "/account/login/begin") || !strings.Contains(body, `data-removed="`+live+`"`) ||
		!strings.Contains(body, "You had signed in with it") {
		t.Fatalf("after deleting the session's own passkey the page is:\n%s", body)
	}
	if left, _ := app.db.CredentialsByUser(ctx, u.ID); len(left) != 1 || left[0].ID != second {
		t.Fatalf("credentials left: %+v", left)
	}
}

// addAccountPasskey registers one more passkey from the account page with a
// second software authenticator and returns its stored ID.
func addAccountPasskey(t *testing.T, b *browser, userID, csrf, name string) string {
	t.Helper()
	auth := passkeytest.New("localhost", b.app.issuer)
	var begin beginResp
	if st := b.postJSON("/account/passkeys/begin", csrf, map[string]any{}, &begin); st != http.StatusOK {
		t.Fatalf("add begin: %d %s", st, begin.Error)
	}
	cred, err := auth.Create(begin.Options)
	if err != nil {
		t.Fatal(err)
	}
	var fin struct{ Redirect, Error string }
	if st := b.postJSON("/account/passkeys/finish", csrf, map[string]any{"ceremonyID": begin.CeremonyID, "name": name, "credential": json.RawMessage(cred)}, &fin); st != http.StatusOK {
		t.Fatalf("add finish: %d %+v", st, fin)
	}
	creds, _ := b.app.db.CredentialsByUser(context.Background(), userID)
	for _, c := range creds {
		if c.Name == name {
			return c.ID
		}
	}
	t.Fatalf("passkey %q not stored", name)
	return ""
}

// TestAdminUserSaveAfterGroupRename: saving a user who is in a renamed
// group keeps the membership (models.SetUserGroups looked the group up by
// an ID derived from its old name and failed with a 500).
func TestAdminUserSaveAfterGroupRename(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	b, _ := adminWithConsole(t, app)
	_, csrf := b.adminPage(app.adminURL+"/admin/groups", http.StatusOK)
	gid := strings.TrimPrefix(strings.Split(b.expectRedirectAfter(app.adminURL+"/admin/groups", csrf, url.Values{"name": {"staff"}}), "?")[0], "/admin/groups/")
	b.expectRedirectAfter(app.adminURL+"/admin/groups/"+gid, csrf, url.Values{"name": {"ops"}})
	u, _ := app.newUser("ivan", false)
	form := url.Values{"username": {"ivan"}, "email": {"ivan@example.com"}, "groups": {"ops"}}
	b.expectRedirectAfter(app.adminURL+"/admin/users/"+u.ID, csrf, form)
	b.expectRedirectAfter(app.adminURL+"/admin/users/"+u.ID, csrf, form) // again: already a member
	got, err := app.db.UserByID(ctx, u.ID)
	if err != nil || len(got.Groups) != 1 || got.Groups[0].ID != gid || got.Groups[0].Name != "ops" {
		t.Fatalf("ivan's groups = %+v, %v", got.Groups, err)
	}
	// Unticking removes the membership.
	form.Del("groups")
	b.expectRedirectAfter(app.adminURL+"/admin/users/"+u.ID, csrf, form)
	if got, _ = app.db.UserByID(ctx, u.ID); len(got.Groups) != 0 {
		t.Fatalf("ivan's groups after unticking = %+v", got.Groups)
	}
}
