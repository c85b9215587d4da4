package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// clients add/update --profile fapi2: stored for a client that can meet
// the FAPI 2.0 profile, refused with the reason for one that cannot, and
// --profile none takes it off.
func TestCLIClientProfile(t *testing.T) {
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Use: "sig"}}})
	jwks := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwks, set, 0o600); err != nil {
		t.Fatal(err)
	}
	id := cliAddClient(t, dir, "--name", "Bank", "--redirect-uri", "https://bank.example/cb", "--jwks-file", jwks,
		"--id-token-alg", "ES256", "--profile", "fapi2")
	if c := storedClient(t, dir, id); !c.FAPI2() || !c.NeedsPAR() || !c.NeedsDPoP() || !c.NeedsPKCE() {
		t.Fatalf("clients add --profile fapi2 stored %+v", c)
	}
	for _, args := range [][]string{
		{"--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--profile", "fapi2"},                                             // no keys
		{"--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--jwks-file", jwks, "--profile", "fapi2"},                        // RS256 ID tokens
		{"--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--public", "--profile", "fapi2", "--id-token-alg", "ES256"},      // public
		{"--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--jwks-file", jwks, "--id-token-alg", "ES256", "--profile", "x"}, // unknown
	} {
		if code, _, errOut := cliRun(t, dir, append([]string{"clients", "add"}, args...)...); code == 0 || errOut == "" {
			t.Errorf("clients add %v: %d, want a refusal", args, code)
		} else if !strings.Contains(errOut, "FAPI 2.0") && !strings.Contains(errOut, "profile") {
			t.Errorf("clients add %v: refusal %q does not say why", args, errOut)
		}
	}
	code, out, errOut := cliRun(t, dir, "clients", "update", id, "--profile", "none", "--json")
	var upd struct {
		Profile string   `json:"profile"`
		Changed []string `json:"changed"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &upd) != nil || upd.Profile != "none" || len(upd.Changed) != 1 || storedClient(t, dir, id).FAPI2() {
		t.Fatalf("clients update --profile none: %d %q %s", code, out, errOut)
	}
	plain := cliAddClient(t, dir, "--name", "Plain", "--redirect-uri", "https://plain.example/cb")
	if code, _, errOut := cliRun(t, dir, "clients", "update", plain, "--profile", "fapi2"); code == 0 || !strings.Contains(errOut, "FAPI 2.0") {
		t.Fatalf("clients update --profile fapi2 of a client without keys: %d %q", code, errOut)
	}
	if code, out, _ := cliRun(t, dir, "clients", "update", id, "--profile", "fapi2"); code != 0 || !storedClient(t, dir, id).FAPI2() {
		t.Fatalf("clients update --profile fapi2: %d %q", code, out)
	}
}
