package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// scim token add prints a token once (stdout, never the log) that only
// its hash stands for in the database; list shows names and states, never
// tokens; revoke stops it at once; bad names and unknown IDs fail with a
// message and change nothing.
func TestCLISCIMTokens(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := cliRun(t, dir, "scim", "token", "add", "--name", "entra", "--json")
	if code != 0 {
		t.Fatalf("scim token add: %d %s", code, errOut)
	}
	var added struct{ ID, Name, Token, SCIMBaseURL string }
	if err := json.Unmarshal([]byte(strings.ReplaceAll(out, "scim_base_url", "SCIMBaseURL")), &added); err != nil ||
		!strings.HasPrefix(added.Token, models.SCIMTokenPrefix) || added.SCIMBaseURL != "http://localhost:8080/scim/v2" {
		t.Fatalf("add printed %q (%v)", out, err)
	}
	if strings.Contains(errOut, added.Token) {
		t.Fatal("the SCIM token went to the log")
	}
	code, out, errOut = cliRun(t, dir, "scim", "token", "add", "--name", "entra")
	if code == 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("duplicate name: %d %q %q", code, out, errOut)
	}
	if code, _, errOut = cliRun(t, dir, "scim", "token", "add", "--name", "   "); code == 0 || !strings.Contains(errOut, "1 to 64") {
		t.Fatalf("blank name: %d %q", code, errOut)
	}
	code, out, _ = cliRun(t, dir, "scim", "token", "add", "--name", "okta")
	if code != 0 || !strings.Contains(out, "shown only now") {
		t.Fatalf("add (text): %d %q", code, out)
	}

	code, out, _ = cliRun(t, dir, "scim", "token", "list")
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "entra") || !strings.Contains(out, "okta") ||
		strings.Contains(out, models.SCIMTokenPrefix) {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if code, _, errOut = cliRun(t, dir, "scim", "token", "revoke", "no-such-id"); code == 0 || !strings.Contains(errOut, "unknown or already revoked") {
		t.Fatalf("revoke unknown: %d %q", code, errOut)
	}
	if code, out, errOut = cliRun(t, dir, "scim", "token", "revoke", added.ID); code != 0 || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke: %d %q %q", code, out, errOut)
	}
	code, out, _ = cliRun(t, dir, "scim", "token", "list", "--json")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"state":"revoked"`) || !strings.Contains(out, `"state":"active"`) {
		t.Fatalf("list --json after revoke: %d\n%s", code, out)
	}

	db, err := models.Open(context.Background(), models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.SCIMTokenByRaw(context.Background(), added.Token); err == nil {
		t.Error("the revoked token still authenticates")
	}
	ts, err := db.ListSCIMTokens(context.Background())
	if err != nil || len(ts) != 2 || strings.Contains(string(ts[1].TokenHash), added.Token) || ts[1].CreatedBy != "cli" {
		t.Fatalf("stored: %+v %v", ts, err)
	}
}
