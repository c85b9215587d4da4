package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"log/slog"
	"os"
	"strconv"
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
// Durability: synchronous=NORMAL makes commits durable when the WAL is
// synced, which a checkpoint does first wherever it runs; here that is
// normally about checkpointEvery after the commit (below). Other
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
			_, err := c.Exec("PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit="+strconv.Itoa(walSizeLimit), nil)
			return err
		}})
	})
	return writerDriver
}

// Checkpointer timing: a PASSIVE checkpoint every checkpointEvery. A
// PASSIVE checkpoint never resets the WAL: SQLite starts writing the WAL
// from its beginning again only when a writer finds every frame copied
// and no reader using one, which under constant load never happens, so
// the WAL grew by every commit (68 MB in 20 s of refresh grants, 207 MB
// after a load run, issue 18). So when the WAL passes checkpointForce
// pages, or has stopped growing with every frame copied (the load ended),
// a TRUNCATE checkpoint waits for the readers, copies what is left,
// blocking writers meanwhile (milliseconds: PASSIVE copied nearly all of
// it), and truncates the file to zero bytes. The writer's
// journal_size_limit also trims a WAL it resets to walSizeLimit.
//
// The interval trades the power-loss window against write volume. With
// synchronous=NORMAL a commit reaches the disk when the next checkpoint
// syncs the WAL, so a power cut (not a crash of the process: the kernel
// has the pages) can lose the commits since the last checkpoint: normally
// about checkpointEvery plus the checkpoint's own time. SQLite syncs the
// WAL only when a checkpoint can copy at least one frame, so a read
// transaction that pins an old snapshot keeps that window open until it
// ends (the application's reads take milliseconds) or the TRUNCATE. Each
// checkpoint copies every page written since the previous one once, so a
// longer interval copies a page that several commits changed (the last
// leaf of a table or of a time-ordered index) once instead of once per
// commit. Under the sign-in load 20 ms copied nearly every WAL frame:
// 330 KB written per flow; 200 ms writes 265 KB per flow, and the flow
// rate went from 317, 331, 329, 343, 321 to 355, 377, 341, 335, 373 per
// second in alternating runs. SQLite's own default (a checkpoint every
// 1,000 pages) leaves the window open for minutes at low load.
const (
	checkpointEvery    = 200 * time.Millisecond
	checkpointForce    = 4096 // pages: 16 MB with 4 KB pages
	pageBytes          = 4096 // SQLite's default page size, which Latchkey keeps
	checkpointPoll     = 10 * time.Millisecond
	walSizeLimit       = 4 << 20 // bytes
	checkpointWait     = 50 * time.Millisecond
	checkpointWaitLong = time.Second
)

type checkpointer struct {
	conn   *sql.DB // PASSIVE checkpoints
	writer *sql.DB // the writer pool, for TRUNCATE checkpoints (truncate)
	path   string  // the database file
	stop   context.CancelFunc
	done   chan struct{}
	ran    atomic.Int64 // checkpoints that found frames in the WAL
}

func startCheckpointer(path string, writer *sql.DB) (*checkpointer, error) {
	conn, err := sql.Open("sqlite3", sqliteDSN(path, false))
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(1)
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{conn: conn, writer: writer, path: path, stop: stop, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	var idle int64 // WAL pages at the last PASSIVE that copied them all
	poll := time.NewTicker(checkpointPoll)
	defer poll.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		}
		// A round every checkpointEvery, and at once when the WAL file
		// has passed checkpointForce: under heavy writes (a sign-in flow
		// writes about 265 KB of WAL, so 500 flows/s are 130 MB/s; the
		// test writes 200 MB/s) the WAL grew by 48 MB between two rounds
		// 200 ms apart. Polling the file's size costs a stat(2).
		size := c.walSize()
		if size <= checkpointForce*pageBytes && time.Since(last) < checkpointEvery {
			continue
		}
		last = time.Now()
		log, copied, err := c.checkpoint(ctx, "PASSIVE")
		switch {
		case err != nil:
		case log > checkpointForce || size > checkpointForce*pageBytes:
			// A TRUNCATE checkpoint holds the write lock while it waits
			// for the readers: it waits at most checkpointWait, then gives
			// up until the next poll, so that a writer never waits longer
			// than that; when rounds keep failing (readers starved of CPU)
			// and the WAL passes twice the mark, it waits longer.
			wait := checkpointWait
			if log > 2*checkpointForce || size > 2*checkpointForce*pageBytes {
				wait = checkpointWaitLong
			}
			_, _, err = c.truncate(ctx, wait)
			idle = 0
		case log > 0 && copied == log && log == idle:
			// Two rounds without a commit: give the space back.
			_, _, err = c.truncate(ctx, checkpointWait)
			idle = 0
		case copied == log:
			idle = log
		default:
			idle = 0
		}
		if err != nil && ctx.Err() == nil {
			slog.Warn("WAL checkpoint failed", "error", err)
		}
	}
}

// walSize is the WAL file's size in bytes (0 when there is none).
func (c *checkpointer) walSize() int64 {
	fi, err := os.Stat(c.path + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
}

// truncate runs a TRUNCATE checkpoint that waits at most wait for the
// readers. It runs on the writer pool's connection: a TRUNCATE needs
// SQLite's write lock, and from a connection of its own it had to win
// that lock from the writer in SQLite's busy handler, which polls (1, 2,
// 5 … ms) while the writer, busy under load, takes the lock again as soon
// as a commit frees it: a starved TRUNCATE waited its full second and
// failed while the WAL grew past 80 MB (TestWALStaysSmall). Holding the
// writer connection, it waits in line with the writes instead and only
// for the readers; busy_timeout (per connection) is set for it and then
// set back.
func (c *checkpointer) truncate(ctx context.Context, wait time.Duration) (log, copied int64, err error) {
	conn, err := c.writer.Conn(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = conn.Close() }() // back to the writer pool
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.Itoa(int(wait/time.Millisecond))); err != nil {
		return 0, 0, err
	}
	var busy int64
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &copied)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA busy_timeout = "+strconv.Itoa(sqliteBusyTimeoutMS)); rerr != nil {
		// A writer must not keep the short timeout: drop the connection.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		if err == nil {
			err = rerr
		}
	}
	if err != nil {
		return 0, 0, err
	}
	if log > 0 && copied > 0 {
		c.ran.Add(1)
	}
	return log, copied, nil
}

// checkpoint runs one checkpoint of mode and returns the WAL's size in
// pages and how many of them are copied into the database file.
func (c *checkpointer) checkpoint(ctx context.Context, mode string) (log, copied int64, err error) {
	var busy int64
	if err := c.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &log, &copied); err != nil {
		return 0, 0, err
	}
	if log > 0 && copied > 0 {
		c.ran.Add(1)
	}
	return log, copied, nil
}

func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return c.conn.Close()
}
