// Package testserver is the shared part of the tests' harness for servers
// they start, in process or as a child `latchkey serve`: free loopback
// addresses (on internal/loopback), a log buffer child processes can write
// to, and waiting for /readyz. Only tests import it; the server binary
// links none of it (TestServerBinaryCarriesNoTestCode).
package testserver

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/loopback"
)

// FreeAddr returns a 127.0.0.1:PORT address that was free a moment ago,
// for a listener the test does not bind itself (a child process,
// Server.Run).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	addrs, err := loopback.FreeAddrs(1)
	if err != nil {
		tb.Fatal(err)
	}
	return addrs[0]
}

// Port is the port of a host:port address.
func Port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// WaitReady polls url (a /readyz) until it answers 200, for at most 20 s;
// it fails the test with logs() if the server never does, or if exited
// (may be nil) reports that the server process ended first.
func WaitReady(tb testing.TB, url string, exited <-chan error, logs func() string) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil { //nolint:gosec // the test's own loopback URL
			_ = resp.Body.Close() // only the status is checked
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			tb.Fatalf("server exited before it was ready (%v): %s", err, logOf(logs))
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s never became ready: %s", url, logOf(logs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func logOf(logs func() string) string {
	if logs == nil {
		return "(no log)"
	}
	return logs()
}

// SyncBuffer collects output written from other goroutines or a child
// process while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Printf writes a formatted line.
func (s *SyncBuffer) Printf(format string, args ...any) {
	_, _ = fmt.Fprintf(s, format+"\n", args...)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
