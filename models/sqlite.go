package models

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"
)

// SQLite pool sizes: one writer (SQLite has a single write lock) and
// several readers (WAL readers never block nor wait for the writer).
const (
	sqliteWriters = 1
	// sqliteBusyTimeoutMS is how long a connection waits for a lock.
	sqliteBusyTimeoutMS = 10000
	sqliteReaders       = 8
)

// openSQLite opens SQLite as two pools behind one gorm handle: writes and
// transactions on a single connection, reads (SELECT outside a
// transaction) on a reader pool, routed by gorm's dbresolver. Writers
// queue in Go, where the next one is handed the connection as soon as it
// is free, instead of meeting SQLITE_BUSY and sleeping in SQLite's busy
// handler (1 ms, 2 ms, 5 ms … per retry): under load that backoff left
// the CPU idle and put p99 of a refresh at 150–200 ms. Readers are opened
// query_only, so a write that was misrouted fails loudly instead of
// contending for the lock.
func openSQLite(ctx context.Context, opts Options, cfg *gorm.Config, now func() time.Time) (*DB, error) {
	path, err := sqlitePath(opts.DSN, opts.DataDir)
	if err != nil {
		return nil, err
	}
	g, err := gorm.Open(sqlite.New(sqlite.Config{DriverName: writerDriverName(), DSN: sqliteDSN(path, false)}), cfg) // checkpoint.go
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	writer, err := g.DB()
	if err != nil {
		return nil, err
	}
	writer.SetMaxOpenConns(sqliteWriters)
	writer.SetMaxIdleConns(sqliteWriters)
	// The writer connection creates the file and switches it to WAL
	// before any reader opens it.
	if err := writer.PingContext(ctx); err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	reader, err := sql.Open("sqlite3", sqliteDSN(path, true))
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	reader.SetMaxOpenConns(sqliteReaders)
	reader.SetMaxIdleConns(sqliteReaders)
	reader.SetConnMaxIdleTime(5 * time.Minute)
	if err := g.Use(dbresolver.Register(dbresolver.Config{
		Replicas: []gorm.Dialector{sqlite.New(sqlite.Config{Conn: reader})},
	})); err != nil {
		_ = writer.Close()
		_ = reader.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	db, err := finishOpen(ctx, g, now, false, writer, reader)
	if err != nil {
		return nil, err
	}
	db.writer = writer
	if db.checkpoints, err = startCheckpointer(path, writer); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	// Yield after each statement outside a transaction that used the
	// writer (transactions yield in db.transaction).
	yield := func(d *gorm.DB) {
		if p, ok := d.Statement.ConnPool.(*sql.DB); ok && p == writer {
			runtime.Gosched()
		}
	}
	cb := g.Callback()
	for _, err := range []error{
		cb.Create().After("*").Register("latchkey:yield_writer", yield),
		cb.Update().After("*").Register("latchkey:yield_writer", yield),
		cb.Delete().After("*").Register("latchkey:yield_writer", yield),
		cb.Raw().After("*").Register("latchkey:yield_writer", yield),
		cb.Row().After("*").Register("latchkey:yield_writer", yield),
		cb.Query().After("*").Register("latchkey:yield_writer", yield),
	} {
		if err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return db, nil
}

// sqlitePath returns the database file of a SQLite DSN.
func sqlitePath(dsn, dataDir string) (string, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
	if path == "" {
		if dataDir == "" {
			dataDir = "data"
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return "", fmt.Errorf("create data dir: %w", err)
		}
		path = filepath.Join(dataDir, "latchkey.db")
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i] // our pragmas win; keep the DSN simple
	}
	return path, nil
}

// sqliteDSN builds the SQLite DSN with per-connection pragmas: WAL, a busy
// timeout (another process, such as a CLI command, may hold the write
// lock), foreign keys, synchronous=NORMAL (durable at checkpoints, safe
// with WAL), immediate write transactions (no deadlock on lock upgrade)
// and a cache of prepared statements (the hot paths run the same few
// statements; preparing them was 6% of a refresh's CPU).
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", strconv.Itoa(sqliteBusyTimeoutMS))
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	q.Set("_stmt_cache_size", "64")
	if readOnly {
		q.Set("_query_only", "true")
		q.Set("_txlock", "deferred")
	}
	return "file:" + path + "?" + q.Encode()
}
