package models

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackupSQLiteWhileWriting: a backup taken while another connection
// keeps committing is an intact snapshot, restores into a new place, and
// carries the master key's fingerprint but not the key.
func TestBackupSQLiteWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := NewMasterKey()
	if err := db.CheckMasterKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := db.Audit(ctx, &AuditEvent{Type: "test", Success: true}); err != nil {
				done <- err
				return
			}
			written.Add(1)
		}
	}()
	for written.Load() < 200 {
		time.Sleep(5 * time.Millisecond)
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	if err := BackupSQLite(ctx, filepath.Join(dir, "latchkey.db"), out); err != nil {
		t.Fatal(err)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := BackupSQLite(ctx, filepath.Join(dir, "latchkey.db"), out); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second backup to the same file: %v", err)
	}
	raw, _ := os.ReadFile(out) //nolint:gosec // G304: test file
	if strings.Contains(string(raw), strings.TrimSpace(EncodeMasterKey(key))) {
		t.Fatal("the backup holds the master key")
	}
	target := filepath.Join(t.TempDir(), "new", "latchkey.db")
	fp, err := RestoreSQLite(ctx, out, target)
	if err != nil || fp != MasterKeyFingerprint(key) {
		t.Fatalf("restore: %q %v", fp, err)
	}
	restored, err := Open(ctx, Options{DSN: target})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = restored.Close() }()
	var n int64
	if err := restored.Gorm().Table("audit_events").Count(&n).Error; err != nil || n < 200 || n > written.Load() {
		t.Fatalf("restored %d audit events of %d written (%v)", n, written.Load(), err)
	}
	if err := restored.CheckMasterKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreSQLite(ctx, out, target); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("restore over a database: %v", err)
	}
}

// TestRestoreRefusesBadFiles: a file that is not an intact Latchkey
// database is refused and nothing is left at the target.
func TestRestoreRefusesBadFiles(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	good := filepath.Join(tmp, "good.db")
	src, err := Open(ctx, Options{DataDir: filepath.Join(tmp, "data")})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_ = src.Close()
	if err := BackupSQLite(ctx, filepath.Join(tmp, "data", "latchkey.db"), good); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good) //nolint:gosec // G304: test file
	corrupt := append([]byte{}, raw...)
	for i := 4096; i < len(corrupt) && i < 4096*6; i++ { // the pages after the header
		corrupt[i] ^= 0x5a
	}
	files := map[string][]byte{
		"empty":     {},
		"text":      []byte("hello, this is not a database\n"),
		"truncated": raw[:len(raw)/2],
		"corrupt":   corrupt,
	}
	other := filepath.Join(tmp, "other.db")
	if o, err := Open(ctx, Options{DSN: other}); err == nil { // a SQLite database that is not Latchkey's
		_ = o.Gorm().Exec("CREATE TABLE notes (x TEXT)").Error
		_ = o.Close()
	}
	files["other sqlite"], _ = os.ReadFile(other) //nolint:gosec // G304: test file
	for name, b := range files {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "in.db")
			if err := os.WriteFile(src, b, 0o600); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), "data", "latchkey.db")
			if _, err := RestoreSQLite(ctx, src, target); err == nil {
				t.Fatal("restored")
			}
			entries, _ := os.ReadDir(filepath.Dir(target))
			if len(entries) != 0 {
				t.Fatalf("left behind: %v", entries)
			}
		})
	}
}
