package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/internal/flowclient"

	"github.com/latchkey-idp/latchkey/idp"
	"github.com/latchkey-idp/latchkey/models"
)

// The load modes, `latchkey-bench flow` and `latchkey-bench endpoint`,
// drive a running server on loopback over HTTP only. Their users and client
// are created directly in the server's database (--data-dir/--database,
// like the `latchkey` commands; setup links through idp.IssueSetupLink, the
// service function `latchkey users setup-link` uses, not a handler); the
// passkeys are then registered through those links over HTTP.

type benchOptions struct {
	Users             int           `help:"Users (each with its own passkey) to create." default:"32"`
	Concurrency       int           `short:"c" help:"Concurrent virtual users." default:"16"`
	Duration          time.Duration `short:"d" help:"Measured time." default:"20s"`
	Warmup            time.Duration `help:"Unmeasured time before it." default:"2s"`
	Rate              float64       `help:"Target operations per second in all (0: as fast as possible)." default:"0"`
	ServerPID         int           `name:"server-pid" help:"PID of the server, for CPU time and peak memory from /proc (default: from the metrics URL)."`
	MetricsURL        string        `name:"metrics-url" help:"The server's /metrics, used when --server-pid is not given." default:"http://127.0.0.1:8081/metrics"`
	IDTokenAlg        string        `name:"id-token-alg" help:"ID token algorithm of the bench client." default:"RS256" enum:"RS256,ES256"`
	AccessTokenFormat string        `name:"access-token-format" help:"Access token format of the bench client." default:"jwt" enum:"jwt,opaque"`
	JSON              bool          `name:"json" help:"Print one JSON object."`
	CPUProfile        string        `name:"cpuprofile" help:"Write the load generator's own CPU profile of the measured time to FILE (the server's: serve --pprof)." placeholder:"FILE"`
}

type benchFlowCmd struct {
	benchOptions
}

type benchEndpointCmd struct {
	Endpoint string `arg:"" help:"refresh, userinfo, introspect, discovery or jwks." enum:"refresh,userinfo,introspect,discovery,jwks"`
	benchOptions
}

func (b *benchFlowCmd) Run(ctx context.Context, e *env) error {
	return runBench(ctx, e, &b.benchOptions, "flow")
}

func (b *benchEndpointCmd) Run(ctx context.Context, e *env) error {
	return runBench(ctx, e, &b.benchOptions, b.Endpoint)
}

