package models

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
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

// TestWALStaysSmall: under constant writes with readers always active the
// WAL stays far below 64 MB (the TRUNCATE checkpoints past
// checkpointForce pages), and when the writes stop it goes back to a few
// MB without any new commit. About 128 MB of WAL frames are written: with
// PASSIVE checkpoints alone the WAL would hold them all.
func TestWALStaysSmall(t *testing.T) {
	if dbtest.OnPostgres() {
		t.Skip("SQLite's WAL: the SQLite run of this package covers it")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(t, db)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	wal := filepath.Join(dir, "latchkey.db-wal")
	size := func() int64 {
		fi, err := os.Stat(wal)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() { // sample the WAL's size
		defer close(sampled)
		for ctx.Err() == nil {
			if s := size(); s > peak.Load() {
				peak.Store(s)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	for range 2 { // readers that never stop
		go func() {
			for ctx.Err() == nil {
				_, _ = db.AuditEvents(ctx, AuditFilter{Limit: 5})
			}
		}()
	}
	detail := JSONMap{"pad": strings.Repeat("x", 3000)}
	written := int64(0)
	for i := 0; written < 128<<20; i++ {
		if err := db.Audit(ctx, &AuditEvent{Type: "load", Detail: detail}); err != nil {
			t.Fatal(err)
		}
		written += 2 * 4096 // at least a table page and an index page per commit
	}
	loaded := size()
	deadline := time.Now().Add(10 * time.Second)
	for size() > walSizeLimit && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	idle := size()
	cancel()
	<-sampled
	t.Logf("WAL: peak %.1f MB under load, %.1f MB when the writes stopped, %.1f MB idle", float64(peak.Load())/(1<<20), float64(loaded)/(1<<20), float64(idle)/(1<<20))
	if peak.Load() >= 64<<20 {
		t.Errorf("WAL reached %d bytes under load, want < 64 MB", peak.Load())
	}
	if idle > walSizeLimit {
		t.Errorf("WAL is %d bytes 10 s after the writes stopped, want <= %d", idle, walSizeLimit)
	}
}
