package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// clientIDTokenClaims reads a client's id_token_claims from the database
// of the data directory dir.
func clientIDTokenClaims(t *testing.T, dir, id string) string {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	c, err := db.ClientByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return c.IDTokenClaims
}

// clients add and clients update set --id-token-claims; a value other than
// scoped or minimal is refused with a clear message and changes nothing.
func TestCLIClientsIDTokenClaims(t *testing.T) {
	dir := t.TempDir()
	add := func(args ...string) (int, string, string) {
		return cliRun(t, dir, append([]string{"clients", "add", "--name", "Kube", "--redirect-uri", "http://localhost:8000", "--public", "--json"}, args...)...)
	}
	code, out, errOut := add()
	var r struct {
		ClientID      string `json:"client_id"`
		IDTokenClaims string `json:"id_token_claims"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.IDTokenClaims != "scoped" {
		t.Fatalf("clients add: %d %q %q", code, out, errOut)
	}
	if code, out, errOut = add("--id-token-claims", "bogus"); code == 0 || out != "" || !strings.Contains(errOut, "--id-token-claims") || !strings.Contains(errOut, "bogus") {
		t.Fatalf("clients add --id-token-claims=bogus: %d %q %q", code, out, errOut)
	}
	code, out, errOut = add("--id-token-claims=minimal")
	var m struct {
		ClientID      string `json:"client_id"`
		IDTokenClaims string `json:"id_token_claims"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil || m.IDTokenClaims != "minimal" || clientIDTokenClaims(t, dir, m.ClientID) != "minimal" {
		t.Fatalf("clients add --id-token-claims=minimal: %d %q %q", code, out, errOut)
	}

	code, out, errOut = cliRun(t, dir, "clients", "update", r.ClientID, "--id-token-claims=minimal")
	if code != 0 || !strings.Contains(out, "id_token_claims") || clientIDTokenClaims(t, dir, r.ClientID) != "minimal" {
		t.Fatalf("clients update: %d %q %q", code, out, errOut)
	}
	for _, bad := range [][]string{
		{"clients", "update", r.ClientID, "--id-token-claims=bogus"},
		{"clients", "update", r.ClientID, "--id-token-claims=SCOPED"},
		{"clients", "update", r.ClientID},
		{"clients", "update", "no-such-client", "--id-token-claims=scoped"},
	} {
		code, out, errOut = cliRun(t, dir, bad...)
		if code == 0 || out != "" || errOut == "" {
			t.Errorf("%v: %d %q %q", bad, code, out, errOut)
		}
		if clientIDTokenClaims(t, dir, r.ClientID) != "minimal" {
			t.Fatalf("%v changed the client", bad)
		}
	}
	if _, _, errOut = cliRun(t, dir, "clients", "update", r.ClientID, "--id-token-claims=bogus"); !strings.Contains(errOut, "--id-token-claims must be scoped or minimal") {
		t.Errorf("bogus value message: %q", errOut)
	}
	if _, _, errOut = cliRun(t, dir, "clients", "update", "no-such-client", "--id-token-claims=scoped"); !strings.Contains(errOut, `no client "no-such-client"`) {
		t.Errorf("unknown client message: %q", errOut)
	}
	code, out, _ = cliRun(t, dir, "clients", "update", r.ClientID, "--id-token-claims", "scoped", "--json")
	if code != 0 || !strings.Contains(out, `"id_token_claims": "scoped"`) || clientIDTokenClaims(t, dir, r.ClientID) != "scoped" {
		t.Fatalf("clients update back to scoped: %d %q", code, out)
	}
}
