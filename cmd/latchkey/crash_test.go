package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCrashLosesNoCommittedData builds the real binary, runs `serve`,
// hammers it with writes (sign-in requests over HTTP, users added by CLI
// processes on the same database), kills it with SIGKILL in the middle,
// and checks after a restart that every write that was answered with
// success is there and the database passes integrity_check.
func TestCrashLosesNoCommittedData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildLatchkey(t)
	code, out, errOut := cliRun(t, dir, "clients", "add", "--name", "Crash", "--redirect-uri", "http://localhost:9999/cb", "--public", "--json")
	var client struct {
		ClientID string `json:"client_id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &client) != nil {
		t.Fatalf("clients add: %d %s %s", code, out, errOut)
	}

	pub, internal := freeAddr(t), freeAddr(t)
	issuer := "http://localhost:" + portOf(pub)
	serve := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--data-dir", dir, "--issuer", issuer, "--listen", pub, "--internal-listen", internal, "--log-level", "warn")
		cmd.Stderr, cmd.Stdout = &syncBuffer{}, &syncBuffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		waitReady(t, "http://"+internal+"/readyz")
		return cmd
	}
	srv := serve()

	var (
		mu       sync.Mutex
		authReqs []string // auth request IDs the server answered with
		usersOK  []string // usernames the CLI reported as created
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				q := url.Values{"client_id": {client.ClientID}, "redirect_uri": {"http://localhost:9999/cb"}, "response_type": {"code"},
					"scope": {"openid"}, "state": {"s"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
				resp, err := noRedirect.Get(issuer + "/authorize?" + q.Encode())
				if err != nil {
					continue // the server died mid-request: no success, no promise
				}
				// /authorize sends the browser to the sign-in page of the
				// request it stored.
				_, err = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close() // drained; only the redirect is read
				loc, lerr := resp.Location()
				if err == nil && lerr == nil && resp.StatusCode == http.StatusFound && loc.Query().Get("authRequestID") != "" {
					mu.Lock()
					authReqs = append(authReqs, loc.Query().Get("authRequestID"))
					mu.Unlock()
				}
			}
		}()
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("crash%d_%d", w, i)
				cmd := exec.Command(bin, "users", "add", "--username", name, "--data-dir", dir, "--issuer", issuer, "--json", "--log-level", "error")
				if out, err := cmd.Output(); err == nil && strings.Contains(string(out), "setup_url") {
					mu.Lock()
					usersOK = append(usersOK, name)
					mu.Unlock()
				}
			}
		}(w)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(authReqs) < 20 {
		t.Fatalf("only %d writes answered before the kill; the test proves nothing", len(authReqs))
	}

	// Restart: the server comes back on the same files.
	srv = serve()
	_ = srv
	db := openDataDir(t, dir)
	var res string
	if err := db.Gorm().Raw("PRAGMA integrity_check").Scan(&res).Error; err != nil || res != "ok" {
		t.Fatalf("integrity_check after SIGKILL = %q %v", res, err)
	}
	var n int64
	if err := db.Gorm().Table("auth_requests").Where("id IN ?", authReqs).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != int64(len(authReqs)) {
		t.Fatalf("%d of %d acknowledged auth requests survived the crash", n, len(authReqs))
	}
	if len(usersOK) > 0 {
		if err := db.Gorm().Table("users").Where("username IN ?", usersOK).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != int64(len(usersOK)) {
			t.Fatalf("%d of %d users the CLI reported created are there", n, len(usersOK))
		}
	}
	t.Logf("after SIGKILL: %d auth requests and %d users acknowledged, all present", len(authReqs), len(usersOK))
}

// buildLatchkey builds the real binary into a temporary directory (the
// second build in a test run is a link from the build cache).
func buildLatchkey(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "latchkey")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
