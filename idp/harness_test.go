package idp

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/testserver"

	"github.com/latchkey-idp/latchkey/internal/loopback"

	"github.com/latchkey-idp/latchkey/models"
)

// The one harness that starts servers for the tests of this package:
// listenLoopback and serveOn (an in-process handler on a loopback port,
// reachable as http://localhost:PORT), freeAddr (an address for a listener
// someone else binds: Server.Run, a child process), openTestDB and
// testConfig. newTestApp, newAdminApp, runServer, newCluster and the
// callback pages of the browser tests are built on them.

// listenLoopback binds 127.0.0.1:0 and returns the listener with its URL
// as http://localhost:PORT (WebAuthn refuses IP addresses as RP IDs).
func listenLoopback(t testing.TB) (net.Listener, string) {
	t.Helper()
	ln, u, err := loopback.Listen()
	if err != nil {
		t.Fatal(err)
	}
	return ln, u
}

// serveOn serves h on ln until the test ends.
func serveOn(t testing.TB, ln net.Listener, h http.Handler) *httptest.Server {
	t.Helper()
	hs := httptest.NewUnstartedServer(h)
	if err := hs.Listener.Close(); err != nil { // the listener ln replaces
		t.Fatal(err)
	}
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return hs
}

// serveLoopback serves h on a new loopback port and returns its
// http://localhost:PORT URL.
func serveLoopback(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, u := listenLoopback(t)
	serveOn(t, ln, h)
	return u
}

// freeAddr returns a 127.0.0.1:PORT address that was free a moment ago,
// for a listener this test does not bind itself.
func freeAddr(t testing.TB) string {
	t.Helper()
	return testserver.FreeAddr(t)
}

// freePort is freeAddr's port.
func freePort(t testing.TB) int {
	t.Helper()
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// openTestDB opens and migrates the database at dsn (dbtest.DSN or
// dbtest.PostgresDSN) with the clock now (nil: real time), and returns it
// with the test master key. It is closed when the test ends.
func openTestDB(t testing.TB, dsn string, now func() time.Time) (*models.DB, *models.Sealer) {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, models.Options{DSN: dsn, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close the database: %v", err)
		}
	})
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sealer, err := models.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return db, sealer
}

// testConfig is the configuration of a test server for issuer: warnings
// and errors logged to the test, the clock now (nil: real time).
func testConfig(t testing.TB, issuer string, now func() time.Time) Config {
	return Config{Issuer: issuer, Listen: "127.0.0.1:0", InternalListen: "127.0.0.1:1", Now: now,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
}
