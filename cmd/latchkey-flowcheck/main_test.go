package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/internal/testserver"
	"github.com/latchkey-idp/latchkey/passkeys/passkeytest"
)

// binDir holds the server binary the tests build, once per test process.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latchkey-flowcheck-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	// The servers the tests start make their master key in the user's
	// configuration directory: keep it in the test's.
	if err := os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir) // a temp dir; the exit code is what matters
	os.Exit(code)
}

// latchkeyBinary builds cmd/latchkey once.
func latchkeyBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(binDir, "latchkey")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	build := exec.Command("go", "build", "-o", bin, "github.com/latchkey-idp/latchkey/cmd/latchkey")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("go build latchkey: %v\n%s", err, out)
	}
	return bin
}

// server is a `latchkey serve` process the test started.
type server struct {
	issuer, internal string // base URLs
	pid              int
	token            string // an admin API token from `latchkey api-token add`
}

// startServer execs `latchkey serve` on loopback with rate limits off (one
// IP makes every request), as for a load test, and creates an admin API
// token with the CLI. The tool reaches it over HTTP only.
func startServer(tb testing.TB, database string) *server {
	tb.Helper()
	bin := latchkeyBinary(tb)
	pub, internal := testserver.FreeAddr(tb), testserver.FreeAddr(tb)
	flags := []string{"--data-dir", tb.TempDir(), "--issuer", "http://localhost:" + testserver.Port(pub), "--log-format", "text", "--log-level", "warn"}
	if database != "" {
		flags = append(flags, "--database", database)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "LATCHKEY_") })
	cmd := exec.Command(bin, append([]string{"serve", "--listen", pub, "--internal-listen", internal, "--no-rate-limits"}, flags...)...)
	cmd.Env = env
	var logs testserver.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				tb.Errorf("serve: %v: %s", err, logs.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited //nolint:errcheck // reaped after the kill; the timeout is the failure reported
			tb.Errorf("serve did not stop within 15 s: %s", logs.String())
		}
	})
	ready := make(chan error, 1)
	go func() { err := <-exited; ready <- err; exited <- err }() // the cleanup reaps it too
	testserver.WaitReady(tb, "http://"+internal+"/readyz", ready, logs.String)

	mint := exec.Command(bin, append([]string{"api-token", "add", "--name", "flowcheck", "--expires", "1h", "--json"}, flags...)...)
	mint.Env = env
	out, err := mint.Output()
	if err != nil {
		tb.Fatalf("api-token add: %v", err)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal(out, &tok); err != nil || tok.Token == "" {
		tb.Fatalf("api-token add printed %q: %v", out, err)
	}
	return &server{issuer: flags[3], internal: "http://" + internal, pid: cmd.Process.Pid, token: tok.Token}
}

func (s *server) args(extra ...string) []string {
	return append([]string{"--issuer", s.issuer, "--internal", s.internal, "--api-token", s.token}, extra...)
}

// TestFlowcheck runs the tool against a real server on SQLite and
// Postgres for 2 s with 2 users and 2 browsers: flows complete, none
// fails, and the server's CPU time comes from its /metrics.
func TestFlowcheck(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn := ""
			if backend == "postgres" {
				dsn = dbtest.PostgresDSN(t)
			}
			s := startServer(t, dsn)
			var out, errOut bytes.Buffer
			code := run(context.Background(), s.args("--users", "2", "-c", "2", "-d", "2s", "--warmup", "300ms", "--json"), &out, &errOut)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
			}
			var res result
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Logf("%s", out.String())
			if res.Flows == 0 || res.Errors != 0 || len(res.ErrorKinds) != 0 || res.PerSecond <= 0 {
				t.Fatalf("%d flows, %d errors %v", res.Flows, res.Errors, res.ErrorKinds)
			}
			if res.P50ms <= 0 || res.P50ms > res.P95ms || res.P95ms > res.P99ms || res.P99ms > res.MaxMs {
				t.Errorf("percentiles out of order: %+v", res)
			}
			if res.CPUSource != s.internal+"/metrics" || res.ServerCPUSeconds <= 0 || res.ServerCPUPerFlow <= 0 {
				t.Errorf("server CPU: %q %.3f s, %.3f ms per flow", res.CPUSource, res.ServerCPUSeconds, res.ServerCPUPerFlow)
			}
			if len(res.LoadAfter) != 3 || res.Concurrency != 2 || res.Users != 2 || res.IDTokenAlg != "ES256" {
				t.Errorf("report: %+v", res)
			}
			if strings.Contains(errOut.String(), s.token) {
				t.Error("the API token went to the log")
			}

			// With /userinfo and a refresh in each flow, as the bench's.
			out.Reset()
			errOut.Reset()
			code = run(context.Background(), s.args("--users", "2", "-c", "2", "-d", "1s", "--warmup", "200ms", "--userinfo-refresh", "--json"), &out, &errOut)
			res = result{}
			if err := json.Unmarshal(out.Bytes(), &res); code != 0 || err != nil || res.Flows == 0 || res.Errors != 0 || !res.Extras {
				t.Fatalf("--userinfo-refresh: exit %d, %v\n%s\n%s", code, err, out.String(), errOut.String())
			}
		})
	}
}

