package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

func TestCLIAPITokenAdd(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := cliRun(t, dir, "api-token", "add", "--name", "load test", "--expires", "1h", "--json")
	if code != 0 {
		t.Fatalf("api-token add: %d %s", code, errOut)
	}
	var added struct {
		ID, Name, Token string
		ExpiresAt       time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil || !strings.HasPrefix(added.Token, models.APITokenPrefix) ||
		added.Name != "load test" || time.Until(added.ExpiresAt) < 58*time.Minute || time.Until(added.ExpiresAt) > time.Hour {
		t.Fatalf("add printed %q (%v)", out, err)
	}
	if strings.Contains(errOut, added.Token) {
		t.Fatal("the API token went to the log")
	}
	code, out, _ = cliRun(t, dir, "api-token", "add", "--name", "ci")
	if code != 0 || !strings.Contains(out, "shown only now") || !strings.Contains(out, models.APITokenPrefix) {
		t.Fatalf("add (text): %d %q", code, out)
	}
	// Bad input: a clear error, and no token made.
	for _, args := range [][]string{{"--name", "   "}, {"--name", strings.Repeat("x", 65)}, {"--name", "x", "--expires=-1h"}} {
		code, out, errOut := cliRun(t, dir, append([]string{"api-token", "add"}, args...)...)
		if code == 0 || strings.Contains(out, models.APITokenPrefix) || !strings.Contains(errOut, "1 to 64") && !strings.Contains(errOut, "negative") {
			t.Errorf("%v: %d %q %q", args, code, out, errOut)
		}
	}

	db, err := models.Open(context.Background(), models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	tok, err := db.APITokenByRaw(context.Background(), added.Token)
	if err != nil || tok.ID != added.ID || tok.CreatedBy != "cli" || tok.ExpiresAt == nil {
		t.Fatalf("the token does not authenticate: %+v %v", tok, err)
	}
	ts, err := db.ListAPITokens(context.Background())
	if err != nil || len(ts) != 2 {
		t.Fatalf("tokens: %d %v", len(ts), err)
	}
	events, err := db.AuditEvents(context.Background(), models.AuditFilter{Type: models.EventAPITokenCreated})
	if err != nil || len(events) != 2 || events[0].ActorID != "cli" {
		t.Fatalf("audit: %+v %v", events, err)
	}
}
