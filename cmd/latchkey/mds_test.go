package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latchkey-idp/latchkey/internal/outbound"
	"github.com/latchkey-idp/latchkey/passkeys"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

func TestCLIMDSImportAndPolicy(t *testing.T) {
	dir := t.TempDir()
	fido, err := passkeytest.NewFIDO()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := fido.Blob(12, passkeytest.MDSEntry{AAGUID: [16]byte{1, 2, 3}, Description: "CLI Test Key"})
	if err != nil {
		t.Fatal(err)
	}
	blobFile, rootFile := filepath.Join(dir, "blob.jwt"), filepath.Join(dir, "root.pem")
	if err := os.WriteFile(blobFile, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootFile, fido.MDSRootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := cliRun(t, dir, "mds", "status")
	if code != 0 || !strings.Contains(out, "no FIDO metadata imported") {
		t.Fatalf("status before import: %d %s", code, out)
	}
	// Without --mds-root the blob must chain to the FIDO Alliance root.
	if code, _, errOut := cliRun(t, dir, "mds", "import", blobFile); code == 0 {
		t.Fatal("a test blob was accepted under the FIDO production root")
	} else if !strings.Contains(errOut, "verify metadata blob") {
		t.Errorf("error output %s", errOut)
	}
	code, out, errOut := cliRun(t, dir, "mds", "import", blobFile, "--mds-root", rootFile, "--json")
	if code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	var info struct {
		Serial  int64 `json:"serial"`
		Entries int64 `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Serial != 12 || info.Entries != 1 {
		t.Fatalf("import output %s (%v)", out, err)
	}
	// go-webauthn fetched the chain's CRLs and OCSP with the client the
	// command gave it: plain http passes its scheme check, but loopback is
	// refused when dialled, even with the issuer on loopback.
	var hits atomic.Int32
	crl := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer crl.Close()
	rc := passkeys.RevocationClient()
	if rc == nil || rc == http.DefaultClient {
		t.Fatal("mds import left go-webauthn's revocation client unset")
	}
	for _, u := range []string{crl.URL + "/root.crl", strings.Replace(crl.URL, "127.0.0.1", "localhost", 1) + "/root.crl", "http://169.254.169.254/latest/meta-data/"} {
		resp, err := rc.Get(u)
		if err == nil {
			_ = resp.Body.Close()
		}
		if !errors.Is(err, outbound.ErrRefused) {
			t.Errorf("revocation client fetched %s: %v", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Error("the revocation client reached a loopback server")
	}
	if code, _, errOut := cliRun(t, dir, "mds", "import", blobFile, "--mds-root", rootFile); code == 0 || !strings.Contains(errOut, "already imported") {
		t.Errorf("re-import: %d %s", code, errOut)
	}
	if code, out, _ := cliRun(t, dir, "mds", "status"); code != 0 || !strings.Contains(out, "serial 12, 1 models") {
		t.Errorf("status: %d %s", code, out)
	}

	code, _, errOut = cliRun(t, dir, "policy", "group", "admins", "--level", "attested", "--aaguid-allow", "01020300-0000-0000-0000-000000000000")
	if code != 0 {
		t.Fatalf("policy group: %d %s", code, errOut)
	}
	if code, _, errOut := cliRun(t, dir, "policy", "group", "ops", "--aaguid-deny", "nope"); code == 0 || !strings.Contains(errOut, `AAGUID "nope"`) {
		t.Errorf("bad AAGUID: %d %s", code, errOut)
	}
	code, out, _ = cliRun(t, dir, "policy", "list", "--json")
	if code != 0 || !strings.Contains(out, `"level": "attested"`) || !strings.Contains(out, "01020300-0000-0000-0000-000000000000") {
		t.Errorf("policy list: %d %s", code, out)
	}
	if code, _, errOut := cliRun(t, dir, "policy", "group", "admins", "--clear"); code != 0 {
		t.Errorf("clear: %d %s", code, errOut)
	}

	code, _, errOut = cliRun(t, t.TempDir(), "serve", "--issuer", "http://localhost:8080", "--passkey-aaguid-allow", "xyz",
		"--rp-related-origin", "http://example.org")
	if code == 0 || !strings.Contains(errOut, `AAGUID "xyz"`) || !strings.Contains(errOut, "must use https") {
		t.Errorf("serve with bad policy flags: %d %s", code, errOut)
	}
}
