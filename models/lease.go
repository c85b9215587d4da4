package models

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/pressly/goose/v3/lock"
)

// Lease is a named, expiring claim that lets one instance of several run a
// background job (clean-up, key rotation) while the others skip it.
type Lease struct {
	Name      string `gorm:"primaryKey"`
	Holder    string
	ExpiresAt time.Time
}

// AcquireLease claims the lease name for holder until now+ttl, in one
// atomic upsert: it succeeds only when the lease is free or expired, and
// reports false while anyone — holder included — holds it. So a periodic
// job guarded by a lease slightly shorter than its period runs once per
// period across instances. Instances' clocks should agree to well within
// ttl.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := db.Now()
	res := db.ctx(ctx).Exec(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.expires_at <= ?`, name, holder, now.Add(ttl), now)
	if res.Error != nil {
		return false, fmt.Errorf("acquire lease %q: %w", name, translate(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// ReleaseLease gives the lease up if holder still holds it, so another
// instance may take it at once.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	err := db.ctx(ctx).Where("name = ? AND holder = ?", name, holder).Delete(&Lease{}).Error
	return translate(err)
}

// ReleaseLeasesOf gives up every lease holder holds (a server that
// stops).
func (db *DB) ReleaseLeasesOf(ctx context.Context, holder string) error {
	return translate(db.ctx(ctx).Where("holder = ?", holder).Delete(&Lease{}).Error)
}

// LeaseHolder returns the current holder of an unexpired lease, or "".
func (db *DB) LeaseHolder(ctx context.Context, name string) (string, error) {
	var l Lease
	err := db.ctx(ctx).Where("name = ? AND expires_at > ?", name, db.Now()).Limit(1).Find(&l).Error
	return l.Holder, translate(err)
}

// pgMigrationLocker serialises migrations across instances that start at
// the same time on one Postgres database: a session-level advisory lock,
// taken with the blocking pg_advisory_lock (no polling delay, cancelled
// with ctx). The lock ID is derived from the schema, so deployments in
// different schemas of one database do not wait for each other.
type pgMigrationLocker struct{}

var _ lock.SessionLocker = pgMigrationLocker{}

func migrationLockID(ctx context.Context, conn *sql.Conn) (int64, error) {
	var schema string
	if err := conn.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return 0, fmt.Errorf("migration lock: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("latchkey-migrate:" + schema))
	return int64(h.Sum64()), nil //nolint:gosec // G115: the hash's 64 bits as an advisory lock key; wrapping is intended
}

func (pgMigrationLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	id, err := migrationLockID(ctx, conn)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", id); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	return nil
}

func (pgMigrationLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	id, err := migrationLockID(ctx, conn)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", id); err != nil {
		return fmt.Errorf("migration unlock: %w", err)
	}
	return nil
}

// instanceLeasePrefix starts the name of the lease a running server
// renews while it runs (MarkInstanceRunning), one per instance.
const instanceLeasePrefix = "instance/"

// MarkInstanceRunning records that the server holder runs until now+ttl;
// a running server calls it again before then. It also forgets instances
// that stopped without saying so (killed) over an hour ago.
func (db *DB) MarkInstanceRunning(ctx context.Context, holder string, ttl time.Duration) error {
	now := db.Now()
	err := db.ctx(ctx).Exec(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`,
		instanceLeasePrefix+holder, holder, now.Add(ttl)).Error
	if err != nil {
		return fmt.Errorf("mark instance running: %w", translate(err))
	}
	err = db.ctx(ctx).Where("name LIKE ? AND expires_at <= ?", instanceLeasePrefix+"%", now.Add(-time.Hour)).Delete(&Lease{}).Error
	return translate(err)
}

// MarkInstanceStopped forgets the running server holder.
func (db *DB) MarkInstanceStopped(ctx context.Context, holder string) error {
	return translate(db.ctx(ctx).Where("name = ?", instanceLeasePrefix+holder).Delete(&Lease{}).Error)
}

// RunningInstances returns the servers that said they run and whose mark
// has not expired.
func (db *DB) RunningInstances(ctx context.Context) ([]Lease, error) {
	var ls []Lease
	err := db.ctx(ctx).Where("name LIKE ? AND expires_at > ?", instanceLeasePrefix+"%", db.Now()).Find(&ls).Error
	return ls, translate(err)
}
