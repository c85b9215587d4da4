package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey-idp/latchkey/idp/admin"
	"github.com/latchkey-idp/latchkey/models"
)

// userUpdates returns the user_updated audit events of a user, newest
// first, with their "changed" lists.
func userUpdates(t *testing.T, db *models.DB, userID string) ([]models.AuditEvent, [][]string) {
	t.Helper()
	evs, _, err := db.QueryAudit(context.Background(), models.AuditQuery{UserID: userID, Type: models.EventUserUpdated})
	if err != nil {
		t.Fatal(err)
	}
	var changed [][]string
	for _, ev := range evs {
		b, _ := json.Marshal(ev.Detail["changed"])
		var c []string
		_ = json.Unmarshal(b, &c)
		changed = append(changed, c)
	}
	return evs, changed
}

// PATCH /api/v1/users/{id or username} changes the fields given, in one
// transaction, audits the fields that changed, revokes on disable, and
// answers bad input with a JSON error that changes nothing.
func TestAPIUserUpdate(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	_, root := adminWithConsole(t, app)
	token, _, err := app.db.CreateAPIToken(ctx, "users", root.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.db.CreateGroup(ctx, "staff"); err != nil {
		t.Fatal(err)
	}
	const redirect = "http://localhost:9999/callback"
	client, secret := app.newClient(redirect)
	r := app.newRP(client.ID, secret, redirect)
	u, setup := app.newUser("frank", false)
	b := app.newBrowser()
	b.register(setup)
	g := r.signInGrant(b)
	app.assertGrant(r, client.ID, secret, g, true, "before")

	var got admin.APIUser
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/users/frank", token, map[string]any{"email_verified": false, "display_name": "Frank F", "groups": []string{"staff"}}, &got); st != http.StatusOK ||
		got.EmailVerified || got.DisplayName != "Frank F" || got.Email != u.Email || !slices.Equal(got.Groups, []string{"staff"}) || got.ID != u.ID {
		t.Fatalf("patch by username: %d %+v", st, got)
	}
	evs, changed := userUpdates(t, app.db, u.ID)
	if len(evs) != 1 || !slices.Equal(changed[0], []string{"email_verified", "display_name", "groups"}) || !strings.HasPrefix(evs[0].ActorID, "api:") {
		t.Fatalf("audit: %+v %v", evs, changed)
	}
	// A user's claims follow at once: the ID token of the next refresh.
	tok2, err := r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: g.tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	raw, _ := tok2.Extra("id_token").(string)
	if cl := r.idTokenClaims(raw); cl["name"] != "Frank F" || cl["email_verified"] != false {
		t.Fatalf("ID token after the edit: %v", cl)
	}
	g.tok = tok2

	before, _ := app.db.UserByID(ctx, u.ID)
	for _, tc := range []struct {
		path   string
		body   map[string]any
		status int
		want   string
	}{
		{"frank", map[string]any{"email": "frank at example", "display_name": "X"}, http.StatusUnprocessableEntity, "is not an address"},
		{"frank", map[string]any{"display_name": strings.Repeat("x", 129)}, http.StatusUnprocessableEntity, "longer than 128"},
		{"frank", map[string]any{"groups": []string{"staff", "no-such-group"}, "display_name": "X"}, http.StatusUnprocessableEntity, `no group named "no-such-group"`},
		{"frank", map[string]any{"username": "root"}, http.StatusConflict, "taken"},
		{"frank", map[string]any{"disabled": "yes"}, http.StatusBadRequest, ""},
		{"frank", map[string]any{"locale": "tlh", "display_name": "X"}, http.StatusUnprocessableEntity, `locale "tlh" is not a shipped language (en, de, fr`},
		{"nobody", map[string]any{"display_name": "X"}, http.StatusNotFound, "not found"},
		{root.ID, map[string]any{"disabled": true}, http.StatusUnprocessableEntity, "last enabled admin"},
	} {
		var e map[string]string
		if st := apiCall(t, app, http.MethodPatch, "/api/v1/users/"+tc.path, token, tc.body, &e); st != tc.status || e["error"] == "" || !strings.Contains(e["error"], tc.want) {
			t.Errorf("PATCH %s %v = %d %v, want %d saying %q", tc.path, tc.body, st, e, tc.status, tc.want)
		}
	}
	after, _ := app.db.UserByID(ctx, u.ID)
	if after.DisplayName != before.DisplayName || after.Email != before.Email || !after.UpdatedAt.Equal(before.UpdatedAt) || len(after.Groups) != 1 {
		t.Fatalf("refused patches changed the user: %+v → %+v", before, after)
	}
	if evs, _ := userUpdates(t, app.db, u.ID); len(evs) != 1 {
		t.Fatalf("refused patches were audited: %d events", len(evs))
	}

	var e map[string]string
	if st := apiCall(t, app, http.MethodPost, "/api/v1/users", token, map[string]any{"username": "longname", "display_name": strings.Repeat("y", 129)}, &e); st != http.StatusUnprocessableEntity || !strings.Contains(e["error"], "longer than 128") {
		t.Errorf("create with an oversize name: %d %v", st, e)
	}
	if _, err := app.db.UserByUsername(ctx, "longname"); err == nil {
		t.Error("a refused create stored the user")
	}
	// A line break in the address or the name would inject a header into
	// every message to the user (RFC 5322 §2.2): refused on create.
	for _, bad := range []map[string]any{
		{"username": "eve", "email": "eve@example.com\r\nBcc: x@example.com"},
		{"username": "eve", "email": "Eve <eve@example.com>"},
		{"username": "eve", "display_name": "Eve\r\nBcc: x@example.com"},
	} {
		var e map[string]string
		if st := apiCall(t, app, http.MethodPost, "/api/v1/users", token, bad, &e); st != http.StatusUnprocessableEntity ||
			!strings.Contains(e["error"], "is not an address") && !strings.Contains(e["error"], "control characters") {
			t.Errorf("create %v: %d %v", bad, st, e)
		}
	}
	if _, err := app.db.UserByUsername(ctx, "eve"); err == nil {
		t.Error("a refused create stored eve")
	}

	// disabled: true revokes as the disable action does.
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/users/"+u.ID, token, map[string]any{"disabled": true}, &got); st != http.StatusOK || !got.Disabled {
		t.Fatalf("disable: %d %+v", st, got)
	}
	app.assertGrant(r, client.ID, secret, g, false, "disabled through PATCH")
	if sess, err := app.db.SessionByID(ctx, g.sid); err != nil || sess.EndedAt == nil {
		t.Fatalf("the session was not ended: %+v %v", sess, err)
	}
	if _, changed := userUpdates(t, app.db, u.ID); !slices.Equal(changed[0], []string{"disabled"}) {
		t.Fatalf("disable audited as %v", changed[0])
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/users/frank", token, map[string]any{"disabled": false, "groups": []string{}}, &got); st != http.StatusOK || got.Disabled || len(got.Groups) != 0 {
		t.Fatalf("enable and clear groups: %d %+v", st, got)
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/users/frank", token, map[string]any{"locale": "fr"}, &got); st != http.StatusOK || got.Locale != "fr" {
		t.Fatalf("set the language: %d %+v", st, got)
	}
	if _, changed := userUpdates(t, app.db, u.ID); !slices.Equal(changed[0], []string{"locale"}) {
		t.Fatalf("language audited as %v", changed[0])
	}
	if st := apiCall(t, app, http.MethodPatch, "/api/v1/users/frank", token, map[string]any{"locale": ""}, &got); st != http.StatusOK || got.Locale != "" {
		t.Fatalf("back to the browser's choice: %d %+v", st, got)
	}
}

