package models

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// WAL checkpoints on SQLite run in the background, on a connection of
// their own, instead of inside the commit that crosses the threshold.
//
// By default (wal_autocheckpoint=1000) the writer connection checkpoints
// after the commit that takes the WAL past 1,000 pages: it copies the
// pages into the database file and fsyncs both files while still holding
// the only write connection. Under the sign-in load (~50 pages a flow)
// that was a checkpoint every ~20 flows, and every writer waited through
// its fsyncs: the CPU sat 17% idle with the writer pool always busy. Now
// the writer never checkpoints (its driver sets wal_autocheckpoint=0) and
// the checkpointer runs PASSIVE checkpoints, which neither wait for nor
// block writers and readers (https://sqlite.org/c3ref/wal_checkpoint_v2.html).
// Flow ES256, four alternating pairs: 277, 308, 289, 253 → 295, 321, 343,
// 342 flows/s.
//
// Durability is unchanged: synchronous=NORMAL makes commits durable when
// the WAL is synced, which a checkpoint does first wherever it runs. Other
// processes (CLI commands) keep SQLite's default and checkpoint their own
// commits. When the last connection closes, SQLite checkpoints the WAL
// and removes it, as before.

// writerDriver is mattn's driver with automatic checkpoints off, for the
// writer pool only.
const writerDriver = "sqlite3_latchkey_writer"

var registerWriterDriver sync.Once

func writerDriverName() string {
	registerWriterDriver.Do(func() {
		sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA wal_autocheckpoint=0", nil)
			return err
		}})
	})
	return writerDriver
}

// Checkpointer timing: a busy WAL is checkpointed every checkpointBusy; an
// idle one is looked at every checkpointIdle. A WAL past checkpointForce
// pages (the PASSIVE checkpoints could not keep up, e.g. a long read held
// old pages) gets a RESTART checkpoint, which waits for the writer.
const (
	checkpointBusy  = 20 * time.Millisecond
	checkpointIdle  = 250 * time.Millisecond
	checkpointForce = 16000
)

type checkpointer struct {
	conn *sql.DB
	stop context.CancelFunc
	done chan struct{}
	ran  atomic.Int64 // checkpoints that found frames in the WAL
}

func startCheckpointer(path string) (*checkpointer, error) {
	conn, err := sql.Open("sqlite3", sqliteDSN(path, false))
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(1)
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{conn: conn, stop: stop, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	wait := checkpointIdle
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		log, err := c.checkpoint(ctx, "PASSIVE")
		if err == nil && log > checkpointForce {
			log, err = c.checkpoint(ctx, "RESTART")
		}
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("WAL checkpoint failed", "error", err)
			}
			wait = checkpointIdle
			continue
		}
		wait = checkpointIdle
		if log > 0 {
			wait = checkpointBusy
		}
	}
}

// checkpoint runs one checkpoint of mode and returns the WAL's size in
// pages.
func (c *checkpointer) checkpoint(ctx context.Context, mode string) (log int64, err error) {
	var busy, copied int64
	if err := c.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &log, &copied); err != nil {
		return 0, err
	}
	if log > 0 && copied > 0 {
		c.ran.Add(1)
	}
	return log, nil
}

func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return c.conn.Close()
}
