package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"gorm.io/gorm"
)

// Write health: readiness must fail while the database cannot store
// anything (disk full, read-only file system, a database or Postgres
// server gone read-only), or a load balancer keeps sending sign-ins to an
// instance that can complete none of them. Every statement's error is
// classified (isWriteFailure); a failure counts (WriteErrors, a metric) and
// holds CheckWritable failing for WriteFailureHold. CheckWritable also
// commits a probe write, so a full disk is seen without traffic and
// recovery needs no restart.

// WriteFailureHold is how long CheckWritable keeps failing after the last
// failed write: a database that refuses some writes (a full file accepts
// in-place updates but no new rows) must not flap between ready and not.
const WriteFailureHold = 10 * time.Second

// writeProbeEvery bounds the probe writes: at most one per second,
// however often /readyz is asked.
const writeProbeEvery = time.Second

// writeProbeLease is the leases row the probe rewrites.
const writeProbeLease = "readiness-probe"

type writeHealth struct {
	errors      atomic.Int64
	lastFailure atomic.Int64 // unix nanoseconds of the db clock; 0: none
	lastProbeOK atomic.Int64
}

// isWriteFailure reports whether err means the database cannot store data
// at all, as opposed to a refused value (a conflict) or a missing row:
// SQLite's SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN,
// SQLITE_CORRUPT and SQLITE_NOTADB; Postgres' read_only_sql_transaction
// (25006), class 53 (insufficient resources: disk_full 53100) and class 58
// (system error: io_error 58030).
func isWriteFailure(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrFull, sqlite3.ErrReadonly, sqlite3.ErrIoErr, sqlite3.ErrCantOpen, sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
			return true
		}
		return false
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		s := pg.SQLState()
		return s == "25006" || strings.HasPrefix(s, "53") || strings.HasPrefix(s, "58")
	}
	return false
}

// observeWrite counts err when it is a write failure.
func (db *conn) observeWrite(err error) {
	if err == nil || db.health == nil || !isWriteFailure(err) {
		return
	}
	db.health.errors.Add(1)
	db.health.lastFailure.Store(db.now().UnixNano())
}

// registerWriteObserver sees the error of every GORM statement.
func registerWriteObserver(g *gorm.DB, db *conn) error {
	observe := func(d *gorm.DB) { db.observeWrite(d.Error) }
	cb := g.Callback()
	for _, err := range []error{
		cb.Create().After("*").Register("latchkey:observe_write", observe),
		cb.Update().After("*").Register("latchkey:observe_write", observe),
		cb.Delete().After("*").Register("latchkey:observe_write", observe),
		cb.Raw().After("*").Register("latchkey:observe_write", observe),
		cb.Row().After("*").Register("latchkey:observe_write", observe),
		cb.Query().After("*").Register("latchkey:observe_write", observe),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteErrors returns how many statements failed because the database
// could not store data, since Open.
func (db *DB) WriteErrors() int64 { return db.health.errors.Load() }

// CheckWritable reports whether the database stores data: an error while a
// write failed within WriteFailureHold, or when a probe write (at most one
// per second, an upsert of one leases row) fails.
func (db *DB) CheckWritable(ctx context.Context) error {
	now := db.now()
	if last := db.health.lastFailure.Load(); last != 0 && now.Sub(time.Unix(0, last)) < WriteFailureHold {
		return fmt.Errorf("a write failed %s ago", now.Sub(time.Unix(0, last)).Round(time.Millisecond))
	}
	if ok := db.health.lastProbeOK.Load(); ok != 0 && now.Sub(time.Unix(0, ok)) < writeProbeEvery && now.Sub(time.Unix(0, ok)) >= 0 {
		return nil
	}
	_, err := db.rawExec(ctx, db.rawPool(true), `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at`, writeProbeLease, "readyz", now.UTC())
	if err != nil {
		return fmt.Errorf("probe write: %w", err)
	}
	db.health.lastProbeOK.Store(now.UnixNano())
	return nil
}
