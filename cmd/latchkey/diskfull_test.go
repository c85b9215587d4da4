package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// diskScript mounts a small tmpfs on the data directory (in a mount
// namespace of its own), runs serve on it, and fills or frees the file
// system when the test drops a file into the control directory.
const diskScript = `set -e
mount -t tmpfs -o size=8m tmpfs "$DATA"
"$BIN" serve --data-dir "$DATA" --master-key-file "$CTRL/master.key" --issuer "$ISSUER" --listen "$PUB" --internal-listen "$INTERNAL" \
	--no-rate-limits --log-level warn &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
until [ -e "$CTRL/fill" ]; do sleep 0.05; done
dd if=/dev/zero of="$DATA/filler" bs=4096 2>/dev/null || true
{ df -k "$DATA" | tail -1; ls -la "$DATA"; } > "$CTRL/filled.tmp"; mv "$CTRL/filled.tmp" "$CTRL/filled"
until [ -e "$CTRL/free" ]; do sleep 0.05; done
rm -f "$DATA/filler"
touch "$CTRL/freed"
wait $pid
`

// TestReadyzOnAFullFileSystem: on a real file system that fills up (a
// tmpfs of 8 MiB), writes fail, /readyz turns 503 and says why, and the
// failures are counted; once space is freed the server is ready again
// without a restart (issue 20). The tmpfs lives in a mount namespace of
// the test's own (unshare; as root in CI, else an unprivileged user
// namespace), so the test needs no privileges on the host.
func TestReadyzOnAFullFileSystem(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("this test needs unshare (util-linux) to mount a small tmpfs in its own mount namespace")
	}
	bin := buildLatchkey(t)
	data, ctrl := filepath.Join(t.TempDir(), "data"), t.TempDir()
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	pub, internal := freeAddr(t), freeAddr(t)
	issuer := "http://localhost:" + portOf(pub)
	args := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		args = append(args, "--map-root-user")
	}
	cmd := exec.Command("unshare", append(args, "sh", "-c", diskScript)...)
	cmd.Env = append(os.Environ(), "DATA="+data, "CTRL="+ctrl, "BIN="+bin, "ISSUER="+issuer, "PUB="+pub, "INTERNAL="+internal)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	})
	waitReady(t, "http://"+internal+"/readyz")

	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + internal + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	writeErrors := func() float64 {
		t.Helper()
		resp, err := http.Get("http://" + internal + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "latchkey_database_write_errors_total "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		t.Fatalf("no latchkey_database_write_errors_total in /metrics")
		return 0
	}
	// waitFor polls until done, with a deadline that a loaded CI machine meets.
	waitFor := func(what string, d time.Duration, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); !done(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// Each sign-in start stores a challenge: traffic that writes.
	beginSignIn := func() int {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, issuer+"/account/login/begin", bytes.NewReader(nil))
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err) // also called from goroutines: no Fatal
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if st := beginSignIn(); st != http.StatusOK {
		t.Fatalf("sign-in start on a healthy server: %d", st)
	}
	if code, body := readyz(); code != http.StatusOK || writeErrors() != 0 {
		t.Fatalf("before the disk fills: /readyz %d %s", code, body)
	}

	if err := os.WriteFile(filepath.Join(ctrl, "fill"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("the file system to fill", 30*time.Second, func() bool { _, err := os.Stat(filepath.Join(ctrl, "filled")); return err == nil })
	df, _ := os.ReadFile(filepath.Join(ctrl, "filled"))
	t.Logf("full: %s", df)
	// Writes fail once SQLite needs a page the disk cannot give; until
	// then they fit in space the database file and its WAL already hold
	// (the WAL keeps up to 4 MiB, a thousand commits or more when the
	// server was started under load). At most the 8 MiB of the file
	// system fit, so four writers at a time get there on a loaded machine.
	var mu sync.Mutex
	statuses := map[int]int{}
	waitFor("a write to fail", 150*time.Second, func() bool {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				st := beginSignIn()
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		for st := range statuses {
			if st >= 500 {
				return true
			}
		}
		return false
	})
	t.Logf("answers on the full disk: %v", statuses)
	code, body := readyz()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "writes") {
		t.Fatalf("full disk: /readyz %d %q, want 503 saying that writes fail", code, body)
	}
	if n := writeErrors(); n < 1 {
		t.Fatalf("write errors = %v on a full disk", n)
	}

	if err := os.WriteFile(filepath.Join(ctrl, "free"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("the space to be freed", 30*time.Second, func() bool { _, err := os.Stat(filepath.Join(ctrl, "freed")); return err == nil })
	// Ready again without a restart, once the failure hold has passed.
	waitFor("/readyz to recover", models.WriteFailureHold+30*time.Second, func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})
	if st := beginSignIn(); st != http.StatusOK {
		t.Fatalf("sign-in start after freeing space: %d", st)
	}
}
