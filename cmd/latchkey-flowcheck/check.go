package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// result is the report (also the --json object).
type result struct {
	Flows       int            `json:"flows"` // completed without error in the measured time
	Errors      int            `json:"errors"`
	ErrorKinds  map[string]int `json:"error_kinds,omitempty"`
	Seconds     float64        `json:"seconds"`
	PerSecond   float64        `json:"flows_per_second"`
	P50ms       float64        `json:"p50_ms"`
	P95ms       float64        `json:"p95_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	Concurrency int            `json:"concurrency"`
	Users       int            `json:"users"`
	IDTokenAlg  string         `json:"id_token_alg"`
	// Extras: each flow also called /userinfo and refreshed once.
	Extras bool `json:"userinfo_refresh"`
	// The server's CPU time in the measured time, from CPUSource.
	ServerCPUSeconds float64 `json:"server_cpu_seconds"`
	ServerCPUPerFlow float64 `json:"server_cpu_ms_per_flow"`
	CPUSource        string  `json:"server_cpu_source,omitempty"`
	// This tool's own CPU time in the measured time.
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
	// /proc/loadavg (1, 5, 15 minutes) at the start and the end.
	LoadBefore []float64 `json:"loadavg_before,omitempty"`
	LoadAfter  []float64 `json:"loadavg_after,omitempty"`
	NumCPU     int       `json:"num_cpu"`
}

// worker is one browser's tally, written by its goroutine only.
type worker struct {
	lat  []time.Duration
	errs map[string]int
	fail int
}

// check sets up the client and users, then runs flows for o.Warmup+
// o.Duration with o.C browsers, each signing in its own user (two browsers
// sharing a passkey would report interleaved signature counters, which the
// server takes for a cloned authenticator). prepare, when set, sees the
// users before the first flow (tests use it to break one).
func check(ctx context.Context, o *options, log io.Writer, prepare func([]*user)) (*result, error) {
	fmt.Fprintf(log, "flowcheck: creating a client and %d users with passkeys through %s/api/v1 …\n", o.Users, o.Internal)
	a, users, err := setup(ctx, o)
	if err != nil {
		return nil, err
	}
	r, err := newRP(ctx, a, o.Extras)
	if err != nil {
		return nil, err
	}
	if prepare != nil {
		prepare(users)
	}
	fmt.Fprintf(log, "flowcheck: %d browsers, %s warm-up, %s measured …\n", o.C, o.Warmup, o.Duration)
	var measuring atomic.Bool
	runCtx, cancel := context.WithTimeout(ctx, o.Warmup+o.Duration)
	defer cancel()
	workers := make([]*worker, o.C)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{errs: map[string]int{}}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				m := measuring.Load()
				start := time.Now()
				err := r.flow(runCtx, users[i])
				d := time.Since(start)
				// A flow counts when it started and ended in the measured
				// time; one cut off by its end is neither.
				if !m || !measuring.Load() || runCtx.Err() != nil {
					continue
				}
				if err != nil {
					w.fail++
					w.errs[errKind(err)]++
					continue
				}
				w.lat = append(w.lat, d)
			}
		}()
	}
	select {
	case <-time.After(o.Warmup):
	case <-ctx.Done():
	}
	res := &result{Concurrency: o.C, Users: o.Users, IDTokenAlg: o.IDTokenAlg, Extras: o.Extras, ErrorKinds: map[string]int{}, NumCPU: runtime.NumCPU()}
	res.LoadBefore = loadavg()
	cpu0, src, cpuErr := serverCPU(o)
	self0 := selfCPU()
	measuring.Store(true)
	start := time.Now()
	<-runCtx.Done()
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1, _, cpuErr1 := serverCPU(o)
	self1 := selfCPU()
	res.LoadAfter = loadavg()
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		res.Errors += w.fail
		for k, n := range w.errs {
			res.ErrorKinds[k] += n
		}
	}
	res.Flows, res.Seconds = len(all), elapsed.Seconds()
	res.PerSecond = float64(res.Flows) / res.Seconds
	if len(all) > 0 {
		slices.Sort(all)
		pct := func(p float64) float64 { return ms(all[min(len(all)-1, int(p*float64(len(all))))]) }
		res.P50ms, res.P95ms, res.P99ms, res.MaxMs = pct(.50), pct(.95), pct(.99), ms(all[len(all)-1])
	}
	if err := errors.Join(cpuErr, cpuErr1); err != nil {
		fmt.Fprintln(log, "flowcheck: the server's CPU time is unknown:", err)
	} else {
		res.CPUSource, res.ServerCPUSeconds = src, cpu1-cpu0
		res.ServerCPUPerFlow = 1000 * res.ServerCPUSeconds / float64(max(res.Flows, 1))
	}
	res.ClientCPUSeconds = self1 - self0
	return res, nil
}

func errKind(err error) string {
	var se *stepError
	if errors.As(err, &se) {
		return se.kind()
	}
	return shorten(err.Error())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// serverCPU returns the server's CPU seconds so far: from
// /proc/PID/stat with --server-pid, else process_cpu_seconds_total on the
// internal listener's /metrics.
func serverCPU(o *options) (float64, string, error) {
	if o.ServerPID > 0 {
		cpu, err := procCPU(o.ServerPID)
		return cpu, fmt.Sprintf("/proc/%d/stat", o.ServerPID), err
	}
	u := o.Internal + "/metrics"
	resp, err := http.Get(u)
	if err != nil {
		return 0, u, err
	}
	defer func() { _ = resp.Body.Close() }() // read errors surface through sc.Err
	if resp.StatusCode != http.StatusOK {
		return 0, u, fmt.Errorf("%s: HTTP %d", u, resp.StatusCode)
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "process_cpu_seconds_total" {
			v, err := strconv.ParseFloat(f[1], 64)
			return v, u, err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, u, err
	}
	return 0, u, fmt.Errorf("%s has no process_cpu_seconds_total; give --server-pid", u)
}

// procCPU reads utime+stime (fields 14 and 15, proc(5)) from
// /proc/PID/stat, in clock ticks of 1/100 s.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count after its ')'.
	rest := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(rest) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseFloat(rest[11], 64)
	st, err2 := strconv.ParseFloat(rest[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (ut + st) / 100, nil
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// loadavg returns /proc/loadavg's three averages, nil where there is none.
func loadavg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil
	}
	out := make([]float64, 3)
	for i := range out {
		out[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return out
}

func (r *result) print(w io.Writer) {
	what := "sign-in to ID token"
	if r.Extras {
		what += ", userinfo, refresh"
	}
	fmt.Fprintf(w, "flowcheck: %d flows (%s) in %.1fs with %d browsers (%s ID tokens): %.1f flows/s, %d errors\n",
		r.Flows, what, r.Seconds, r.Concurrency, r.IDTokenAlg, r.PerSecond, r.Errors)
	fmt.Fprintf(w, "flow latency: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.1f ms\n", r.P50ms, r.P95ms, r.P99ms, r.MaxMs)
	for k, n := range r.ErrorKinds {
		fmt.Fprintf(w, "error %s: %d\n", k, n)
	}
	if r.CPUSource != "" {
		fmt.Fprintf(w, "server (%s): %.2f CPU s, %.2f ms CPU per completed flow (%.0f%% of one core)\n",
			r.CPUSource, r.ServerCPUSeconds, r.ServerCPUPerFlow, 100*r.ServerCPUSeconds/r.Seconds)
	}
	fmt.Fprintf(w, "flowcheck itself: %.2f CPU s; load average %v before, %v after (%d CPUs, shared with whatever else runs)\n",
		r.ClientCPUSeconds, r.LoadBefore, r.LoadAfter, r.NumCPU)
}
