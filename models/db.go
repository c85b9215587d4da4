package models

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"golang.org/x/sync/errgroup"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"
)

//go:embed migrations
var migrationsFS embed.FS

// Options configure Open.
type Options struct {
	// DSN selects the database: empty for SQLite in DataDir/latchkey.db,
	// "postgres://…" or "postgresql://…" for Postgres, anything else is a
	// SQLite file path (optionally prefixed "sqlite:" or "file:").
	DSN     string
	DataDir string
	// Now is the clock used for every expiry decision; defaults to time.Now.
	Now func() time.Time
	// Logger receives GORM's logs; defaults to silent.
	Logger logger.Interface
}

// DB is the repository. It is safe for concurrent use.
type DB struct {
	gorm        *gorm.DB
	now         func() time.Time
	postgres    bool
	pools       []*sql.DB                         // every connection pool: Postgres; or SQLite writer, readers
	writer      *sql.DB                           // SQLite's writer pool; nil on Postgres
	checkpoints *checkpointer                     // SQLite's WAL checkpoints (checkpoint.go); nil on Postgres
	onAudit     atomic.Pointer[func(*AuditEvent)] // observe.go
}

// Open connects to the database described by opts. It does not migrate;
// call Migrate.
func Open(ctx context.Context, opts Options) (*DB, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	lg := opts.Logger
	if lg == nil {
		lg = logger.Discard
	}
	cfg := &gorm.Config{
		TranslateError:         true,
		Logger:                 lg,
		NowFunc:                func() time.Time { return now().UTC() },
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
	}
	if strings.HasPrefix(opts.DSN, "postgres://") || strings.HasPrefix(opts.DSN, "postgresql://") {
		cfg.DisableAutomaticPing = true // warmConnections connects instead
		g, err := gorm.Open(postgres.Open(opts.DSN), cfg)
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		sqlDB, err := g.DB()
		if err != nil {
			return nil, err
		}
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(8)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		if err := warmConnections(ctx, sqlDB, 2); err != nil {
			_ = sqlDB.Close() // reporting the connect error
			return nil, fmt.Errorf("connect to database: %w", err)
		}
		return finishOpen(ctx, g, now, true, sqlDB)
	}
	return openSQLite(ctx, opts, cfg, now)
}

// SQLite pool sizes: one writer (SQLite has a single write lock) and
// several readers (WAL readers never block nor wait for the writer).
const (
	sqliteWriters = 1
	sqliteReaders = 8
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
		_ = writer.Close() // reporting the connect error
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	reader, err := sql.Open("sqlite3", sqliteDSN(path, true))
	if err != nil {
		_ = writer.Close() // reporting the open error
		return nil, fmt.Errorf("open database: %w", err)
	}
	reader.SetMaxOpenConns(sqliteReaders)
	reader.SetMaxIdleConns(sqliteReaders)
	reader.SetConnMaxIdleTime(5 * time.Minute)
	if err := g.Use(dbresolver.Register(dbresolver.Config{
		Replicas: []gorm.Dialector{sqlite.New(sqlite.Config{Conn: reader})},
	})); err != nil {
		_ = writer.Close() // reporting the open error
		_ = reader.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	db, err := finishOpen(ctx, g, now, false, writer, reader)
	if err != nil {
		return nil, err
	}
	db.writer = writer
	if db.checkpoints, err = startCheckpointer(path); err != nil {
		_ = db.Close() // reporting the open error
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
			_ = db.Close() // reporting the registration error
			return nil, err
		}
	}
	return db, nil
}

// transaction runs fn in a write transaction. On SQLite it then yields
// the processor, like every statement on the writer: database/sql hands
// the freed writer connection to the next waiting goroutine, but only
// makes it runnable on this P, behind the goroutine that freed it, which
// would go on for hundreds of microseconds (signing, writing the
// response) while the connection — and so every writer — sits idle.
// Measured with 16 goroutines writing: 4,700–6,500 → 7,900–9,000 writes/s;
// under the flow load the writer pool's wait time was the bottleneck.
func (db *DB) transaction(ctx context.Context, fn func(tx *gorm.DB) error) error {
	err := db.ctx(ctx).Transaction(fn)
	if db.writer != nil {
		runtime.Gosched()
	}
	return err
}

