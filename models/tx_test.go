package models

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// InTx makes the writes of several repository calls one transaction: all
// of them commit together, none survive an error, and an inner InTx
// joins the outer one.
func TestInTx(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	count := func(typ string) int {
		t.Helper()
		evs, err := db.AuditEvents(ctx, AuditFilter{Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	u := &User{Username: "tx", Email: "tx@example.com"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := db.InTx(ctx, func(tx *DB) error {
		if err := tx.Audit(ctx, &AuditEvent{Type: "tx_rolled_back"}); err != nil {
			return err
		}
		// A hand-written statement (raw.go) runs in the transaction too.
		if _, err := tx.CreateSession(ctx, &Session{ID: "rolled-back", UserID: u.ID, AuthTime: tx.Now()}, time.Hour); err != nil {
			return err
		}
		return tx.InTx(ctx, func(inner *DB) error { // joins
			if err := inner.Audit(ctx, &AuditEvent{Type: "tx_rolled_back"}); err != nil {
				return err
			}
			return boom
		})
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want the function's error", err)
	}
	if n := count("tx_rolled_back"); n != 0 {
		t.Fatalf("%d events survived the rollback", n)
	}
	if _, err := db.SessionByID(ctx, "rolled-back"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the rolled-back session: %v, want ErrNotFound", err)
	}
	err = db.InTx(ctx, func(tx *DB) error {
		for i := 0; i < 2; i++ {
			if err := tx.Audit(ctx, &AuditEvent{Type: "tx_committed"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count("tx_committed"); n != 2 {
		t.Fatalf("%d events committed, want 2", n)
	}
}

// Fresh is true before the first migration and false after it.
func TestFresh(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, Options{DSN: dbtest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(t, db)
	if fresh, err := db.Fresh(ctx); err != nil || !fresh {
		t.Fatalf("Fresh before Migrate = %v, %v; want true", fresh, err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if fresh, err := db.Fresh(ctx); err != nil || fresh {
		t.Fatalf("Fresh after Migrate = %v, %v; want false", fresh, err)
	}
}