// benchSetup creates the client and users and registers their passkeys.
func benchSetup(ctx context.Context, e *env, o *benchOptions) (_ *flowclient.App, _ []*flowclient.User, err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer command.CloseDB(db, &err)
	issuer := strings.TrimRight(e.cli.Issuer, "/")
	run := models.NewToken()[:8]
	bc := &flowclient.App{Issuer: issuer, RedirectURI: "http://127.0.0.1:9/bench-callback",
		Transport: &http.Transport{MaxIdleConns: 4 * o.Concurrency, MaxIdleConnsPerHost: 4 * o.Concurrency, IdleConnTimeout: time.Minute}}
	// A first-party client: the flow measured is sign-in and tokens, not
	// the consent page a third-party app shows once per user.
	c := &models.Client{Name: "latchkey-bench " + run, RedirectURIs: models.StringList{bc.RedirectURI},
		IDTokenAlg: o.IDTokenAlg, AccessTokenFormat: o.AccessTokenFormat, SkipConsent: true}
	if bc.ClientSecret, err = db.CreateClient(ctx, c); err != nil {
		return nil, nil, err
	}
	bc.ClientID = c.ID
	users := make([]*flowclient.User, o.Users)
	links := make([]string, o.Users)
	for i := range users {
		u := &models.User{Username: fmt.Sprintf("bench-%s-%d", run, i), Email: fmt.Sprintf("bench-%s-%d@example.com", run, i), DisplayName: "Bench"}
		if err := db.CreateUser(ctx, u); err != nil {
			return nil, nil, err
		}
		if links[i], err = idp.IssueSetupLink(ctx, db, issuer, u.ID, time.Hour, "bench"); err != nil {
			return nil, nil, err
		}
		users[i] = flowclient.NewUser(bc, nil)
	}
	err = parallel(ctx, len(users), min(o.Concurrency, 8), func(i int) error { return users[i].Register(links[i]) })
	if err != nil {
		return nil, nil, fmt.Errorf("register passkeys (is the server running at %s with --no-rate-limits?): %w", issuer, err)
	}
	return bc, users, nil
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < max(workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// recorder collects one virtual user's samples without locking.
type recorder struct {
	measuring *atomic.Bool
	lat       map[string][]time.Duration
	errs      map[string]int
	ops, fail int
}

func (r *recorder) step(step string, d time.Duration, err error) {
	if !r.measuring.Load() {
		return
	}
	if err != nil {
		key := step + ": " + errKind(err)
		r.errs[key]++
		return
	}
	r.lat[step] = append(r.lat[step], d)
}

func errKind(err error) string {
	var se *flowclient.StatusError
	if errors.As(err, &se) {
		return fmt.Sprintf("HTTP %d", se.Code)
	}
	msg := err.Error()
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return msg
}

func runBench(ctx context.Context, e *env, o *benchOptions, mode string) error {
	if o.Users < 1 || o.Concurrency < 1 || o.Duration <= 0 {
		return errors.New("--users, --concurrency and --duration must be positive")
	}
	// Every virtual user needs its own passkey: two sharing one would
	// report interleaved signature counters, which the server rightly
	// takes for a cloned authenticator.
	o.Users = max(o.Users, o.Concurrency)
	fmt.Fprintf(e.errOut, "bench: creating %d users with passkeys and a client on %s …\n", o.Users, e.cli.Issuer)
	_, users, err := benchSetup(ctx, e, o)
	if err != nil {
		return err
	}
	var measuring atomic.Bool
	recs := make([]*recorder, o.Concurrency)
	vus := make([]*flowclient.User, o.Concurrency)
	for i := range vus {
		recs[i] = &recorder{measuring: &measuring, lat: map[string][]time.Duration{}, errs: map[string]int{}}
		vus[i] = users[i]
		vus[i].Steps = recs[i].step
	}
	op, err := benchOp(mode)
	if err != nil {
		return err
	}
	if mode != "flow" && mode != "discovery" && mode != "jwks" {
		// Each virtual user needs its own tokens first.
		fmt.Fprintf(e.errOut, "bench: signing in %d virtual users …\n", len(vus))
		if err := parallel(ctx, len(vus), min(o.Concurrency, 8), func(i int) error { return vus[i].Flow() }); err != nil {
			return err
		}
	}
	probe := newServerProbe(o)
	fmt.Fprintf(e.errOut, "bench: %s, %d virtual users, %s warm-up, %s measured …\n", mode, o.Concurrency, o.Warmup, o.Duration)
	var pace <-chan time.Time
	if o.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
		defer t.Stop()
		pace = t.C
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Warmup+o.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for i, v := range vus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := recs[i]
			for runCtx.Err() == nil {
				if pace != nil {
					select {
					case <-pace:
					case <-runCtx.Done():
						return
					}
				}
				m := measuring.Load()
				err := op(v)
				if m && measuring.Load() {
					r.ops++
					if err != nil {
						r.fail++
					}
				}
			}
		}()
	}
	select {
	case <-time.After(o.Warmup):
	case <-ctx.Done():
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer func() {
			if err := f.Close(); err != nil {
				fmt.Fprintln(e.errOut, "bench: write the CPU profile:", err)
			}
		}()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var rusage0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &rusage0)
	probe.start()
	measuring.Store(true)
	start := time.Now()
	<-runCtx.Done()
	measuring.Store(false)
	elapsed := time.Since(start)
	server := probe.stop()
	var rusage1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &rusage1)
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res := summarize(mode, o, recs, elapsed)
	res.Server = server
	res.ClientCPUSeconds = cpuSeconds(rusage1) - cpuSeconds(rusage0)
	res.GOMAXPROCS = runtime.GOMAXPROCS(0)
	if o.JSON {
		return e.printJSON(res)
	}
	res.print(e)
	return nil
}

func cpuSeconds(r syscall.Rusage) float64 {
	return float64(r.Utime.Sec+r.Stime.Sec) + float64(r.Utime.Usec+r.Stime.Usec)/1e6
}

