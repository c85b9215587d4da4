package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// registration token add prints an initial access token once (stdout,
// never the log), stored only as its hash; list shows names, states and
// expiry, never tokens; revoke stops it at once; bad input fails with a
// message and changes nothing.
func TestCLIRegistrationTokens(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := cliRun(t, dir, "registration", "token", "add", "--name", "agents", "--expires", "24h", "--json")
	if code != 0 {
		t.Fatalf("registration token add: %d %s", code, errOut)
	}
	var added struct {
		ID, Name, Token string
		Endpoint        string `json:"registration_endpoint"`
		ExpiresAt       string `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil || !strings.HasPrefix(added.Token, models.RegistrationTokenPrefix) ||
		added.Endpoint != "http://localhost:8080/oauth/register" || added.ExpiresAt == "" {
		t.Fatalf("add printed %q (%v)", out, err)
	}
	if strings.Contains(errOut, added.Token) {
		t.Fatal("the token went to the log")
	}
	if code, _, errOut = cliRun(t, dir, "registration", "token", "add", "--name", " "); code == 0 || !strings.Contains(errOut, "1 to 64") {
		t.Fatalf("blank name: %d %q", code, errOut)
	}
	if code, _, errOut = cliRun(t, dir, "registration", "token", "add", "--name", "x", "--expires", "-1h"); code == 0 || !strings.Contains(errOut, "--expires") {
		t.Fatalf("negative expiry: %d %q", code, errOut)
	}
	code, out, _ = cliRun(t, dir, "registration", "token", "add", "--name", "partner")
	if code != 0 || !strings.Contains(out, "shown only now") {
		t.Fatalf("add (text): %d %q", code, out)
	}
	code, out, _ = cliRun(t, dir, "registration", "token", "list")
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "agents") || !strings.Contains(out, "partner") ||
		strings.Contains(out, models.RegistrationTokenPrefix) {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if code, _, errOut = cliRun(t, dir, "registration", "token", "revoke", "no-such-id"); code == 0 || !strings.Contains(errOut, "unknown or already revoked") {
		t.Fatalf("revoke unknown: %d %q", code, errOut)
	}
	if code, out, errOut = cliRun(t, dir, "registration", "token", "revoke", added.ID); code != 0 || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke: %d %q %q", code, out, errOut)
	}
	code, out, _ = cliRun(t, dir, "registration", "token", "list", "--json")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"state":"revoked"`) || !strings.Contains(out, `"state":"active"`) {
		t.Fatalf("list --json after revoke: %d\n%s", code, out)
	}

	db, err := models.Open(context.Background(), models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.RegistrationTokenByRaw(context.Background(), added.Token); err == nil {
		t.Error("the revoked token still authenticates")
	}
	ts, err := db.ListRegistrationTokens(context.Background())
	if err != nil || len(ts) != 2 || strings.Contains(string(ts[1].TokenHash), added.Token) || ts[1].CreatedBy != "cli" || ts[1].ExpiresAt == nil {
		t.Fatalf("stored: %+v %v", ts, err)
	}
}

// serve --registration and --registration-redirect-patterns (and their
// env twins) reach the OIDC config; open registration without a pattern,
// or a pattern with a wildcard scheme, is refused at start.
func TestServeRegistrationFlags(t *testing.T) {
	c, e := parseForTest(t, "serve", "--issuer", "http://localhost:8080")
	if cfg, probs := c.Serve.buildConfig(e); len(probs) != 0 || cfg.OIDC.Registration != "off" {
		t.Fatalf("default: %q %v", cfg.OIDC.Registration, probs)
	}
	c, e = parseForTest(t, "serve", "--issuer", "http://localhost:8080", "--registration", "open",
		"--registration-redirect-patterns", "https://*.apps.example/cb,http://127.0.0.1:*/cb")
	if cfg, probs := c.Serve.buildConfig(e); len(probs) != 0 || cfg.OIDC.Registration != "open" || len(cfg.OIDC.RegistrationRedirectPatterns) != 2 {
		t.Fatalf("open: %q %v %v", cfg.OIDC.Registration, cfg.OIDC.RegistrationRedirectPatterns, probs)
	}
	c, e = parseForTest(t, "serve", "--issuer", "http://localhost:8080", "--registration", "open")
	if _, probs := c.Serve.buildConfig(e); !strings.Contains(strings.Join(probs, ";"), "redirect URI pattern") {
		t.Fatalf("open without patterns: %v", probs)
	}
	c, e = parseForTest(t, "serve", "--issuer", "http://localhost:8080", "--registration", "open", "--registration-redirect-patterns", "*://x/cb")
	if _, probs := c.Serve.buildConfig(e); !strings.Contains(strings.Join(probs, ";"), "*://x/cb") {
		t.Fatalf("wildcard scheme: %v", probs)
	}
	c, e = parseForTest(t, "serve", "--issuer", "http://localhost:8080", "--registration", "token", "--registration-open-limit=-1")
	if _, probs := c.Serve.buildConfig(e); !strings.Contains(strings.Join(probs, ";"), "open registration limit") {
		t.Fatalf("negative limit: %v", probs)
	}
	c, e = parseForTest(t, "serve", "--issuer", "http://localhost:8080", "--registration-open-limit", "50")
	if cfg, _ := c.Serve.buildConfig(e); cfg.OIDC.RegistrationOpenLimit != 50 {
		t.Fatalf("--registration-open-limit 50: %d", cfg.OIDC.RegistrationOpenLimit)
	}
	t.Setenv("LATCHKEY_REGISTRATION", "token")
	c, e = parseForTest(t, "serve", "--issuer", "http://localhost:8080")
	if cfg, _ := c.Serve.buildConfig(e); cfg.OIDC.Registration != "token" {
		t.Fatal("LATCHKEY_REGISTRATION=token did not turn registration on")
	}
}
