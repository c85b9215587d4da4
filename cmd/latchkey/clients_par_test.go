package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// The PAR switches: clients add/update --require-par (per client) and
// serve --require-par / LATCHKEY_REQUIRE_PAR (every client).
func TestCLIRequirePAR(t *testing.T) {
	dir := t.TempDir()
	c := struct{ ClientID string }{cliAddClient(t, dir, "--name", "Bank", "--redirect-uri", "https://bank.example/cb", "--require-par")}
	stored := func() bool { t.Helper(); return storedClient(t, dir, c.ClientID).RequirePAR }
	if !stored() {
		t.Fatal("clients add --require-par did not store it")
	}
	code, out, errOut := cliRun(t, dir, "clients", "update", c.ClientID, "--no-require-par", "--json")
	var upd struct {
		RequirePAR bool     `json:"require_par"`
		Changed    []string `json:"changed"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &upd) != nil || upd.RequirePAR || len(upd.Changed) != 1 || upd.Changed[0] != "require_par" || stored() {
		t.Fatalf("clients update --no-require-par: %d %q %s", code, out, errOut)
	}
	if code, out, _ = cliRun(t, dir, "clients", "update", c.ClientID, "--no-require-par"); code != 0 || !strings.Contains(out, "unchanged") {
		t.Fatalf("unchanged update: %d %q", code, out)
	}
	if code, out, _ = cliRun(t, dir, "clients", "update", c.ClientID, "--require-par"); code != 0 || !stored() {
		t.Fatalf("clients update --require-par: %d %q", code, out)
	}
	for _, args := range [][]string{{c.ClientID}, {"no-such-client", "--require-par"}} {
		if code, _, errOut := cliRun(t, dir, append([]string{"clients", "update"}, args...)...); code == 0 || errOut == "" {
			t.Errorf("clients update %v: %d, want a refusal", args, code)
		}
	}

	c1, e := parseForTest(t, "serve", "--issuer", "http://localhost:8080", "--require-par")
	if cfg, probs := c1.Serve.buildConfig(e); len(probs) != 0 || !cfg.OIDC.RequirePAR {
		t.Fatalf("serve --require-par: %v %v", cfg.OIDC.RequirePAR, probs)
	}
	t.Setenv("LATCHKEY_REQUIRE_PAR", "true")
	c2, e := parseForTest(t, "serve", "--issuer", "http://localhost:8080")
	if cfg, _ := c2.Serve.buildConfig(e); !cfg.OIDC.RequirePAR {
		t.Fatal("LATCHKEY_REQUIRE_PAR=true did not require PAR")
	}
}

// PKCE per client: clients add --require-pkce and clients update
// --[no-]require-pkce on a confidential client; a public client always
// needs PKCE, so --no-require-pkce on it is refused and changes nothing.
func TestCLIRequirePKCE(t *testing.T) {
	dir := t.TempDir()
	add := func(args ...string) string {
		t.Helper()
		return cliAddClient(t, dir, append([]string{"--redirect-uri", "https://app.example/cb"}, args...)...)
	}
	stored := func(id string) bool { t.Helper(); return storedClient(t, dir, id).RequirePKCE }
	wiki := add("--name", "Wiki", "--require-pkce")
	if !stored(wiki) {
		t.Fatal("clients add --require-pkce did not store it")
	}
	code, out, errOut := cliRun(t, dir, "clients", "update", wiki, "--no-require-pkce", "--json")
	var upd struct {
		RequirePKCE bool     `json:"require_pkce"`
		Changed     []string `json:"changed"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &upd) != nil || upd.RequirePKCE || strings.Join(upd.Changed, ",") != "require_pkce" || stored(wiki) {
		t.Fatalf("clients update --no-require-pkce: %d %q %s", code, out, errOut)
	}
	if code, out, _ = cliRun(t, dir, "clients", "update", wiki, "--require-pkce"); code != 0 || !stored(wiki) {
		t.Fatalf("clients update --require-pkce: %d %q", code, out)
	}
	spa := add("--name", "SPA", "--public")
	code, _, errOut = cliRun(t, dir, "clients", "update", spa, "--no-require-pkce")
	if code == 0 || !strings.Contains(errOut, "public") {
		t.Fatalf("--no-require-pkce on a public client: %d %q", code, errOut)
	}
	code, out, _ = cliRun(t, dir, "clients", "update", spa, "--id-token-claims", "minimal", "--json")
	if code != 0 || !strings.Contains(out, `"require_pkce": true`) {
		t.Fatalf("a public client's require_pkce: %d %q", code, out)
	}
}

// cliAddClient runs clients add --json with args and returns the client_id.
func cliAddClient(t *testing.T, dir string, args ...string) string {
	t.Helper()
	code, out, errOut := cliRun(t, dir, append([]string{"clients", "add", "--json"}, args...)...)
	var c struct {
		ClientID string `json:"client_id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("clients add %v: %d %q %s", args, code, out, errOut)
	}
	return c.ClientID
}

// storedClient reads client id from the database in dir.
func storedClient(t *testing.T, dir, id string) *models.Client {
	t.Helper()
	db, err := models.Open(context.Background(), models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	cl, err := db.ClientByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