// The console's user form edits the same fields behind CSRF, in one
// transaction, with one audit event naming what changed; bad input is a
// 400 page that changes nothing.
func TestConsoleUserEdit(t *testing.T) {
	app := newAdminApp(t)
	ctx := context.Background()
	b, _ := adminWithConsole(t, app)
	if _, err := app.db.CreateGroup(ctx, "staff"); err != nil {
		t.Fatal(err)
	}
	u, _ := app.newUser("gina", false)
	body, csrf := b.adminPage(app.adminURL+"/admin/users/"+u.ID, http.StatusOK)
	if !strings.Contains(body, `name="email_verified" checked`) || !strings.Contains(body, `name="display_name"`) {
		t.Fatalf("the user page does not offer the fields:\n%s", body)
	}
	form := url.Values{"username": {"gina"}, "email": {"gina@example.org"}, "display_name": {"Gina G"}, "groups": {"staff"}}
	if resp := b.postForm(app.adminURL+"/admin/users/"+u.ID, "forged", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged CSRF = %d", resp.StatusCode)
	} else {
		readBody(t, resp)
	}
	if got, _ := app.db.UserByID(ctx, u.ID); got.Email != u.Email || len(userUpdatesOf(t, app, u.ID)) != 0 {
		t.Fatalf("a forged form changed the user: %+v", got)
	}
	b.expectRedirectAfter(app.adminURL+"/admin/users/"+u.ID, csrf, form)
	got, _ := app.db.UserByID(ctx, u.ID)
	if got.Email != "gina@example.org" || got.EmailVerified || got.DisplayName != "Gina G" || !slices.Equal(got.GroupNames(), []string{"staff"}) {
		t.Fatalf("saved user: %+v", got)
	}
	if c := userUpdatesOf(t, app, u.ID); len(c) != 1 || !slices.Equal(c[0], []string{"email", "email_verified", "display_name", "groups"}) {
		t.Fatalf("audit: %v", c)
	}
	form.Set("email_verified", "on")
	b.expectRedirectAfter(app.adminURL+"/admin/users/"+u.ID, csrf, form)
	if got, _ := app.db.UserByID(ctx, u.ID); !got.EmailVerified {
		t.Fatal("email_verified not set")
	}
	// The user's language: offered, saved, shown chosen, audited.
	if !strings.Contains(body, `<option value="">The browser's choice</option><option value="en">English</option><option value="de">Deutsch</option>`) {
		t.Fatalf("the user page does not offer the languages:\n%s", body)
	}
	form.Set("locale", "de")
	b.expectRedirectAfter(app.adminURL+"/admin/users/"+u.ID, csrf, form)
	if got, _ := app.db.UserByID(ctx, u.ID); got.Locale != "de" {
		t.Fatalf("locale not saved: %q", got.Locale)
	}
	if c := userUpdatesOf(t, app, u.ID); len(c) != 3 || !slices.Equal(c[0], []string{"locale"}) {
		t.Fatalf("audit of the language: %v", c)
	}
	if body, _ := b.adminPage(app.adminURL+"/admin/users/"+u.ID, http.StatusOK); !strings.Contains(body, `<option value="de" selected>Deutsch</option>`) {
		t.Fatalf("the saved language is not shown chosen:\n%s", body)
	}
	for field, bad := range map[string][2]string{"email": {"gina-at-example", "is not an address"},
		"display_name": {strings.Repeat("g", 129), "longer than 128 characters"}, "groups": {"no-such-group", `no group named &#34;no-such-group&#34;`},
		"locale": {"tlh", "&#34;tlh&#34; is not a language Latchkey speaks"}} {
		f := url.Values{}
		for k, v := range form {
			f[k] = slices.Clone(v)
		}
		f.Set(field, bad[0])
		f.Set("username", "gina2")
		resp := b.postForm(app.adminURL+"/admin/users/"+u.ID, csrf, f)
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, bad[1]) {
			t.Errorf("bad %s = %d\n%s", field, resp.StatusCode, body)
		}
	}
	if got, _ := app.db.UserByID(ctx, u.ID); got.Username != "gina" || got.Email != "gina@example.org" || got.Locale != "de" || len(userUpdatesOf(t, app, u.ID)) != 3 {
		t.Fatalf("refused forms changed the user: %+v", got)
	}
	resp := b.postForm(app.adminURL+"/admin/users", csrf, url.Values{"username": {"longname"}, "display_name": {strings.Repeat("g", 129)}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "longer than 128 characters") {
		t.Errorf("create with an oversize name = %d", resp.StatusCode)
	}
	if _, err := app.db.UserByUsername(ctx, "longname"); err == nil {
		t.Error("a refused create stored the user")
	}
	// A line break in the address or the name would inject a header into
	// every message to the user (RFC 5322 §2.2): refused on create.
	for _, bad := range []url.Values{
		{"username": {"eve"}, "email": {"eve@example.com\r\nBcc: x@example.com"}},
		{"username": {"eve"}, "email": {"Eve <eve@example.com>"}},
		{"username": {"eve"}, "display_name": {"Eve\r\nBcc: x@example.com"}},
	} {
		resp := b.postForm(app.adminURL+"/admin/users", csrf, bad)
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest ||
			!strings.Contains(body, "is not an address") && !strings.Contains(body, "control characters") {
			t.Errorf("create %v = %d", bad, resp.StatusCode)
		}
	}
	if _, err := app.db.UserByUsername(ctx, "eve"); err == nil {
		t.Error("a refused create stored eve")
	}
}

func userUpdatesOf(t *testing.T, app *adminApp, userID string) [][]string {
	t.Helper()
	_, c := userUpdates(t, app.db, userID)
	return c
}
