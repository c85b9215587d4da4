package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// benchServer runs `latchkey serve` in-process on loopback (rate limits
// off, as for a load test) and returns the global flags that reach it and
// the internal listener's address.
func benchServer(tb testing.TB, database string) (flags []string, internal string) {
	tb.Helper()
	dir := tb.TempDir()
	pub, internal := freeAddr(tb), freeAddr(tb)
	flags = []string{"--data-dir", dir, "--issuer", "http://localhost:" + portOf(pub), "--log-format", "text", "--log-level", "warn"}
	if database != "" {
		flags = append(flags, "--database", database)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var errOut syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", pub, "--internal-listen", internal, "--no-rate-limits"}, flags...), &errOut, &errOut)
	}()
	tb.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			tb.Errorf("serve exited %d: %s", code, errOut.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + internal + "/readyz")
		if err == nil {
			_ = resp.Body.Close() // only the status is checked
			if resp.StatusCode == http.StatusOK {
				return flags, internal
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("server never became ready: %s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBenchCommand(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn := ""
			if backend == "postgres" {
				dsn = dbtest.PostgresDSN(t)
			}
			flags, internal := benchServer(t, dsn)
			for _, mode := range [][]string{{"flow"}, {"endpoint", "refresh"}, {"endpoint", "jwks"}} {
				args := append(append([]string{"bench"}, mode...), "--users", "3", "-c", "4", "--duration", "700ms", "--warmup", "200ms",
					"--metrics-url", "http://"+internal+"/metrics", "--json")
				prof := filepath.Join(t.TempDir(), "bench.prof")
				if mode[0] == "flow" {
					args = append(args, "--cpuprofile", prof)
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
					want = len(flowSteps)
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
