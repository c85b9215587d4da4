package models

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// On SQLite the writer never checkpoints; the background checkpointer
// copies the WAL into the database file while writes go on, and the data
// is all there after a reopen.
func TestBackgroundCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var auto int
	if err := db.writer.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("writer's wal_autocheckpoint = %d (%v), want 0", auto, err)
	}
	var readerAuto int
	if err := db.pools[1].QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&readerAuto); err != nil || readerAuto != 1000 {
		t.Fatalf("other connections' wal_autocheckpoint = %d (%v), want SQLite's default", readerAuto, err)
	}
	const events = 400
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < events || db.checkpoints.ran.Load() == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no background checkpoint after %d commits", i)
		}
		if err := db.Audit(ctx, &AuditEvent{Type: "test", Detail: JSONMap{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "latchkey.db-wal")); !os.IsNotExist(err) {
		t.Errorf("WAL left behind after close: %v", err)
	}
	db, err = Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(t, db)
	evs, err := db.AuditEvents(ctx, AuditFilter{Type: "test", Limit: 1000})
	if err != nil || len(evs) < events {
		t.Fatalf("after reopening: %d events (%v), want %d", len(evs), err, events)
	}
}
