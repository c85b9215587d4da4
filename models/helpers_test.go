package models

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// closeDB closes db at the end of a test, failing it if Close fails.
func closeDB(tb testing.TB, db *DB) {
	tb.Helper()
	if err := db.Close(); err != nil {
		tb.Error(err)
	}
}

func newTestDB(t *testing.T) (*DB, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	db, err := Open(context.Background(), Options{DSN: dbtest.DSN(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeDB(t, db) })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, clock
}
