package models

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ConflictMode says what an import does with a line whose username exists.
type ConflictMode string

// The conflict modes of an import.
const (
	ConflictFail   ConflictMode = "fail"   // stop at the line (the default)
	ConflictSkip   ConflictMode = "skip"   // leave the existing user as it is
	ConflictUpdate ConflictMode = "update" // overwrite the fields the line gives
)

// ImportField marks the optional fields a line gives; an update touches
// only those.
type ImportField uint8

// The optional fields of an import line.
const (
	ImportEmail ImportField = 1 << iota
	ImportEmailVerified
	ImportName
	ImportGroups
	ImportDisabled
)

// MaxImportBatch bounds the lines of one Import call (one transaction).
const MaxImportBatch = 10000

// ImportUser is one line of an import file.
type ImportUser struct {
	Line          int // where it is in the file, for errors
	Username      string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	Disabled      bool
	Fields        ImportField // which optional fields the line gave
}

// ImportCounts counts what an import did (or, dry, would do).
type ImportCounts struct {
	Created, Updated, Skipped int
}

// Lines is the number of lines counted.
func (c ImportCounts) Lines() int { return c.Created + c.Updated + c.Skipped }

func (c *ImportCounts) add(o ImportCounts) {
	c.Created += o.Created
	c.Updated += o.Updated
	c.Skipped += o.Skipped
}

// LineError is a line an import refuses. Err wraps ErrInvalid (a bad
// value, a username twice in the file, the last admin disabled) or
// ErrConflict (an existing username, mode fail).
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string {
	msg := e.Err.Error()
	for _, sentinel := range []error{ErrInvalid, ErrConflict} {
		msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
	}
	return fmt.Sprintf("line %d: %s", e.Line, msg)
}

func (e *LineError) Unwrap() error { return e.Err }

// Importer imports users in batches, one transaction per batch: a batch
// is committed whole or not at all, and the batches before a refused one
// stay committed. Imported users get no passkey (a setup link gives them
// one). It is not safe for concurrent use.
//
// A username twice in the file is an error, unless the earlier line was
// skipped (nothing was written for it). Within a batch both lines are
// named. Across batches a real import recognises the earlier line's row by
// its updated_at, which is the import's start time, so it keeps no
// per-user state and its memory stays constant; a dry run, which writes
// nothing, keeps a 64-bit hash and the line of every username it would
// write instead (about 20 bytes a line).
type Importer struct {
	db     *UserStore
	mode   ConflictMode
	dryRun bool
	stamp  time.Time // created_at and updated_at of the rows this import writes
	seed   maphash.Seed
	seen   map[uint64]int // dry run: username hash → line
	total  ImportCounts
	// cacheSet: the SQLite writer's page cache is importCacheKiB.
	cacheSet bool
}

// importCacheKiB is the SQLite writer connection's page cache during an
// import. The user IDs and WebAuthn user handles are random, so each
// batch inserts into random pages of their indexes; with SQLite's default
// 2 MiB cache most of those pages were read back from the file for every
// batch (one pread each). The cache is most of an import's memory: with
// 64 MiB the peak RSS was 120–145 MB after 200,000 lines and 249 MB after
// a million (SQLite's allocations cost well over the pages' size); with
// 16 MiB it is 103 MB and 117 MB, at the same rate within this machine's
// noise (docs/performance.md, 6 December).
const importCacheKiB = 16 << 10

// NewImporter returns an importer. Errors: ErrInvalid for an unknown mode.
func (db *UserStore) NewImporter(ctx context.Context, mode ConflictMode, dryRun bool) (*Importer, error) {
	switch mode {
	case ConflictFail, ConflictSkip, ConflictUpdate:
	default:
		return nil, fmt.Errorf("%w: on-conflict must be fail, skip or update, not %q", ErrInvalid, mode)
	}
	im := &Importer{db: db, mode: mode, dryRun: dryRun, seed: maphash.MakeSeed()}
	if dryRun {
		im.seen = map[uint64]int{}
		return im, nil
	}
	var err error
	im.stamp, err = db.unusedStamp(ctx)
	return im, err
}

// unusedStamp returns the clock's time, to the microsecond Postgres
// keeps, made later by a microsecond at a time until no user row carries
// it (a stopped test clock, a user created in the same microsecond). One
// scan of the users table per import.
func (db *UserStore) unusedStamp(ctx context.Context) (time.Time, error) {
	stamp := db.Now().Truncate(time.Microsecond)
	for {
		var n int
		err := db.rawRow(ctx, db.rawPool(false), "SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE updated_at = ? LIMIT 1) t", stamp).Scan(&n)
		if err != nil {
			return time.Time{}, fmt.Errorf("import: %w", db.rawErr(err))
		}
		if n == 0 {
			return stamp, nil
		}
		stamp = stamp.Add(time.Microsecond)
	}
}

// Total returns the counts of the batches imported so far.
func (im *Importer) Total() ImportCounts { return im.total }

