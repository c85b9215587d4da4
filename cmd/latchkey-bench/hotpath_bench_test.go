package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/internal/flowclient"
)

// Benchmarks of the hot paths over loopback HTTP against a `latchkey serve`
// process (built and started by main_test.go), on SQLite and (with
// LATCHKEY_TEST_POSTGRES) Postgres:
//
//	go test ./cmd/latchkey-bench -run '^$' -bench . -count 6 | tee new.txt
//	benchstat old.txt new.txt
//
// BenchmarkFlow reports, besides the whole flow per op, each step's mean
// (passkey_finish-ms, code_exchange-ms = token issue, userinfo-ms,
// refresh-ms) so that a regression of one step shows in benchstat.

// benchBackends runs fn for each backend available.
func benchBackends(b *testing.B, fn func(b *testing.B, flags []string)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			dsn := ""
			if backend == "postgres" {
				if os.Getenv(dbtest.EnvPostgres) == "" {
					b.Skip(dbtest.EnvPostgres + " not set")
				}
				dsn = dbtest.PostgresDSN(b)
			}
			flags, _, _ := benchServer(b, dsn)
			fn(b, flags)
		})
	}
}

// benchVUs sets up users and signed-in virtual users through the same code
// as `latchkey-bench`.
func benchVUs(b *testing.B, flags []string, n int, alg string) []*flowclient.User {
	b.Helper()
	var c cli
	for i := 0; i+1 < len(flags); i += 2 {
		switch flags[i] {
		case "--data-dir":
			c.DataDir = flags[i+1]
		case "--issuer":
			c.Issuer = flags[i+1]
		case "--database":
			c.Database = flags[i+1]
		}
	}
	e := &env{cli: &c, out: io.Discard, errOut: io.Discard, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	o := &benchOptions{Users: n, Concurrency: n, IDTokenAlg: alg, AccessTokenFormat: "jwt"}
	_, users, err := benchSetup(context.Background(), e, o)
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range users {
		if err := v.Flow(); err != nil {
			b.Fatal(err)
		}
	}
	return users
}

func BenchmarkFlow(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			benchBackends(b, func(b *testing.B, flags []string) {
				v := benchVUs(b, flags, 1, alg)[0]
				steps := map[string]time.Duration{}
				v.Steps = func(step string, d time.Duration, _ error) { steps[step] += d }
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := v.Flow(); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				names := make([]string, 0, len(steps))
				for k := range steps {
					names = append(names, k)
				}
				sort.Strings(names)
				for _, k := range names {
					b.ReportMetric(float64(steps[k].Microseconds())/1000/float64(b.N), strings.ReplaceAll(k, "_", "-")+"-ms")
				}
			})
		})
	}
}

// benchEndpoint measures one endpoint with parallel virtual users
// (b.RunParallel, GOMAXPROCS goroutines by default).
func benchEndpoint(b *testing.B, mode, alg string) {
	benchBackends(b, func(b *testing.B, flags []string) {
		const vus = 8
		users := benchVUs(b, flags, vus, alg)
		op, err := benchOp(mode)
		if err != nil {
			b.Fatal(err)
		}
		next := make(chan *flowclient.User, vus)
		for _, v := range users {
			next <- v
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			v := <-next
			defer func() { next <- v }()
			for pb.Next() {
				if err := op(v); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkTokenRefresh(b *testing.B) {
	b.Run("RS256", func(b *testing.B) { benchEndpoint(b, "refresh", "RS256") })
	b.Run("ES256", func(b *testing.B) { benchEndpoint(b, "refresh", "ES256") })
}
func BenchmarkUserinfo(b *testing.B)   { benchEndpoint(b, "userinfo", "ES256") }
func BenchmarkIntrospect(b *testing.B) { benchEndpoint(b, "introspect", "ES256") }
func BenchmarkDiscovery(b *testing.B)  { benchEndpoint(b, "discovery", "ES256") }
func BenchmarkJWKS(b *testing.B)       { benchEndpoint(b, "jwks", "ES256") }
