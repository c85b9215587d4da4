package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// TestBenchStart runs `latchkey bench start` against the real binary:
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
				args := []string{"bench", "start", "--runs", "2", "--binary", bin, "--binary", bin2, "--json"}
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
		{[]string{"--database", filepath.Join(t.TempDir(), "x.db")}, "takes a postgres:// DSN"},
	} {
		code, out, errOut := cliRun(t, t.TempDir(), append([]string{"bench", "start"}, bad.args...)...)
		if code == 0 || !strings.Contains(errOut, bad.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want an error with %q", bad.args, code, out, errOut, bad.want)
		}
	}
}
