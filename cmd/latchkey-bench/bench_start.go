package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/latchkey-idp/latchkey/internal/loopback"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the bench schemas
)

// benchStartCmd is `latchkey-bench start`: it times `latchkey serve` from
// exec to the first 200 from /readyz (database reachable, keys loaded),
// which is what an orchestrator waits for. A Go poller asks every
// millisecond over loopback; a shell loop of curl processes costs several
// milliseconds of CPU per poll and, on two cores, slowed the very start it
// timed.
type benchStartCmd struct {
	Runs     int           `help:"Starts to time per binary." default:"10"`
	Fresh    bool          `help:"Time first starts: each on a new data directory and, with a postgres:// --database, a new schema (all dropped at the end). Without it: restarts of one database, migrated by a first, unmeasured start of the first --binary."`
	Binaries []string      `name:"binary" help:"latchkey server binary to start (repeatable: runs alternate between them, for A/B comparisons on a noisy machine). Default: the latchkey next to this executable, else latchkey on PATH." placeholder:"PATH"`
	Settle   time.Duration `help:"Before each start, sync the file systems and wait this long (see docs/performance.md: files deleted in the last seconds slow ext4's file creation)." default:"0s"`
	Timeout  time.Duration `help:"Longest wait for one start." default:"30s"`
	JSON     bool          `name:"json" help:"Print one JSON object."`
}

// startResult is one binary's figures (also in the --json object).
type startResult struct {
	Binary   string    `json:"binary"`
	ReadyMs  []float64 `json:"ready_ms"`  // exec → /readyz 200
	ServerMs []float64 `json:"server_ms"` // the server's own "startup" (serve → listening)
	MinMs    float64   `json:"min_ms"`
	MedianMs float64   `json:"median_ms"`
	P90Ms    float64   `json:"p90_ms"`
	MaxMs    float64   `json:"max_ms"`
}

type startReport struct {
	Mode    string         `json:"mode"`
	Backend string         `json:"backend"`
	Fresh   bool           `json:"fresh"`
	Runs    int            `json:"runs"`
	Results []*startResult `json:"results"`
}

func (b *benchStartCmd) Run(ctx context.Context, e *env) error {
	if b.Runs < 1 || b.Timeout <= 0 || b.Settle < 0 {
		return errors.New("--runs and --timeout must be positive, --settle not negative")
	}
	bins := b.Binaries
	if len(bins) == 0 {
		bin, err := defaultServerBinary()
		if err != nil {
			return err
		}
		bins = []string{bin}
	}
	for _, bin := range bins {
		if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("--binary %s: not an executable file", bin)
		}
	}
	pg := strings.HasPrefix(e.cli.Database, "postgres://") || strings.HasPrefix(e.cli.Database, "postgresql://")
	if e.cli.Database != "" && !pg {
		return errors.New("--database: latchkey-bench start takes a postgres:// DSN, or none for SQLite in a temporary directory")
	}
	work, err := os.MkdirTemp("", "latchkey-bench-start-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }() // a temporary directory
	var schemas *benchSchemas
	if pg {
		if schemas, err = openBenchSchemas(ctx, e.cli.Database); err != nil {
			return err
		}
		defer func() {
			if err := schemas.dropAll(); err != nil {
				fmt.Fprintln(e.errOut, "bench: drop the bench schemas:", err)
			}
		}()
	}
	// target returns the data directory and database of run i; without
	// --fresh every run restarts the same ones, migrated by a first,
	// unmeasured start.
	target := func(i int) (dir, dsn string, err error) {
		if !b.Fresh {
			i = 0
		}
		dir = filepath.Join(work, fmt.Sprint(i))
		if schemas != nil {
			if dsn, err = schemas.dsn(ctx, i); err != nil {
				return "", "", err
			}
		}
		return dir, dsn, nil
	}
	results := make([]*startResult, len(bins))
	for j, bin := range bins {
		results[j] = &startResult{Binary: bin}
	}
	if !b.Fresh {
		dir, dsn, err := target(0)
		if err != nil {
			return err
		}
		if _, _, err := timeStart(ctx, bins[0], dir, dsn, b.Timeout); err != nil {
			return fmt.Errorf("first (unmeasured) start: %w", err)
		}
	}
	backend := "sqlite"
	if pg {
		backend = "postgres"
	}
	fmt.Fprintf(e.errOut, "bench: %d starts per binary (%s, fresh=%v) …\n", b.Runs, backend, b.Fresh)
	for i := range b.Runs {
		for j, bin := range bins {
			dir, dsn, err := target(i*len(bins) + j)
			if err != nil {
				return err
			}
			if b.Settle > 0 {
				syscall.Sync()
				select {
				case <-time.After(b.Settle):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			ready, server, err := timeStart(ctx, bin, dir, dsn, b.Timeout)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", bin, i+1, err)
			}
			r := results[j]
			r.ReadyMs = append(r.ReadyMs, ms(ready))
			r.ServerMs = append(r.ServerMs, ms(server))
		}
	}
	for _, r := range results {
		s := slices.Sorted(slices.Values(r.ReadyMs))
		r.MinMs, r.MedianMs, r.P90Ms, r.MaxMs = s[0], median(s), s[(len(s)*9+9)/10-1], s[len(s)-1] // p90: nearest rank
	}
	rep := &startReport{Mode: "start", Backend: backend, Fresh: b.Fresh, Runs: b.Runs, Results: results}
	if b.JSON {
		return e.printJSON(rep)
	}
	rep.print(e)
	return nil
}

// serverBinaryName is the server's executable, which start execs.
const serverBinaryName = "latchkey"

// defaultServerBinary is the latchkey next to this executable (both built
// or installed into one directory), else the one on PATH.
func defaultServerBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		if self, err := filepath.EvalSymlinks(self); err == nil {
			bin := filepath.Join(filepath.Dir(self), serverBinaryName)
			if fi, err := os.Stat(bin); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return bin, nil
			}
		}
	}
	bin, err := exec.LookPath(serverBinaryName)
	if err != nil {
		return "", fmt.Errorf("no %s next to this executable or on PATH: build it (go build -o DIR ./cmd/latchkey) or give --binary", serverBinaryName)
	}
	return filepath.Abs(bin)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func (rep *startReport) print(e *env) {
	kind := "restarts"
	if rep.Fresh {
		kind = "first starts"
	}
	fmt.Fprintf(e.out, "start: %d %s per binary on %s, exec → /readyz 200 (ms)\n", rep.Runs, kind, rep.Backend)
	tw := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "binary\tmin\tmedian\tp90\tmax\tserver-reported median")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\n", r.Binary, r.MinMs, r.MedianMs, r.P90Ms, r.MaxMs,
			median(slices.Sorted(slices.Values(r.ServerMs))))
	}
	_ = tw.Flush() // terminal output, like the Fprintf calls (see .golangci.yml)
	for _, r := range rep.Results {
		runs := make([]string, len(r.ReadyMs))
		for i, v := range r.ReadyMs {
			runs[i] = fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(e.out, "%s: %s\n", r.Binary, strings.Join(runs, ", "))
	}
}

