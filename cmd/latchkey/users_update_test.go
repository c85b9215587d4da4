package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// withDB opens the database of the data directory dir for a look.
func withDB(t *testing.T, dir string, fn func(*models.DB)) {
	t.Helper()
	db, err := models.Open(context.Background(), models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	fn(db)
}

// users add --email-verified, and users update: only the flags given
// change, each change is one audit event naming the fields, and bad input
// (malformed email, unknown user or group, oversize name, conflicting
// flags) is refused with a clear message and changes nothing.
func TestCLIUsersUpdate(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	code, out, errOut := cliRun(t, dir, "users", "add", "--username", "bob", "--email", "bob@example.com", "--email-verified", "--name", "Bob", "--group", "staff", "--json")
	var added struct {
		ID            string `json:"id"`
		EmailVerified bool   `json:"email_verified"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &added) != nil || !added.EmailVerified {
		t.Fatalf("users add --email-verified: %d %q %q", code, out, errOut)
	}
	if code, _, errOut = cliRun(t, dir, "users", "add", "--username", "nomail", "--email-verified"); code == 0 || !strings.Contains(errOut, "--email-verified needs --email") {
		t.Fatalf("--email-verified without --email: %d %q", code, errOut)
	}
	if code, out, errOut = cliRun(t, dir, "users", "add", "--username", "frieda", "--locale", "fr", "--json"); code != 0 || !strings.Contains(out, `"username": "frieda"`) {
		t.Fatalf("users add --locale fr: %d %q %q", code, out, errOut)
	}
	withDB(t, dir, func(db *models.DB) {
		if u, err := db.UserByUsername(ctx, "frieda"); err != nil || u.Locale != "fr" {
			t.Fatalf("frieda: %+v %v", u, err)
		}
	})
	if code, _, errOut = cliRun(t, dir, "users", "add", "--username", "klaus", "--locale", "tlh"); code == 0 || !strings.Contains(errOut, "not a shipped language") {
		t.Fatalf("users add --locale tlh: %d %q", code, errOut)
	}
	if code, _, errOut = cliRun(t, dir, "users", "add", "--username", "root", "--admin"); code != 0 {
		t.Fatalf("users add root: %s", errOut)
	}
	if code, _, errOut = cliRun(t, dir, "users", "add", "--username", "ops-seed", "--group", "ops"); code != 0 {
		t.Fatalf("users add ops-seed: %s", errOut)
	}
	load := func() *models.User {
		t.Helper()
		var u *models.User
		withDB(t, dir, func(db *models.DB) {
			var err error
			if u, err = db.UserByID(ctx, added.ID); err != nil {
				t.Fatal(err)
			}
		})
		return u
	}
	updates := func() []models.AuditEvent {
		t.Helper()
		var evs []models.AuditEvent
		withDB(t, dir, func(db *models.DB) {
			evs, _, _ = db.QueryAudit(ctx, models.AuditQuery{UserID: added.ID, Type: models.EventUserUpdated})
		})
		return evs
	}
	update := func(args ...string) (int, string, string) {
		return cliRun(t, dir, append([]string{"users", "update", "bob"}, args...)...)
	}

	code, out, errOut = update("--no-email-verified", "--name", "Bobby")
	if u := load(); code != 0 || u.EmailVerified || u.DisplayName != "Bobby" || u.Email != "bob@example.com" || !slices.Equal(u.GroupNames(), []string{"staff"}) || u.Disabled {
		t.Fatalf("update name and verification: %d %q %q → %+v", code, out, errOut, u)
	}
	evs := updates()
	if len(evs) != 1 || evs[0].ActorID != "cli" || !strings.Contains(detailJSON(evs[0]), `"changed":["email_verified","display_name"]`) {
		t.Fatalf("audit after the first update: %+v", evs)
	}
	code, out, _ = update("--name", "Bobby")
	if code != 0 || !strings.Contains(out, "unchanged") || len(updates()) != 1 {
		t.Fatalf("a no-op update: %d %q, %d events", code, out, len(updates()))
	}
	if code, _, errOut = update("--email", "robert@example.com", "--email-verified", "--group", "ops", "--group", "staff"); code != 0 {
		t.Fatalf("update email and groups: %s", errOut)
	}
	if u := load(); u.Email != "robert@example.com" || !u.EmailVerified || !slices.Equal(slices.Sorted(slices.Values(u.GroupNames())), []string{"ops", "staff"}) {
		t.Fatalf("after email and groups: %+v %v", u, u.GroupNames())
	}
	if code, _, errOut = update("--disabled"); code != 0 || !load().Disabled {
		t.Fatalf("--disabled: %d %s", code, errOut)
	}
	if code, _, errOut = update("--enabled", "--no-groups"); code != 0 || load().Disabled || len(load().GroupNames()) != 0 {
		t.Fatalf("--enabled --no-groups: %d %s", code, errOut)
	}
	if code, _, errOut = update("--group", "brand-new", "--create-groups"); code != 0 || !slices.Equal(load().GroupNames(), []string{"brand-new"}) {
		t.Fatalf("--create-groups: %d %s", code, errOut)
	}
	if code, _, errOut = update("--locale", "de"); code != 0 || load().Locale != "de" {
		t.Fatalf("--locale de: %d %s", code, errOut)
	}
	if n := len(updates()); n != 6 {
		t.Fatalf("%d user_updated events, want one per changing command (6)", n)
	}
	if !slices.ContainsFunc(updates(), func(ev models.AuditEvent) bool { return strings.Contains(detailJSON(ev), `"changed":["locale"]`) }) {
		t.Fatalf("no audit event names the language: %+v", updates())
	}

	before := load()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--email", "not-an-address", "--name", "Changed"}, `email "not-an-address" is not an address`},
		{[]string{"--email", "a b@example.com"}, "is not an address"},
		{[]string{"--name", strings.Repeat("n", 129)}, "longer than 128 characters"},
		{[]string{"--group", "nope", "--name", "Changed"}, `there is no group named "nope"`},
		{[]string{"--group", "a,b", "--no-groups"}, "cannot be combined"},
		{[]string{"--create-groups"}, "--create-groups needs --group"},
		{[]string{"--locale", "tlh", "--name", "Changed"}, `--locale "tlh" is not a shipped language: use one of en, de, fr`},
		{nil, "nothing to change"},
	} {
		code, out, errOut := update(tc.args...)
		if code == 0 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("update %v: %d %q %q, want an error saying %q", tc.args, code, out, errOut, tc.want)
		}
	}
	if code, _, errOut = cliRun(t, dir, "users", "update", "nobody", "--name", "X"); code == 0 || !strings.Contains(errOut, `no user "nobody"`) {
		t.Errorf("unknown user: %d %q", code, errOut)
	}
	if code, _, errOut = cliRun(t, dir, "users", "update", "root", "--disabled"); code == 0 || !strings.Contains(errOut, "last enabled admin") {
		t.Errorf("disabling the last admin: %d %q", code, errOut)
	}
	after := load()
	if after.DisplayName != before.DisplayName || after.Email != before.Email || !slices.Equal(after.GroupNames(), before.GroupNames()) ||
		after.Locale != before.Locale || !after.UpdatedAt.Equal(before.UpdatedAt) || len(updates()) != 6 {
		t.Fatalf("refused updates changed the user: %+v → %+v", before, after)
	}
}

func detailJSON(ev models.AuditEvent) string {
	b, _ := json.Marshal(ev.Detail)
	return string(b)
}
