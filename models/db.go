package models

import (
	"context"
	"database/sql/driver"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
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
	gorm     *gorm.DB
	now      func() time.Time
	postgres bool
	onAudit  atomic.Pointer[func(*AuditEvent)] // observe.go
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
	var (
		dialector gorm.Dialector
		isPG      bool
	)
	switch {
	case strings.HasPrefix(opts.DSN, "postgres://"), strings.HasPrefix(opts.DSN, "postgresql://"):
		dialector, isPG = postgres.Open(opts.DSN), true
	default:
		dsn, err := sqliteDSN(opts.DSN, opts.DataDir)
		if err != nil {
			return nil, err
		}
		dialector = sqlite.Open(dsn)
	}
	g, err := gorm.Open(dialector, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	if isPG {
		sqlDB.SetMaxOpenConns(20)
	} else {
		// One writer at a time is SQLite's model; a small pool lets readers
		// proceed in WAL mode while _txlock=immediate serialises writers.
		sqlDB.SetMaxOpenConns(8)
	}
	sqlDB.SetMaxIdleConns(8)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &DB{gorm: g, now: now, postgres: isPG}, nil
}

// sqliteDSN builds the SQLite DSN with per-connection pragmas: WAL, a busy
// timeout, foreign keys, synchronous=NORMAL (safe with WAL) and immediate
// write transactions (no deadlock on lock upgrade).
func sqliteDSN(dsn, dataDir string) (string, error) {
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
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode(), nil
}

// Migrate applies the embedded versioned migrations for the current
// dialect. It is safe to run while other instances are serving.
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
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Close closes the connection pool.
func (db *DB) Close() error {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Now returns the repository's clock, in UTC.
func (db *DB) Now() time.Time { return db.now().UTC() }

// IsPostgres reports whether the backend is Postgres.
func (db *DB) IsPostgres() bool { return db.postgres }

// Gorm exposes the underlying handle for tests that inspect raw rows.
func (db *DB) Gorm() *gorm.DB { return db.gorm }

func (db *DB) ctx(ctx context.Context) *gorm.DB { return db.gorm.WithContext(ctx) }

// StringList is a []string stored as a JSON array in a TEXT column.
type StringList []string

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
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
	return json.Unmarshal(b, (*[]string)(l))
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

// errNoRows is returned by guarded updates that matched nothing.
var errNoRows = errors.New("no rows")
