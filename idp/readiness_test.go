package idp

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
	"github.com/latchkey-idp/latchkey/models"
)

// TestReadyzFollowsWrites: /readyz fails while the database cannot store
// data and comes back by itself when it can, and
// latchkey_database_write_errors_total counts the failures. The database
// fills up as on a small file system: SQLite's max_page_count, set on the
// server's only writer connection, makes every write that needs a new page
// fail with SQLITE_FULL ("database or disk is full"), the error a full disk
// gives, without a root-only mount. A read-only database is
// PRAGMA query_only (SQLITE_READONLY).
func TestReadyzFollowsWrites(t *testing.T) {
	if dbtest.OnPostgres() {
		t.Fatal("this test drives SQLite pragmas; it is not rerun on Postgres")
	}
	app := newTestApp(t)
	ctx := context.Background()
	writer := app.db.Pools()["sqlite_writer"]
	pragma := func(q string) {
		t.Helper()
		if _, err := writer.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	ready := func(want int, what string) {
		t.Helper()
		code, body := app.scrape("/readyz")
		if code != want {
			t.Fatalf("%s: /readyz = %d %s, want %d", what, code, body, want)
		}
	}
	writeErrors := func() float64 {
		t.Helper()
		_, body := app.scrape("/metrics")
		v, ok := metricValue(body, "latchkey_database_write_errors_total")
		if !ok {
			t.Fatal("no latchkey_database_write_errors_total in /metrics")
		}
		return v
	}
	ready(http.StatusOK, "fresh")
	if writeErrors() != 0 {
		t.Fatal("write errors before any failure")
	}

	// Fill the database: no page beyond the current ones.
	var pages int
	if err := writer.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	pragma(fmt.Sprintf("PRAGMA max_page_count = %d", pages))
	var full error
	for i := 0; i < 20000 && full == nil; i++ {
		full = app.db.CreateUser(ctx, &models.User{Username: fmt.Sprintf("filler%05d", i), Email: fmt.Sprintf("f%d@example.com", i),
			DisplayName: strings.Repeat("x", 128)})
	}
	if full == nil || !strings.Contains(full.Error(), "full") {
		t.Fatalf("the database did not fill up: %v", full)
	}
	ready(http.StatusServiceUnavailable, "database full")
	if code, body := app.scrape("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "writes") {
		t.Fatalf("/readyz body %q does not say why", body)
	}
	if n := writeErrors(); n < 1 {
		t.Fatalf("write errors = %v after a full database", n)
	}
	// Still full: a sign-in's writes fail again and keep it unready.
	app.clock.Advance(models.WriteFailureHold - time.Second)
	if err := app.db.CreateUser(ctx, &models.User{Username: "one-more", Email: "m@example.com", DisplayName: strings.Repeat("y", 128)}); err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("a write on the full database: %v, want a full-database error", err)
	}
	app.clock.Advance(2 * time.Second)
	ready(http.StatusServiceUnavailable, "still full")

	// Space again (the operator freed the disk): ready without a restart.
	pragma("PRAGMA max_page_count = 1073741823")
	if err := app.db.CreateUser(ctx, &models.User{Username: "after", Email: "after@example.com"}); err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
	app.clock.Advance(models.WriteFailureHold)
	ready(http.StatusOK, "space freed")

	// A read-only database is seen by the probe write alone, without traffic.
	before := writeErrors()
	pragma("PRAGMA query_only = ON")
	app.clock.Advance(2 * time.Second) // past the probe's one-second cache
	ready(http.StatusServiceUnavailable, "read-only")
	if writeErrors() <= before {
		t.Fatal("the failed probe write was not counted")
	}
	pragma("PRAGMA query_only = OFF")
	app.clock.Advance(models.WriteFailureHold)
	ready(http.StatusOK, "writable again")
}
