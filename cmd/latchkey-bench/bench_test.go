package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/internal/flowclient"
)

// TestBenchCommand runs flow and endpoint modes against a real `latchkey
// serve` process (main_test.go), on SQLite and Postgres.
func TestBenchCommand(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn := ""
			if backend == "postgres" {
				dsn = dbtest.PostgresDSN(t)
			}
			flags, internal, pid := benchServer(t, dsn)
			for _, mode := range [][]string{{"flow"}, {"endpoint", "refresh"}, {"endpoint", "jwks"}} {
				args := append(slices.Clone(mode), "--users", "3", "-c", "4", "--duration", "700ms", "--warmup", "200ms", "--json")
				prof := filepath.Join(t.TempDir(), "bench.prof")
				if mode[0] == "flow" {
					// The server's usage from /proc, and the load generator's profile.
					args = append(args, "--server-pid", strconv.Itoa(pid), "--cpuprofile", prof)
				} else {
					args = append(args, "--metrics-url", "http://"+internal+"/metrics")
				}
				code, out, errOut := cliRun(t, flags[1], append(args, flags[2:]...)...)
				if code != 0 {
					t.Fatalf("%v: exit %d\n%s\n%s", mode, code, out, errOut)
				}
				var res benchResult
				if err := json.Unmarshal([]byte(out), &res); err != nil {
					t.Fatalf("%v: %v\n%s", mode, err, out)
				}
				if res.Operations == 0 || res.Errors != 0 || res.PerSecond <= 0 {
					t.Fatalf("%v: %d operations, %d errors %v", mode, res.Operations, res.Errors, res.ErrorKinds)
				}
				want := 1
				if mode[0] == "flow" {
					want = len(flowclient.FlowSteps)
				}
				if len(res.Steps) != want {
					t.Errorf("%v: steps %+v, want %d", mode, res.Steps, want)
				}
				if res.Server == nil || res.Server.CPUSeconds <= 0 || res.Server.RSSMB <= 0 {
					t.Errorf("%v: server usage %+v", mode, res.Server)
				}
				if mode[0] == "flow" {
					// --cpuprofile writes the load generator's profile (gzip).
					if b, err := os.ReadFile(prof); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
						t.Errorf("--cpuprofile: %v, %d bytes", err, len(b))
					}
				}
			}
		})
	}
}
