// Package dbtest gives tests a fresh, empty database on either backend, so
// the same storage and end-to-end tests prove SQLite and Postgres alike.
//
// SQLite is always tested. Postgres is tested when LATCHKEY_TEST_POSTGRES
// holds a DSN (a role that may CREATE SCHEMA in that database): each test
// package has one test that calls RerunOnPostgres, which runs the package's
// test binary again with LATCHKEY_TEST_BACKEND=postgres; in that child DSN
// returns a fresh Postgres schema per call instead of a SQLite file. Without
// the DSN the Postgres run skips locally and fails when CI=true.
//
// It imports only the standard library and pgx (for CREATE/DROP SCHEMA); it
// must not import project packages, so models' own tests can use it.
package dbtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

const (
	// EnvPostgres names the variable holding the Postgres DSN for tests.
	EnvPostgres = "LATCHKEY_TEST_POSTGRES"
	// envBackend is set to "postgres" in the child test process.
	envBackend = "LATCHKEY_TEST_BACKEND"
)

// OnPostgres reports whether this test process runs against Postgres.
func OnPostgres() bool { return os.Getenv(envBackend) == "postgres" }

// Backend names the backend of this test process ("sqlite" or "postgres").
func Backend() string {
	if OnPostgres() {
		return "postgres"
	}
	return "sqlite"
}

// DSN returns the DSN of a fresh, empty database for t: a SQLite file in
// t.TempDir(), or in the Postgres child a new schema dropped at cleanup.
func DSN(t testing.TB) string {
	t.Helper()
	if OnPostgres() {
		return PostgresDSN(t)
	}
	return filepath.Join(t.TempDir(), "latchkey.db")
}

// BaseDSN returns LATCHKEY_TEST_POSTGRES, skipping t when it is empty —
// or failing it when CI=true, because a skipped backend proves nothing.
func BaseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgres)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must test the Postgres backend (.ci/run starts one)", EnvPostgres)
		}
		t.Skipf("%s not set: Postgres variant skipped (set it to a postgres:// DSN to run it)", EnvPostgres)
	}
	return dsn
}

var (
	adminOnce sync.Once
	adminDB   *sql.DB
	adminErr  error
)

func admin(dsn string) (*sql.DB, error) {
	adminOnce.Do(func() {
		adminDB, adminErr = sql.Open("pgx", dsn)
		if adminErr == nil {
			adminDB.SetMaxOpenConns(2)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			adminErr = adminDB.PingContext(ctx)
		}
	})
	return adminDB, adminErr
}

// PostgresDSN creates a uniquely named schema in the LATCHKEY_TEST_POSTGRES
// database and returns a DSN whose search_path is that schema, so every
// table (and goose's version table) lands in it. The schema is dropped at
// cleanup. Several handles opened on the same DSN share the schema, which
// is how the multi-instance tests put two servers on one database.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := BaseDSN(t)
	db, err := admin(base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvPostgres, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "lk_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// RerunOnPostgres runs this package's tests matching run (a -test.run
// pattern; empty for all) again in a child process on Postgres, and fails t
// if any fails. It is a no-op inside that child. The child gets the
// parent's -v, -short, -failfast and -timeout; its output is logged on
// failure (and always with -v).
func RerunOnPostgres(t *testing.T, run string) {
	t.Helper()
	if OnPostgres() {
		t.Skip("already running on Postgres")
	}
	base := BaseDSN(t)
	t.Parallel() // overlaps with the SQLite tests of the parent process
	args := []string{"-test.count=1"}
	if run != "" {
		args = append(args, "-test.run="+run)
	}
	for _, name := range []string{"test.v", "test.short", "test.failfast", "test.timeout"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != f.DefValue {
			args = append(args, "-"+name+"="+f.Value.String())
		}
	}
	cmd := exec.Command(os.Args[0], args...) //nolint:gosec // G204: re-runs this test binary with its own flags
	cmd.Env = append(os.Environ(), envBackend+"=postgres", EnvPostgres+"="+base)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if err != nil || testing.Verbose() {
		t.Logf("tests on Postgres (%s, %s):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), out.String())
	}
	if err != nil {
		t.Fatalf("tests on Postgres failed: %v", err)
	}
	if !bytes.Contains(out.Bytes(), []byte("PASS")) {
		t.Fatalf("tests on Postgres printed no PASS:\n%s", out.String())
	}
}