// existingUser is what a batch reads of a user whose username it holds.
type existingUser struct {
	id        string
	disabled  bool
	isAdmin   bool
	updatedAt time.Time
}

// Import validates batch (at most MaxImportBatch lines, in file order) as
// CreateUser does, then, unless the import is dry, writes it in one
// transaction: new users, updates (mode update), groups created on
// demand and memberships. It returns the batch's counts, or a *LineError
// for the first refused line and then nothing of the batch is written.
func (im *Importer) Import(ctx context.Context, batch []ImportUser) (ImportCounts, error) {
	if len(batch) > MaxImportBatch {
		return ImportCounts{}, fmt.Errorf("%w: a batch holds at most %d lines", ErrInvalid, MaxImportBatch)
	}
	bad := im.validate(batch)
	valid := batch
	if bad != nil {
		valid = batch[:badIndex(batch, bad.Line)]
	}
	var counts ImportCounts
	run := func(c *conn) error {
		if !c.postgres && !im.dryRun && !im.cacheSet {
			if err := c.exec(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", importCacheKiB)); err != nil {
				return err
			}
			im.cacheSet = true
		}
		existing, err := c.existingUsers(ctx, valid)
		if err != nil {
			return err
		}
		if err := im.checkConflicts(valid, existing); err != nil {
			return err
		}
		if bad != nil {
			return bad
		}
		if im.dryRun {
			counts = im.dryCount(valid, existing)
			return nil
		}
		counts, err = im.write(ctx, c, valid, existing)
		return err
	}
	var err error
	if im.dryRun {
		err = run(im.db.conn)
	} else {
		err = im.db.transaction(ctx, func(tx *gorm.DB) error {
			c := *im.db.conn
			c.tx = tx
			return run(&c)
		})
	}
	if err != nil {
		return ImportCounts{}, err
	}
	im.total.add(counts)
	return counts, nil
}

func badIndex(batch []ImportUser, line int) int {
	for i := range batch {
		if batch[i].Line == line {
			return i
		}
	}
	return len(batch)
}

func (im *Importer) hash(username string) uint64 { return maphash.String(im.seed, username) }

// validate normalises every line in place, as CreateUser, CheckEmail,
// CheckDisplayName and NormalizeGroupName do, and returns the first bad
// line's error: a bad value or a username given twice.
func (im *Importer) validate(batch []ImportUser) *LineError {
	lines := make(map[string]int, len(batch))
	for i := range batch {
		u := &batch[i]
		if err := normalizeImport(u); err != nil {
			return &LineError{u.Line, err}
		}
		first, dup := lines[u.Username]
		if !dup && im.dryRun {
			first, dup = im.seen[im.hash(u.Username)]
		}
		if dup {
			return &LineError{u.Line, fmt.Errorf("%w: username %q is also on line %d", ErrInvalid, u.Username, first)}
		}
		lines[u.Username] = u.Line
	}
	return nil
}

func normalizeImport(u *ImportUser) error {
	if strings.TrimSpace(u.Username) == "" {
		return fmt.Errorf("%w: username is missing", ErrInvalid)
	}
	var err error
	if u.Username, err = NormalizeUsername(u.Username); err != nil {
		return err
	}
	if u.Email, err = CheckEmail(u.Email); err != nil {
		return err
	}
	if u.Name, err = CheckDisplayName(u.Name); err != nil {
		return err
	}
	groups := u.Groups[:0:0]
	for _, g := range u.Groups {
		if g, err = NormalizeGroupName(g); err != nil {
			return err
		}
		dup := false
		for _, h := range groups {
			dup = dup || h == g
		}
		if !dup {
			groups = append(groups, g)
		}
	}
	u.Groups = groups
	return nil
}

// checkConflicts refuses the first line whose username exists, in mode
// fail, and in every mode a line whose user this import wrote already
// (the username was on a line of an earlier batch).
func (im *Importer) checkConflicts(batch []ImportUser, existing map[string]existingUser) error {
	for i := range batch {
		u := &batch[i]
		e, ok := existing[u.Username]
		switch {
		case !ok:
		case !im.dryRun && e.updatedAt.Equal(im.stamp):
			return &LineError{u.Line, fmt.Errorf("%w: username %q is also on an earlier line", ErrInvalid, u.Username)}
		case im.mode == ConflictFail:
			return &LineError{u.Line, fmt.Errorf("%w: username %q exists", ErrConflict, u.Username)}
		}
	}
	return nil
}

// dryCount counts what write would do and remembers the lines it would
// write, as write's rows would carry the stamp.
func (im *Importer) dryCount(batch []ImportUser, existing map[string]existingUser) (c ImportCounts) {
	for i := range batch {
		switch _, ok := existing[batch[i].Username]; {
		case !ok:
			c.Created++
		case im.mode == ConflictUpdate:
			c.Updated++
		default:
			c.Skipped++
			continue
		}
		im.seen[im.hash(batch[i].Username)] = batch[i].Line
	}
	return c
}
