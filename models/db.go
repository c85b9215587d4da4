package models

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"golang.org/x/sync/errgroup"
	"gorm.io/driver/postgres"
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

// DB is the repository: the connection every aggregate store shares, plus
// one store per aggregate (store.go). It is safe for concurrent use.
type DB struct {
	*conn
	UserStore
	CredentialStore
	CeremonyStore
	ClientStore
	GrantStore
	SessionStore
	KeyStore
	AuditStore
	PolicyStore
	AdminStore
	MailStore
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
		sqlDB.SetMaxIdleConns(20) // as many as open: a closed connection loses its prepared statements (pgx caches them per connection)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		if err := warmConnections(ctx, sqlDB, 2); err != nil {
			_ = sqlDB.Close()
			return nil, fmt.Errorf("connect to database: %w", err)
		}
		return finishOpen(ctx, g, now, true, sqlDB)
	}
	return openSQLite(ctx, opts, cfg, now)
}

// transaction runs fn in a write transaction. On SQLite it then yields
// the processor, like every statement on the writer: database/sql hands
// the freed writer connection to the next waiting goroutine, but only
// makes it runnable on this P, behind the goroutine that freed it, which
// would go on for hundreds of microseconds (signing, writing the
// response) while the connection — and so every writer — sits idle.
// Measured with 16 goroutines writing: 4,700–6,500 → 7,900–9,000 writes/s;
// under the flow load the writer pool's wait time was the bottleneck.
func (db *conn) transaction(ctx context.Context, fn func(tx *gorm.DB) error) error {
	fnFailed := false
	err := db.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		err := fn(tx)
		fnFailed = err != nil
		return err
	})
	if err != nil && !fnFailed {
		db.observeWrite(err) // COMMIT failed: in WAL mode that is where a full disk shows
	}
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
			_ = c.Close() // back to the idle pool
		}
	}
	return err
}

func finishOpen(ctx context.Context, g *gorm.DB, now func() time.Time, isPG bool, pools ...*sql.DB) (*DB, error) {
	for _, p := range pools {
		if err := p.PingContext(ctx); err != nil {
			for _, p := range pools {
				_ = p.Close()
			}
			return nil, fmt.Errorf("connect to database: %w", err)
		}
	}
	c := &conn{gorm: g, now: now, postgres: isPG, pools: pools, onAudit: new(atomic.Pointer[func(*AuditEvent)]), clientsChanged: new(atomic.Int64),
		health: new(writeHealth), onCredential: new(atomic.Pointer[CredentialHook])}
	if err := registerWriteObserver(g, c); err != nil {
		for _, p := range pools {
			_ = p.Close()
		}
		return nil, fmt.Errorf("open database: %w", err)
	}
	return newDB(c), nil
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
	p, err := db.migrations()
	if err != nil {
		return err
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

// migrations returns the goose provider of the dialect's migrations.
func (db *DB) migrations() (*goose.Provider, error) {
	dialect, dir := goose.DialectSQLite3, "migrations/sqlite"
	if db.postgres {
		dialect, dir = goose.DialectPostgres, "migrations/postgres"
	}
	sub, err := fs.Sub(migrationsFS, dir)
	if err != nil {
		return nil, err
	}
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	if db.postgres {
		// Instances starting together migrate one at a time (lease.go).
		opts = append(opts, goose.WithSessionLocker(pgMigrationLocker{}))
	}
	p, err := goose.NewProvider(dialect, sqlDB, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
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
func (db *conn) Now() time.Time { return db.now().UTC() }

// IsPostgres reports whether the backend is Postgres.
func (db *conn) IsPostgres() bool { return db.postgres }

// Gorm exposes the underlying handle for tests that inspect raw rows.
func (db *DB) Gorm() *gorm.DB { return db.gorm }

func (db *conn) ctx(ctx context.Context) *gorm.DB {
	if db.tx != nil {
		return db.tx.WithContext(ctx)
	}
	return db.gorm.WithContext(ctx)
}

// InTx runs fn with tx, a DB whose every store call runs in one
// transaction, committed when fn returns nil and rolled back otherwise.
// Called on a tx, InTx joins that transaction. It lets a service make
// several writes of different aggregates atomically and with one commit:
// on SQLite every commit takes the single writer, so a sign-in that wrote
// its sign count, session, auth request and audit event in four commits
// takes one. tx must not be used after fn returns.
func (db *DB) InTx(ctx context.Context, fn func(tx *DB) error) error {
	if db.tx != nil {
		return fn(db)
	}
	return db.transaction(ctx, func(gtx *gorm.DB) error {
		c := *db.conn
		c.tx = gtx
		return fn(newDB(&c))
	})
}
