package idp

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/models"
	"github.com/latchkey-idp/latchkey/oidc"
)

// TestBlockedPasskeyReview: a passkey blocked as a suspected clone shows
// its owner on the console's overview; an admin unblocks it only with a
// reason (audited) and the owner signs in with it again; a bad form
// changes nothing.
func TestBlockedPasskeyReview(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	admin, _ := adminWithConsole(t, app)

	user, setup := app.newUser("bob", false)
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)
	b := app.newBrowser()
	b.register(setup)
	signIn := func() int {
		t.Helper()
		arID, csrf, begin := b.loginStart(r, oauth2.SetAuthURLParam("prompt", "login"))
		a, err := b.auth.Get(begin.Options)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := b.loginFinish(arID, csrf, begin.CeremonyID, a)
		return st
	}
	if st := signIn(); st != http.StatusOK {
		t.Fatalf("first sign-in: %d", st)
	}
	b.auth.SetSignCount(0) // a cloned authenticator replays an old counter
	if st := signIn(); st == http.StatusOK {
		t.Fatal("sign count regression accepted")
	}
	creds, err := app.db.CredentialsByUser(ctx, user.ID)
	if err != nil || len(creds) != 1 || !creds[0].CloneWarning {
		t.Fatalf("not blocked: %v %+v", err, creds)
	}
	cred := creds[0]

	overview, _ := admin.adminPage(app.adminURL+"/admin", http.StatusOK)
	// The refused sign-in is counted on the dashboard, by kind, and each
	// count links to its audit events.
	counted := func(overview string, id, typ string, wantMin int) int {
		t.Helper()
		evs, err := app.db.AuditEvents(ctx, models.AuditFilter{Type: typ})
		if err != nil || len(evs) < wantMin {
			t.Fatalf("%d %s events (%v), want at least %d", len(evs), typ, err, wantMin)
		}
		if want := `<dd id="` + id + `"><a href="/admin/audit?type=` + typ + `">` + strconv.Itoa(len(evs)) + `</a></dd>`; !strings.Contains(overview, want) {
			t.Fatalf("the overview does not count %d %s events (%s):\n%s", len(evs), typ, want, overview)
		}
		return len(evs)
	}
	counted(overview, "count-clones", models.EventCloneWarning, 1)
	counted(overview, "count-failed", models.EventSignInFailed, 0)
	counted(overview, "count-policy", models.EventPasskeyPolicyRefused, 0)
	if !strings.Contains(overview, `id="blocked-passkeys"`) || !strings.Contains(overview, `href="/admin/users/`+user.ID+`"><strong>bob</strong>`) ||
		!strings.Contains(overview, `<dd id="count-blocked">1</dd>`) {
		t.Fatalf("the overview does not name the blocked passkey's owner:\n%s", overview)
	}
	page, csrf := admin.adminPage(app.adminURL+"/admin/users/"+user.ID, http.StatusOK)
	action := "/admin/users/" + user.ID + "/passkeys/" + cred.ID + "/unblock"
	if !strings.Contains(page, `action="`+action+`"`) {
		t.Fatalf("no unblock form on the owner's page:\n%s", page)
	}
	for _, bad := range []struct{ name, reason string }{
		{"no reason", ""}, {"blank reason", "   "}, {"oversize reason", strings.Repeat("x", 501)}, {"two lines", "ok\nreally"},
	} {
		resp := admin.postForm(app.adminURL+action, csrf, url.Values{"reason": {bad.reason}})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "reason") || !strings.Contains(body, "<html lang=") {
			t.Fatalf("%s: %d %s", bad.name, resp.StatusCode, body)
		}
	}
	// Without the form's CSRF token: refused.
	resp, err := admin.client.PostForm(app.adminURL+action, url.Values{"reason": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unblock without CSRF: %d", resp.StatusCode)
	}
	if creds, _ := app.db.CredentialsByUser(ctx, user.ID); !creds[0].CloneWarning || creds[0].SignCount != cred.SignCount {
		t.Fatalf("a refused unblock changed the passkey: %+v", creds[0])
	}
	if st := signIn(); st == http.StatusOK {
		t.Fatal("a blocked passkey signed in")
	}

	const reason = "confirmed with Bob: the key was reset"
	resp = admin.postForm(app.adminURL+action, csrf, url.Values{"reason": {reason}})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=passkey-unblocked") {
		t.Fatalf("unblock: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	evs, err := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventPasskeyUnblocked})
	if err != nil || len(evs) != 1 || evs[0].UserID != user.ID || evs[0].ActorID == "" || evs[0].Detail["reason"] != reason || evs[0].Detail["credential"] != cred.ID {
		t.Fatalf("unblock audit: %v %+v", err, evs)
	}
	if st := signIn(); st != http.StatusOK {
		t.Fatalf("sign-in after the unblock: %d", st)
	}
	if creds, _ := app.db.CredentialsByUser(ctx, user.ID); creds[0].CloneWarning || creds[0].SignCount != b.auth.SignCount() {
		t.Fatalf("after the unblock and a sign-in: %+v, want sign count %d", creds[0], b.auth.SignCount())
	}
	if overview, _ := admin.adminPage(app.adminURL+"/admin", http.StatusOK); strings.Contains(overview, `id="blocked-passkeys"`) {
		t.Fatal("the overview still lists the unblocked passkey")
	}
	// Unblocking a passkey that is not blocked: not found, nothing audited.
	resp = admin.postForm(app.adminURL+action, csrf, url.Values{"reason": {reason}})
	if readBody(t, resp); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unblock of an unblocked passkey: %d", resp.StatusCode)
	}
	if evs, _ := app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventPasskeyUnblocked}); len(evs) != 1 {
		t.Fatalf("%d unblock events", len(evs))
	}

	// Blocked again, the admin deletes (revokes) it from the owner's page
	// instead: audited, gone from the overview, and it signs in no more.
	b.auth.SetSignCount(0)
	if st := signIn(); st == http.StatusOK {
		t.Fatal("sign count regression accepted after the unblock")
	}
	if creds, _ := app.db.CredentialsByUser(ctx, user.ID); len(creds) != 1 || !creds[0].CloneWarning {
		t.Fatalf("not blocked again: %+v", creds)
	}
	page, csrf = admin.adminPage(app.adminURL+"/admin/users/"+user.ID, http.StatusOK)
	revoke := "/admin/users/" + user.ID + "/passkeys/" + cred.ID + "/revoke"
	if !strings.Contains(page, `action="`+revoke+`"`) || !strings.Contains(page, `action="`+action+`"`) {
		t.Fatalf("the owner's page lacks the unblock or revoke form of the blocked passkey:\n%s", page)
	}
	resp = admin.postForm(app.adminURL+revoke, csrf, url.Values{})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=passkey-revoked") {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if creds, _ := app.db.CredentialsByUser(ctx, user.ID); len(creds) != 0 {
		t.Fatalf("the revoked passkey remains: %+v", creds)
	}
	evs, err = app.db.AuditEvents(ctx, models.AuditFilter{Type: models.EventPasskeyRemoved})
	if err != nil || len(evs) != 1 || evs[0].UserID != user.ID || evs[0].ActorID == "" || evs[0].Detail["credential"] != cred.ID {
		t.Fatalf("revoke audit: %v %+v", err, evs)
	}
	if overview, _ := admin.adminPage(app.adminURL+"/admin", http.StatusOK); strings.Contains(overview, `id="blocked-passkeys"`) {
		t.Fatal("the overview still lists the revoked passkey")
	}
	if st := signIn(); st == http.StatusOK {
		t.Fatal("a revoked passkey signed in")
	}
	app.clock.Advance(2 * time.Minute) // past the overview's cache
	overview, _ = admin.adminPage(app.adminURL+"/admin", http.StatusOK)
	if n := counted(overview, "count-failed", models.EventSignInFailed, 1); n > 5 {
		t.Fatalf("%d failed sign-ins", n)
	}

	// An attack's thousands of refusals: shown as "1000+", counted no further.
	flood := make([]models.AuditEvent, 1001)
	for i := range flood {
		flood[i] = models.AuditEvent{CreatedAt: app.clock.Now().Add(-time.Hour), Type: models.EventSignInFailed, Detail: models.JSONMap{"reason": "unknown_credential"}}
	}
	if err := app.db.Gorm().WithContext(ctx).CreateInBatches(flood, 200).Error; err != nil {
		t.Fatal(err)
	}
	// Back-channel logouts a receiver did not take are counted too; the
	// delivered ones and a day-old failure are not.
	for _, ev := range []models.AuditEvent{
		{CreatedAt: app.clock.Now().Add(-time.Minute), Type: oidc.EventBackchannelLogout, Detail: models.JSONMap{"error": oidc.DeliveryFailed}},
		{CreatedAt: app.clock.Now().Add(-time.Minute), Type: oidc.EventBackchannelLogout, Detail: models.JSONMap{"error": oidc.DeliveryFailed}},
		{CreatedAt: app.clock.Now().Add(-time.Minute), Type: oidc.EventBackchannelLogout, Success: true, Detail: models.JSONMap{}},
		{CreatedAt: app.clock.Now().Add(-25 * time.Hour), Type: oidc.EventBackchannelLogout, Detail: models.JSONMap{"error": oidc.DeliveryFailed}},
	} {
		if err := app.db.Gorm().WithContext(ctx).Create(&ev).Error; err != nil {
			t.Fatal(err)
		}
	}
	app.clock.Advance(2 * time.Minute)
	overview, _ = admin.adminPage(app.adminURL+"/admin", http.StatusOK)
	if !strings.Contains(overview, `<dd id="count-failed"><a href="/admin/audit?type=sign_in_failed">1000+</a></dd>`) {
		t.Fatalf("1001+ failed sign-ins not shown as 1000+:\n%s", overview)
	}
	if !strings.Contains(overview, `<dd id="count-backchannel"><a href="/admin/audit?type=backchannel_logout">2</a></dd>`) {
		t.Fatalf("the overview does not count the 2 failed back-channel logouts of the last day:\n%s", overview)
	}
}
