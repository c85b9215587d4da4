package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// TestBenchStart runs `latchkey-bench start` against the real server binary:
// first starts and restarts, on SQLite and Postgres, two binaries
// alternating, and its refusals of bad input.
func TestBenchStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts it a dozen times")
	}
	bin := buildLatchkey(t)
	bin2 := filepath.Join(t.TempDir(), "latchkey-b")
	if b, err := os.ReadFile(bin); err != nil || os.WriteFile(bin2, b, 0o755) != nil {
		t.Fatal("copy the binary:", err)
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, fresh := range []bool{true, false} {
			name := backend + map[bool]string{true: "/fresh", false: "/restart"}[fresh]
			t.Run(name, func(t *testing.T) {
				args := []string{"start", "--runs", "2", "--binary", bin, "--binary", bin2, "--json"}
				if fresh {
					args = append(args, "--fresh")
				}
				var admin *sql.DB
				if backend == "postgres" {
					base := dbtest.BaseDSN(t)
					args = append(args, "--database", base)
					var err error
					if admin, err = sql.Open("pgx", base); err != nil {
						t.Fatal(err)
					}
					defer func() { _ = admin.Close() }() // a connection pool for one query
				}
				code, out, errOut := cliRun(t, t.TempDir(), args...)
				if code != 0 {
					t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
				}
				var rep startReport
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				if rep.Backend != backend || rep.Fresh != fresh || rep.Runs != 2 || len(rep.Results) != 2 {
					t.Fatalf("report %+v", rep)
				}
				for i, r := range rep.Results {
					if r.Binary != []string{bin, bin2}[i] || len(r.ReadyMs) != 2 || len(r.ServerMs) != 2 {
						t.Fatalf("result %+v", r)
					}
					for j := range r.ReadyMs {
						// The server's own figure starts after exec and ends
						// when it listens, before /readyz can answer.
						if r.ServerMs[j] <= 0 || r.ReadyMs[j] <= r.ServerMs[j] {
							t.Errorf("run %d: ready %.1f ms, server-reported %.1f ms", j, r.ReadyMs[j], r.ServerMs[j])
						}
					}
					if !(r.MinMs <= r.MedianMs && r.MedianMs <= r.P90Ms && r.P90Ms <= r.MaxMs) || r.MinMs <= 0 {
						t.Errorf("summary %+v", r)
					}
				}
				if admin != nil {
					var left int
					if err := admin.QueryRow(`SELECT COUNT(*) FROM pg_namespace WHERE nspname LIKE 'latchkey\_bench\_%'`).Scan(&left); err != nil || left != 0 {
						t.Errorf("bench schemas left behind: %d (%v)", left, err)
					}
				}
			})
		}
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--runs", "0"}, "--runs and --timeout must be positive"},
		{[]string{"--binary", filepath.Join(t.TempDir(), "missing")}, "not an executable file"},
		{[]string{"--binary", t.TempDir()}, "not an executable file"},
		{[]string{"--database", filepath.Join(t.TempDir(), "x.db")}, "takes a postgres:// DSN"},
	} {
		bad.args = append(bad.args, "--binary", bin)
		code, out, errOut := cliRun(t, t.TempDir(), append([]string{"start"}, bad.args...)...)
		if code == 0 || !strings.Contains(errOut, bad.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want an error with %q", bad.args, code, out, errOut, bad.want)
		}
	}
}

// TestBenchStartDefaultBinary: without --binary, start execs the latchkey
// next to its own executable, else the one on PATH, and says so when there
// is none.
func TestBenchStartDefaultBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	server := buildLatchkey(t)
	tool := buildBinary(t, "github.com/latchkey-idp/latchkey/cmd/latchkey-bench", "latchkey-bench")
	if filepath.Dir(tool) != filepath.Dir(server) {
		t.Fatalf("%s and %s not in one directory", tool, server)
	}
	// Next to the executable, with nothing on PATH.
	cmd := exec.Command(tool, "start", "--runs", "1", "--json", "--data-dir", t.TempDir())
	cmd.Env = append(benchChildEnv(), "PATH=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("latchkey-bench start: %v\n%s", err, out)
	}
	var rep startReport
	if err := json.Unmarshal(out, &rep); err != nil || len(rep.Results) != 1 || rep.Results[0].Binary != server {
		t.Fatalf("report %+v (%v), want one result of %s", rep, err, server)
	}
	// On PATH: the test binary has no latchkey next to it.
	t.Setenv("PATH", filepath.Dir(server))
	if bin, err := defaultServerBinary(); err != nil || bin != server {
		t.Errorf("defaultServerBinary() = %q, %v; want %s", bin, err, server)
	}
	t.Setenv("PATH", t.TempDir())
	if bin, err := defaultServerBinary(); err == nil || !strings.Contains(err.Error(), "--binary") {
		t.Errorf("defaultServerBinary() with no latchkey = %q, %v; want an error naming --binary", bin, err)
	}
}
