package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// serverUsage is what the server process spent during the measured time.
type serverUsage struct {
	Source     string  `json:"source"` // "/proc/PID" or the metrics URL
	CPUSeconds float64 `json:"cpu_seconds"`
	RSSMB      float64 `json:"rss_mb"`      // at the end
	PeakRSSMB  float64 `json:"peak_rss_mb"` // VmHWM (whole life) or the highest sample
}

// serverProbe reads the server's CPU time and memory from /proc/PID when
// --server-pid is given, else from its /metrics process_* series, sampling
// memory every 250 ms for the peak.
type serverProbe struct {
	pid     int
	metrics string
	cpu0    float64
	peak    float64
	stopc   chan struct{}
	wg      sync.WaitGroup
	ok      bool
}

func newServerProbe(o *benchOptions) *serverProbe {
	return &serverProbe{pid: o.ServerPID, metrics: o.MetricsURL}
}

// read returns CPU seconds, RSS and peak RSS (MB; peak 0 when unknown).
func (p *serverProbe) read() (cpu, rss, peak float64, err error) {
	if p.pid > 0 {
		return procUsage(p.pid)
	}
	if p.metrics == "" {
		return 0, 0, 0, fmt.Errorf("no --server-pid and no --metrics-url")
	}
	resp, err := http.Get(p.metrics)
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = resp.Body.Close() }() // read errors surface through sc.Err
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	found := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "process_cpu_seconds_total":
			cpu, found = v, found+1
		case "process_resident_memory_bytes":
			rss, found = v/1e6, found+1
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, 0, fmt.Errorf("read %s: %w", p.metrics, err)
	}
	if found < 2 {
		return 0, 0, 0, fmt.Errorf("%s has no process_* series", p.metrics)
	}
	return cpu, rss, 0, nil
}

func (p *serverProbe) start() {
	cpu, rss, _, err := p.read()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: server usage unknown:", err)
		return
	}
	p.ok, p.cpu0, p.peak = true, cpu, rss
	p.stopc = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-t.C:
				if _, rss, _, err := p.read(); err == nil && rss > p.peak {
					p.peak = rss
				}
			}
		}
	}()
}

func (p *serverProbe) stop() *serverUsage {
	if !p.ok {
		return nil
	}
	close(p.stopc)
	p.wg.Wait()
	cpu, rss, peak, err := p.read()
	if err != nil {
		return nil
	}
	u := &serverUsage{Source: p.metrics, CPUSeconds: cpu - p.cpu0, RSSMB: rss, PeakRSSMB: max(p.peak, rss)}
	if p.pid > 0 {
		u.Source, u.PeakRSSMB = fmt.Sprintf("/proc/%d", p.pid), peak
	}
	return u
}

// procUsage reads utime+stime from /proc/PID/stat and VmRSS, VmHWM from
// /proc/PID/status.
func procUsage(pid int) (cpu, rss, peak float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// Fields after the command name (which may contain spaces): state is
	// field 3, utime 14 and stime 15 (proc(5)), in clock ticks of 1/100 s.
	rest := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(rest) < 13 {
		return 0, 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseFloat(rest[11], 64)
	st, _ := strconv.ParseFloat(rest[12], 64)
	cpu = (ut + st) / 100
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return cpu, rss, peak, nil
}