// warmConnections opens n pooled connections at once and leaves them
// idle. Start-up needs two at the same time (Migrate's advisory lock holds
// one while the migrations run on another), and each new Postgres
// connection is a backend start plus a SCRAM exchange, 10 ms or more here;
// opened one after the other they were two such waits on the way to
// ready.
func warmConnections(ctx context.Context, pool *sql.DB, n int) error {
	conns := make([]*sql.Conn, n)
	var g errgroup.Group
	for i := range conns {
		g.Go(func() (err error) {
			if conns[i], err = pool.Conn(ctx); err != nil {
				return err
			}
			return conns[i].PingContext(ctx)
		})
	}
	err := g.Wait()
	for _, c := range conns {
		if c != nil {
			_ = c.Close() // back to the idle pool; a broken one is dropped
		}
	}
	return err
}

func finishOpen(ctx context.Context, g *gorm.DB, now func() time.Time, isPG bool, pools ...*sql.DB) (*DB, error) {
	for _, p := range pools {
		if err := p.PingContext(ctx); err != nil {
			for _, p := range pools {
				_ = p.Close() // reporting the ping error
			}
			return nil, fmt.Errorf("connect to database: %w", err)
		}
	}
	return &DB{gorm: g, now: now, postgres: isPG, pools: pools}, nil
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
	q.Set("_busy_timeout", "10000")
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

// Migrate applies the embedded versioned migrations for the current
// dialect. It is safe to run while other instances are serving.
//
// Each Postgres migration's Up section is one goose statement block
// (StatementBegin/End): goose sends it as one query, which pgx runs in the
// simple protocol, instead of one round trip per statement. A first start
// on an empty schema spent ~50 ms on those round trips (59 statements);
// seven alternating first starts: median 293 → 237 ms from exec to ready.
// TestPostgresMigrationsAreOneBlock keeps new migrations that way.
func (db *DB) Migrate(ctx context.Context) error {
	dialect, dir := goose.DialectSQLite3, "migrations/sqlite"
	if db.postgres {
		dialect, dir = goose.DialectPostgres, "migrations/postgres"
	}
	sub, err := fs.Sub(migrationsFS, dir)
	if err != nil {
		return err
	}
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return err
	}
	var opts []goose.ProviderOption
	if db.postgres {
		// Instances starting together migrate one at a time (lease.go).
		opts = append(opts, goose.WithSessionLocker(pgMigrationLocker{}))
	}
	p, err := goose.NewProvider(dialect, sqlDB, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		if db.postgres {
			if serr := db.checkSearchPath(ctx, err); serr != nil {
				return serr
			}
		}
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// checkSearchPath explains the commonest reason a Postgres migration fails
// on a new database: the DSN's search_path names no schema that exists
// (or that the role may use), so there is nowhere to create the tables and
// goose reports only that its version table is missing. Called after a
// failure, so a good start pays nothing for it.
func (db *DB) checkSearchPath(ctx context.Context, migrateErr error) error {
	var path string
	var schema sql.NullString
	err := db.gorm.WithContext(ctx).Raw("SELECT current_setting('search_path'), current_schema()").Row().Scan(&path, &schema)
	if err != nil || schema.Valid {
		return nil //nolint:nilerr // a failed probe is not the cause; the caller reports goose's error
	}
	return fmt.Errorf("apply migrations: the database's search_path (%s) names no schema that exists and this role may use; create it (CREATE SCHEMA …) or fix search_path in the DSN (--database, LATCHKEY_DATABASE): %w", path, migrateErr)
}

// Fresh reports whether the database has never been migrated (a first
// start), before Migrate runs.
func (db *DB) Fresh(ctx context.Context) (bool, error) {
	q := "SELECT COUNT(*) = 0 FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'"
	if db.postgres {
		q = "SELECT to_regclass('goose_db_version') IS NULL"
	}
	var fresh bool
	err := db.gorm.WithContext(ctx).Raw(q).Row().Scan(&fresh)
	return fresh, err
}

// Close closes the connection pools.
func (db *DB) Close() error {
	var errs []error
	if db.checkpoints != nil {
		errs = append(errs, db.checkpoints.close())
	}
	for _, p := range db.pools {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// Ping reports whether the database answers on every pool.
func (db *DB) Ping(ctx context.Context) error {
	for _, p := range db.pools {
		if err := p.PingContext(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Pools returns each connection pool by name, for pool metrics:
// "postgres", or "sqlite_writer" and "sqlite_reader".
func (db *DB) Pools() map[string]*sql.DB {
	if db.postgres {
		return map[string]*sql.DB{"postgres": db.pools[0]}
	}
	return map[string]*sql.DB{"sqlite_writer": db.pools[0], "sqlite_reader": db.pools[1]}
}

// Now returns the repository's clock, in UTC.
func (db *DB) Now() time.Time { return db.now().UTC() }

// IsPostgres reports whether the backend is Postgres.
func (db *DB) IsPostgres() bool { return db.postgres }

// Gorm exposes the underlying handle for tests that inspect raw rows.
func (db *DB) Gorm() *gorm.DB { return db.gorm }

func (db *DB) ctx(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx.WithContext(ctx)
	}
	return db.gorm.WithContext(ctx)
}

type txKey struct{}

// InTx runs fn with a context whose repository calls all run in one
// transaction, committed when fn returns nil and rolled back otherwise
// (an InTx inside another joins it). It lets a handler make several
// writes of different layers atomically and with one commit: on SQLite
// every commit takes the single writer, so a sign-in that wrote its
// session, auth request and audit event in three commits now takes one.
// fn must not use the context after it returns.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(ctx)
	}
	return db.transaction(ctx, func(tx *gorm.DB) error {
		return fn(context.WithValue(ctx, txKey{}, tx))
	})
}

// StringList is a []string stored as a JSON array in a TEXT column.
//
// Scopes, audiences, AMR values and redirect URIs are plain ASCII, and a
// sign-in flow reads some thirty such lists; encoding/json's reflection
// took 2 % of the server's CPU for them. Lists whose strings are printable
// ASCII with nothing to escape are read and written directly; anything
// else goes through encoding/json. FuzzStringList holds both ways to the
// same result.
type StringList []string

// plainJSONString reports whether s needs no escaping in a JSON string,
// not even encoding/json's HTML escaping of <, > and &.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	n := 2
	for _, s := range l {
		if !plainJSONString(s) {
			b, err := json.Marshal([]string(l))
			return string(b), err
		}
		n += len(s) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	return string(append(b, ']')), nil
}

// Scan implements sql.Scanner.
func (l *StringList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*l = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("StringList: cannot scan %T", src)
	}
	if len(b) == 0 {
		*l = nil
		return nil
	}
	if list, ok := parsePlainList(b); ok {
		*l = list
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// parsePlainList parses the form Value writes — [] or ["a","b"] with no
// whitespace and strings that plainJSONString accepts; ok is false for
// anything else, which the caller leaves to encoding/json.
func parsePlainList(b []byte) (list []string, ok bool) {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, false
	}
	body := b[1 : len(b)-1]
	if len(body) == 0 {
		return []string{}, true
	}
	list = make([]string, 0, bytes.Count(body, []byte{','})+1)
	for {
		if len(body) < 2 || body[0] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(body[1:], '"') + 1
		if end == 0 {
			return nil, false
		}
		s := string(body[1:end])
		if !plainJSONString(s) {
			return nil, false
		}
		list = append(list, s)
		body = body[end+1:]
		if len(body) == 0 {
			return list, true
		}
		if body[0] != ',' {
			return nil, false
		}
		body = body[1:]
	}
}

// Contains reports whether s is in the list.
func (l StringList) Contains(s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// JSONMap is a map stored as a JSON object in a TEXT column.
type JSONMap map[string]any

// Value implements driver.Valuer.
func (m JSONMap) Value() (driver.Value, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(m))
	return string(b), err
}

// Scan implements sql.Scanner.
func (m *JSONMap) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*m = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("JSONMap: cannot scan %T", src)
	}
	if len(b) == 0 {
		*m = nil
		return nil
	}
	return json.Unmarshal(b, (*map[string]any)(m))
}