// benchOp returns what one iteration of a virtual user does.
func benchOp(mode string) (func(*flowclient.User) error, error) {
	switch mode {
	case "flow":
		return (*flowclient.User).Flow, nil
	case "refresh":
		return (*flowclient.User).Refresh, nil
	case "userinfo":
		return (*flowclient.User).Userinfo, nil
	case "introspect":
		return (*flowclient.User).Introspect, nil
	case "discovery", "jwks":
		path := map[string]string{"discovery": "/.well-known/openid-configuration", "jwks": "/keys"}[mode]
		return func(v *flowclient.User) error {
			_, err := v.Get(mode, v.App.Issuer+path, http.StatusOK)
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown bench mode %q", mode)
}

// benchResult is the report (also the --json object).
type benchResult struct {
	Mode             string               `json:"mode"`
	Concurrency      int                  `json:"concurrency"`
	Seconds          float64              `json:"seconds"`
	Operations       int                  `json:"operations"`
	Errors           int                  `json:"errors"`
	PerSecond        float64              `json:"ok_per_second"`
	Steps            []stepStats          `json:"steps"`
	ErrorKinds       map[string]int       `json:"error_kinds,omitempty"`
	Server           *serverUsage         `json:"server,omitempty"`
	ClientCPUSeconds float64              `json:"client_cpu_seconds"`
	GOMAXPROCS       int                  `json:"client_gomaxprocs"`
	Options          benchOptionsSnapshot `json:"options"`
}

type benchOptionsSnapshot struct {
	Users             int     `json:"users"`
	Rate              float64 `json:"rate"`
	IDTokenAlg        string  `json:"id_token_alg"`
	AccessTokenFormat string  `json:"access_token_format"`
}

type stepStats struct {
	Step  string  `json:"step"`
	Count int     `json:"count"`
	P50ms float64 `json:"p50_ms"`
	P95ms float64 `json:"p95_ms"`
	P99ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

func summarize(mode string, o *benchOptions, recs []*recorder, elapsed time.Duration) *benchResult {
	res := &benchResult{Mode: mode, Concurrency: o.Concurrency, Seconds: elapsed.Seconds(), ErrorKinds: map[string]int{},
		Options: benchOptionsSnapshot{Users: o.Users, Rate: o.Rate, IDTokenAlg: o.IDTokenAlg, AccessTokenFormat: o.AccessTokenFormat}}
	all := map[string][]time.Duration{}
	for _, r := range recs {
		res.Operations += r.ops
		res.Errors += r.fail
		for k, v := range r.lat {
			all[k] = append(all[k], v...)
		}
		for k, n := range r.errs {
			res.ErrorKinds[k] += n
		}
	}
	res.PerSecond = float64(res.Operations-res.Errors) / elapsed.Seconds()
	order := flowclient.FlowSteps
	if mode != "flow" {
		order = []string{mode}
	}
	for _, step := range order {
		d := all[step]
		if len(d) == 0 {
			continue
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		pct := func(p float64) float64 {
			return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
		}
		res.Steps = append(res.Steps, stepStats{Step: step, Count: len(d), P50ms: pct(.50), P95ms: pct(.95), P99ms: pct(.99),
			MaxMs: float64(d[len(d)-1].Microseconds()) / 1000})
	}
	return res
}

func (r *benchResult) print(e *env) {
	unit := "flows"
	if r.Mode != "flow" {
		unit = r.Mode + " requests"
	}
	fmt.Fprintf(e.out, "%s: %d %s in %.1fs with %d virtual users: %.1f ok/s, %d errors\n",
		r.Mode, r.Operations, unit, r.Seconds, r.Concurrency, r.PerSecond, r.Errors)
	tw := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tcount\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.1f\t\n", s.Step, s.Count, s.P50ms, s.P95ms, s.P99ms, s.MaxMs)
	}
	_ = tw.Flush() // terminal output, like the Fprintf calls (see .golangci.yml)
	for k, n := range r.ErrorKinds {
		fmt.Fprintf(e.out, "error %s: %d\n", k, n)
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(e.out, "server (%s): %.2f CPU s in %.1fs (%.0f%% of one core, %.2f ms CPU per ok op), RSS %.1f MB, peak %.1f MB\n",
			s.Source, s.CPUSeconds, r.Seconds, 100*s.CPUSeconds/r.Seconds, 1000*s.CPUSeconds/max(1, float64(r.Operations-r.Errors)),
			s.RSSMB, s.PeakRSSMB)
	}
	fmt.Fprintf(e.out, "load generator: %.2f CPU s (shares the machine's %d cores)\n", r.ClientCPUSeconds, runtime.NumCPU())
}
