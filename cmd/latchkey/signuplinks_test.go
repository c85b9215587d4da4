package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// signup-links add prints a link once (stdout, never the log) whose hash
// alone is stored; list shows states and uses, never links; revoke stops
// it; bad values fail with a message and change nothing.
func TestCLISignupLinks(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := cliRun(t, dir, "signup-links", "add", "--uses", "3", "--expires", "72h", "--json")
	if code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	var added struct {
		ID, URL string
		MaxUses int `json:"max_uses"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.MaxUses != 3 ||
		!strings.HasPrefix(added.URL, "http://localhost:8080/signup/"+models.SignupLinkPrefix) {
		t.Fatalf("add printed %q (%v)", out, err)
	}
	raw := strings.TrimPrefix(added.URL, "http://localhost:8080/signup/")
	if strings.Contains(errOut, raw) {
		t.Fatal("the sign-up link went to the log")
	}
	for _, bad := range [][]string{{"--uses", "0"}, {"--uses", "10001"}, {"--expires", "10s"}, {"--expires", "9000h"}} {
		if code, _, errOut := cliRun(t, dir, append([]string{"signup-links", "add"}, bad...)...); code == 0 || !strings.Contains(errOut, "sign-up link") {
			t.Errorf("add %v: %d %q", bad, code, errOut)
		}
	}
	code, out, _ = cliRun(t, dir, "signup-links", "list")
	if code != 0 || !strings.HasPrefix(out, "ID") || !strings.Contains(out, added.ID) || !strings.Contains(out, "active") ||
		!strings.Contains(out, "0/3") || strings.Contains(out, raw) || strings.Count(out, "\n") != 2 {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if code, _, errOut = cliRun(t, dir, "signup-links", "revoke", "no-such-id"); code == 0 || !strings.Contains(errOut, "unknown or already revoked") {
		t.Fatalf("revoke unknown: %d %q", code, errOut)
	}
	if code, out, errOut = cliRun(t, dir, "signup-links", "revoke", added.ID); code != 0 || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke: %d %q %q", code, out, errOut)
	}
	code, out, _ = cliRun(t, dir, "signup-links", "list", "--json")
	if code != 0 || !strings.Contains(out, `"state":"revoked"`) {
		t.Fatalf("list --json after revoke: %d\n%s", code, out)
	}

	ctx := context.Background()
	db, err := models.Open(ctx, models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.SignupLinkByRaw(ctx, raw); err == nil {
		t.Error("the revoked link still works")
	}
	for _, typ := range []string{"signup_link_added", "signup_link_revoked"} {
		if evs, _ := db.AuditEvents(ctx, models.AuditFilter{Type: typ}); len(evs) != 1 || evs[0].ActorID != "cli" {
			t.Errorf("audit %s: %+v", typ, evs)
		}
	}
}
