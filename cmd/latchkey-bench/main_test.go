package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/testserver"
)

// binDir holds the binaries the tests build, once per test process.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latchkey-bench-test-")
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

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// buildBinary builds the main package pkg (an import path) into the test
// process's binary directory, once, and returns its path.
func buildBinary(tb testing.TB, pkg, name string) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	bin := filepath.Join(binDir, name)
	build := exec.Command("go", "build", "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// buildLatchkey builds the server binary, `latchkey`, that the load tool
// drives and `start` execs.
func buildLatchkey(tb testing.TB) string {
	return buildBinary(tb, "github.com/latchkey-idp/latchkey/cmd/latchkey", serverBinaryName)
}

// benchServer execs `latchkey serve` on loopback (rate limits off, as for
// a load test) and returns the global flags that reach it, the internal
// listener's address and the server's PID. The load tool reaches it over
// HTTP only, as it reaches a server in production.
func benchServer(tb testing.TB, database string) (flags []string, internal string, pid int) {
	tb.Helper()
	bin := buildLatchkey(tb)
	dir := tb.TempDir()
	pub, internal := freeAddr(tb), freeAddr(tb)
	flags = []string{"--data-dir", dir, "--issuer", "http://localhost:" + portOf(pub), "--log-format", "text", "--log-level", "warn"}
	if database != "" {
		flags = append(flags, "--database", database)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", pub, "--internal-listen", internal, "--no-rate-limits"}, flags...)...)
	cmd.Env = benchChildEnv()
	var logs syncBuffer
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
	return flags, internal, cmd.Process.Pid
}

// cliRun runs latchkey-bench in-process against dir and returns exit code,
// stdout and stderr.
func cliRun(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(args, "--data-dir", dir, "--log-format", "text"), &out, &errOut)
	return code, out.String(), errOut.String()
}

// The harness of servers these tests start (internal/testserver).
var (
	freeAddr = testserver.FreeAddr
	portOf   = testserver.Port
)

type syncBuffer = testserver.SyncBuffer

func TestCLIUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "flow"},
		{[]string{"flow", "--help"}, 0, "--server-pid"},
		{[]string{"start", "--help"}, 0, "--binary"},
		{[]string{"bench", "flow"}, 2, ""},
		{[]string{"endpoint", "nope"}, 2, ""},
	} {
		code, out, errOut := cliRun(t, t.TempDir(), tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want %d; stdout %q; stderr %q", tc.args, code, tc.code, out, errOut)
		}
	}
}
