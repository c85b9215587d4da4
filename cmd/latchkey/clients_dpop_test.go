package main

import (
	"encoding/json"
	"testing"
)

// The DPoP switches: clients add/update --require-dpop (per client) and
// serve --dpop-nonce / LATCHKEY_DPOP_NONCE (server nonces, RFC 9449 §8).
func TestCLIRequireDPoP(t *testing.T) {
	dir := t.TempDir()
	c := struct{ ClientID string }{cliAddClient(t, dir, "--name", "Agent", "--redirect-uri", "https://agent.example/cb", "--require-dpop")}
	stored := func() bool { t.Helper(); return storedClient(t, dir, c.ClientID).RequireDPoP }
	if !stored() {
		t.Fatal("clients add --require-dpop did not store it")
	}
	code, out, errOut := cliRun(t, dir, "clients", "update", c.ClientID, "--no-require-dpop", "--json")
	var upd struct {
		RequireDPoP bool     `json:"require_dpop"`
		Changed     []string `json:"changed"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &upd) != nil || upd.RequireDPoP || len(upd.Changed) != 1 || upd.Changed[0] != "require_dpop" || stored() {
		t.Fatalf("clients update --no-require-dpop: %d %q %s", code, out, errOut)
	}
	if code, out, _ = cliRun(t, dir, "clients", "update", c.ClientID, "--require-dpop"); code != 0 || !stored() {
		t.Fatalf("clients update --require-dpop: %d %q", code, out)
	}
	if code, _, errOut := cliRun(t, dir, "clients", "update", "no-such-client", "--require-dpop"); code == 0 || errOut == "" {
		t.Errorf("clients update of an unknown client: %d, want a refusal", code)
	}

	c1, e := parseForTest(t, "serve", "--issuer", "http://localhost:8080", "--dpop-nonce")
	if cfg, probs := c1.Serve.buildConfig(e); len(probs) != 0 || !cfg.OIDC.DPoPNonce {
		t.Fatalf("serve --dpop-nonce: %v %v", cfg.OIDC.DPoPNonce, probs)
	}
	t.Setenv("LATCHKEY_DPOP_NONCE", "true")
	c2, e := parseForTest(t, "serve", "--issuer", "http://localhost:8080")
	if cfg, _ := c2.Serve.buildConfig(e); !cfg.OIDC.DPoPNonce {
		t.Fatal("LATCHKEY_DPOP_NONCE=true did not require nonces")
	}
}
