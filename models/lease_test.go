package models

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

func TestLeaseOneHolderAtATime(t *testing.T) {
	db, clock := newTestDB(t)
	ctx := context.Background()
	acquire := func(holder string, want bool) {
		t.Helper()
		got, err := db.AcquireLease(ctx, "cleanup", holder, time.Minute)
		if err != nil || got != want {
			t.Fatalf("AcquireLease(%s) = %v, %v; want %v", holder, got, err, want)
		}
	}
	acquire("a", true)
	acquire("b", false) // held by a
	acquire("a", false) // held, even by a: one run per lease
	if h, _ := db.LeaseHolder(ctx, "cleanup"); h != "a" {
		t.Fatalf("holder = %q, want a", h)
	}
	clock.Advance(59 * time.Second)
	acquire("b", false)
	clock.Advance(time.Second) // expired at t0+1m
	acquire("b", true)
	acquire("a", false)
	if err := db.ReleaseLease(ctx, "cleanup", "a"); err != nil { // not a's any more: no effect
		t.Fatal(err)
	}
	acquire("a", false)
	if err := db.ReleaseLease(ctx, "cleanup", "b"); err != nil {
		t.Fatal(err)
	}
	acquire("a", true)
	if ok, err := db.AcquireLease(ctx, "other", "b", time.Minute); err != nil || !ok {
		t.Fatalf("leases are independent by name: %v %v", ok, err)
	}
}

// TestLeaseRace: holders racing for a free lease; exactly one wins.
func TestLeaseRace(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ok, err := db.AcquireLease(ctx, "rotate", string(rune('a'+i)), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d holders won the lease, want exactly 1", wins.Load())
	}
}

// TestMigrateConcurrently: instances starting together on one Postgres
// database migrate one at a time (advisory lock) and all succeed.
func TestMigrateConcurrently(t *testing.T) {
	if !dbtest.OnPostgres() {
		t.Skip("Postgres only: one process owns a SQLite file")
	}
	dsn := dbtest.DSN(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		db, err := Open(ctx, Options{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeDB(t, db) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.Migrate(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}