// timeStart execs `bin serve` on dir (and dsn) with free loopback ports,
// waits for /readyz to answer 200, stops the server and returns the time
// from exec to ready and the server's own "startup" figure.
func timeStart(ctx context.Context, bin, dir, dsn string, timeout time.Duration) (ready, server time.Duration, err error) {
	ports, err := loopback.FreeAddrs(2)
	if err != nil {
		return 0, 0, err
	}
	pub, internal := ports[0], ports[1]
	_, port, _ := net.SplitHostPort(pub)
	args := []string{"serve", "--data-dir", dir, "--listen", pub, "--internal-listen", internal,
		"--issuer", "http://localhost:" + port, "--log-format", "json", "--log-level", "info"}
	if dsn != "" {
		args = append(args, "--database", dsn)
	}
	cmd := exec.Command(bin, args...) //nolint:gosec // G204: the binaries the operator asked to measure
	cmd.Env = benchChildEnv()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs // read after Wait only
	cmd.WaitDelay = 5 * time.Second       // bounds Wait if a grandchild holds the pipe
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	readyz := "http://" + internal + "/readyz"
	exited := make(chan error, 1)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	go func() { exited <- cmd.Wait() }()
	// stop returns once the child is reaped and its output copied, so the
	// log buffer may be read afterwards.
	stop := func() error {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			return err
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited //nolint:errcheck // the wait's error is the kill's; the timeout is reported
			return errors.New("did not stop within 10 s of SIGINT")
		}
	}
	for {
		if resp, err := client.Get(readyz); err == nil {
			_ = resp.Body.Close() // only the status is checked
			if resp.StatusCode == http.StatusOK {
				ready = time.Since(t0)
				break
			}
		}
		select {
		case err := <-exited:
			return 0, 0, fmt.Errorf("serve exited before it was ready (%v): %s", err, lastLines(logs.String(), 5)) //nolint:errorlint // err is nil after a clean exit
		case <-ctx.Done():
			_ = stop()
			return 0, 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Since(t0) > timeout {
			_ = stop()
			return 0, 0, fmt.Errorf("not ready after %s: %s", timeout, lastLines(logs.String(), 5))
		}
	}
	if err := stop(); err != nil {
		return 0, 0, fmt.Errorf("stop: %w: %s", err, lastLines(logs.String(), 5))
	}
	server, err = startupFromLog(logs.String())
	return ready, server, err
}

// startupFromLog finds the "startup" field of serve's "latchkey ready" line.
func startupFromLog(logs string) (time.Duration, error) {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			Startup string `json:"startup"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "latchkey ready" {
			return time.ParseDuration(line.Startup)
		}
	}
	return 0, fmt.Errorf("no \"latchkey ready\" line in the server's log: %s", lastLines(logs, 5))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// benchChildEnv is this environment without LATCHKEY_* variables: the
// timed server gets its configuration from the flags alone.
func benchChildEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "LATCHKEY_") })
}

// benchSchemas hands out one new Postgres schema per fresh start (a DSN
// whose search_path is that schema) and drops them all at the end, not
// between runs: dropping a schema deletes its files, and files deleted in
// the last seconds slow the next run's file creation (ext4's inode
// allocator steps over them).
type benchSchemas struct {
	db    *sql.DB
	base  *url.URL
	run   string
	names map[int]string
}

func openBenchSchemas(ctx context.Context, dsn string) (*benchSchemas, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("--database: %w", err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("--database: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // reporting the connect error
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &benchSchemas{db: db, base: u, run: hex.EncodeToString(b[:]), names: map[int]string{}}, nil
}

func (s *benchSchemas) dsn(ctx context.Context, i int) (string, error) {
	name, ok := s.names[i]
	if !ok {
		name = fmt.Sprintf("latchkey_bench_%s_%d", s.run, i)
		s.names[i] = name // dropped at the end even if this fails half-way
		if _, err := s.db.ExecContext(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("create schema %s (the role needs CREATE on the database): %w", name, err)
		}
	}
	u := *s.base
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (s *benchSchemas) dropAll() error {
	var errs []error
	for _, name := range s.names {
		if _, err := s.db.Exec("DROP SCHEMA IF EXISTS " + pgx.Identifier{name}.Sanitize() + " CASCADE"); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}