// TestFlowcheckCountsBrokenFlows: a browser whose passkey the server does
// not know (a fresh authenticator, never registered) fails every flow, and
// each one is counted as an error, never as a flow; the other browser's
// flows still count. The CPU time comes from /proc with --server-pid.
func TestFlowcheckCountsBrokenFlows(t *testing.T) {
	s := startServer(t, "")
	o, err := parseFlags(s.args("--users", "2", "-c", "2", "-d", "1500ms", "--warmup", "200ms", "--id-token-alg", "RS256",
		"--server-pid", strconv.Itoa(s.pid)), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res, err := check(context.Background(), o, &log, func(users []*user) {
		// The right user's handle, but a key the server never registered.
		wrong := passkeytest.New("localhost", s.issuer)
		opts, _ := json.Marshal(map[string]any{"publicKey": map[string]any{
			"challenge": "AAAAAAAAAAAAAAAAAAAAAA", "rp": map[string]any{"id": "localhost"},
			"user":             map[string]any{"id": base64.RawURLEncoding.EncodeToString(users[0].auth.UserHandle)},
			"pubKeyCredParams": []map[string]any{{"type": "public-key", "alg": -7}},
		}})
		if _, err := wrong.Create(opts); err != nil {
			t.Fatal(err)
		}
		users[0].auth = wrong
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if res.Errors == 0 {
		t.Fatalf("no broken flow counted: %+v", res)
	}
	for kind, n := range res.ErrorKinds {
		// The server refuses the unknown passkey (a 4xx, not a 5xx).
		if !strings.HasPrefix(kind, "passkey finish: HTTP 4") {
			t.Errorf("error %q (%d): not the refused passkey", kind, n)
		}
	}
	if res.Flows == 0 {
		t.Fatalf("the good browser's flows did not count: %+v", res)
	}
	if res.CPUSource != fmt.Sprintf("/proc/%d/stat", s.pid) || res.ServerCPUSeconds <= 0 {
		t.Errorf("server CPU: %q %.3f", res.CPUSource, res.ServerCPUSeconds)
	}
	var out bytes.Buffer
	res.print(&out)
	t.Logf("%s", out.String())
	if !strings.Contains(out.String(), "passkey finish: HTTP 4") {
		t.Errorf("report does not name the failing step:\n%s", out.String())
	}
}

// TestFlowcheckBadInput: bad flags are a usage error (exit 2) with a clear
// message, before anything is created.
func TestFlowcheckBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--internal", "http://127.0.0.1:1"}, "--api-token"},
		{[]string{"--api-token", "lk_x", "-c", "0"}, "positive"},
		{[]string{"--api-token", "lk_x", "-d", "-1s"}, "positive"},
		{[]string{"--api-token", "lk_x", "--id-token-alg", "HS256"}, "RS256 or ES256"},
		{[]string{"--api-token", "lk_x", "extra"}, "unexpected argument"},
		{[]string{"--nope"}, "not defined"},
	} {
		t.Setenv("LATCHKEY_API_TOKEN", "")
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errOut.String())
		}
	}
	// A token the server does not know: the admin API's 401 stops it.
	s := startServer(t, "")
	var out, errOut bytes.Buffer
	args := []string{"--issuer", s.issuer, "--internal", s.internal, "--api-token", "lk_wrong", "-d", "1s"}
	if code := run(context.Background(), args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "create the client: POST /api/v1/clients: HTTP 401") {
		t.Errorf("wrong token: exit %d, stderr %q", code, errOut.String())
	}
}

// TestFlowcheckIsIndependent: the check shares no code with what it
// checks, the bench tool and its scripted browser.
func TestFlowcheckIsIndependent(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/latchkey-idp/latchkey/cmd/latchkey-flowcheck").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	for _, banned := range []string{"github.com/latchkey-idp/latchkey/internal/flowclient", "github.com/latchkey-idp/latchkey/cmd/latchkey-bench"} {
		if slices.Contains(deps, banned) {
			t.Errorf("latchkey-flowcheck depends on %s", banned)
		}
	}
	for _, needed := range []string{"github.com/coreos/go-oidc/v3/oidc", "golang.org/x/oauth2", "github.com/latchkey-idp/latchkey/passkeys/passkeytest"} {
		if !slices.Contains(deps, needed) {
			t.Errorf("latchkey-flowcheck does not use %s", needed)
		}
	}
}
