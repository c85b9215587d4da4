package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Backups of a SQLite installation (issue 20): a consistent snapshot of a
// database that may be serving, and its restore into a new data
// directory. A backup holds what the database holds — the master key's
// fingerprint, never the key — so a copied backup is as worthless as a
// copied data directory.

// ErrPostgresBackup is returned for a Postgres DSN: backup and restore
// handle SQLite; a Postgres database is backed up with pg_dump and restored with pg_restore.
var ErrPostgresBackup = errors.New("the database is Postgres: back it up with pg_dump -Fc and restore with pg_restore (README, Backups)")

// IsPostgresDSN reports whether dsn names a Postgres database.
func IsPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// SQLiteFile returns the path of the SQLite database of dsn or dataDir
// (as Open picks it) without creating anything.
func SQLiteFile(dsn, dataDir string) (string, error) {
	if IsPostgresDSN(dsn) {
		return "", ErrPostgresBackup
	}
	path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
	if path == "" {
		if dataDir == "" {
			dataDir = "data"
		}
		path = filepath.Join(dataDir, "latchkey.db")
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return path, nil
}

// BackupSQLite writes a consistent snapshot of the SQLite database at
// dbPath to out with VACUUM INTO, which reads one transaction's view while
// the server goes on writing (WAL readers do not block writers). out must
// not exist: the snapshot is made in a temporary file next to it, synced,
// and linked into place, so out is complete or absent and never replaced.
func BackupSQLite(ctx context.Context, dbPath, out string) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("backup file %s already exists; choose a new name", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup file: %w", err)
	}
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("no database to back up: %w", err)
	}
	if err := checkLatchkeyDB(ctx, dbPath, true); err != nil {
		return fmt.Errorf("%s: %w", dbPath, err)
	}
	dir := filepath.Dir(out)
	tmp, err := os.CreateTemp(dir, ".latchkey-backup-*.db")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmpName := tmp.Name()
	defer func() { _ = os.Remove(tmpName) }()
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// Not query_only: SQLite counts VACUUM INTO as a write although it
	// only reads this database.
	conn, err := sql.Open("sqlite3", sqliteDSN(dbPath, false))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() { _ = conn.Close() }()
	// VACUUM INTO accepts an existing empty file.
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", tmpName); err != nil {
		return fmt.Errorf("snapshot database: %w", err)
	}
	if err := syncFile(tmpName); err != nil {
		return err
	}
	if err := os.Link(tmpName, out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return syncDir(dir)
}

// RestoreSQLite copies the backup file into place as the database at
// dbPath, which must not exist, after checking that the copy is an intact
// Latchkey database (PRAGMA integrity_check, the migration table, no
// migration newer than this binary's). It returns the fingerprint of the
// master key the backup was sealed with ("" if none is stored). On any
// error nothing is left at dbPath.
func RestoreSQLite(ctx context.Context, backup, dbPath string) (string, error) {
	if _, err := os.Lstat(dbPath); err == nil {
		return "", fmt.Errorf("a database already exists at %s; restore only into an empty data directory", dbPath)
	}
	src, err := os.Open(backup) //nolint:gosec // G304: the operator names the backup to restore
	if err != nil {
		return "", fmt.Errorf("open backup: %w", err)
	}
	defer func() { _ = src.Close() }()
	dir := filepath.Dir(dbPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".latchkey-restore-*.db")
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		for _, p := range []string{tmpName, tmpName + "-wal", tmpName + "-shm", tmpName + "-journal"} {
			_ = os.Remove(p)
		}
	}()
	_, err = io.Copy(tmp, src)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("copy backup: %w", err)
	}
	if err := checkLatchkeyDB(ctx, tmpName, false); err != nil {
		return "", fmt.Errorf("%s is not a usable Latchkey backup: %w", backup, err)
	}
	fp, err := storedFingerprint(ctx, tmpName)
	if err != nil {
		return "", fmt.Errorf("%s is not a usable Latchkey backup: %w", backup, err)
	}
	if err := os.Link(tmpName, dbPath); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	return fp, syncDir(dir)
}

// checkLatchkeyDB opens the SQLite file at path and checks it is intact
// and migrated by Latchkey, to no version newer than this binary knows.
// quick runs quick_check instead of the full integrity_check (for the
// live database, which backup only reads).
func checkLatchkeyDB(ctx context.Context, path string, quick bool) error {
	conn, err := sql.Open("sqlite3", "file:"+path+"?_query_only=true")
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	pragma := "PRAGMA integrity_check"
	if quick {
		pragma = "PRAGMA quick_check"
	}
	var res string
	if err := conn.QueryRowContext(ctx, pragma).Scan(&res); err != nil {
		return fmt.Errorf("not a SQLite database: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check failed: %s", res)
	}
	var version sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT MAX(version_id) FROM goose_db_version").Scan(&version); err != nil || !version.Valid {
		return errors.New("not a Latchkey database (no migration table)")
	}
	latest, err := latestMigration()
	if err != nil {
		return err
	}
	if version.Int64 > latest {
		return fmt.Errorf("made by a newer Latchkey (migration %d; this binary knows %d)", version.Int64, latest)
	}
	var tables int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('users', 'signing_keys', 'secrets')").Scan(&tables); err != nil || tables != 3 {
		return errors.New("not a Latchkey database (tables missing)")
	}
	return nil
}

// storedFingerprint reads the master key fingerprint of the SQLite file
// at path ("" when the backup predates the settings table or has none).
func storedFingerprint(ctx context.Context, path string) (string, error) {
	conn, err := sql.Open("sqlite3", "file:"+path+"?_query_only=true")
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	var fp string
	err = conn.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", SettingMasterKeyFingerprint).Scan(&fp)
	if err != nil && !errors.Is(err, sql.ErrNoRows) && !strings.Contains(err.Error(), "no such table") {
		return "", err
	}
	return fp, nil
}

// latestMigration is the highest SQLite migration version embedded.
func latestMigration() (int64, error) {
	entries, err := fs.ReadDir(migrationsFS, "migrations/sqlite")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, e := range entries {
		var v int64
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0) //nolint:gosec // G304: a file we just wrote
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
