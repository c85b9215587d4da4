package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func importLines(from, n int, groups ...string) []ImportUser {
	out := make([]ImportUser, n)
	for i := range out {
		out[i] = ImportUser{Line: from + i, Username: fmt.Sprintf("u%04d", from+i), Email: fmt.Sprintf("u%d@example.com", from+i),
			Name: "User", Groups: groups, Fields: ImportEmail | ImportName | ImportGroups}
	}
	return out
}

// groupList is the user's group names, sorted, comma-separated.
func groupList(u *User) string {
	names := u.GroupNames()
	slices.Sort(names)
	return strings.Join(names, ",")
}

func countUsers(t *testing.T, db *DB) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm().Model(&User{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func wantLineError(t *testing.T, err error, line int, sentinel error, text string) {
	t.Helper()
	var le *LineError
	if !errors.As(err, &le) || le.Line != line || !errors.Is(err, sentinel) || !strings.Contains(err.Error(), text) {
		t.Fatalf("err = %v, want line %d, %v, %q", err, line, sentinel, text)
	}
	if !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", line)) {
		t.Fatalf("err = %q, want it to start with the line", err)
	}
}

// A batch is committed whole or not at all; the batches before a refused
// one stay.
func TestImportBatchesCommitOrRollBack(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	im, err := db.NewImporter(ctx, ConflictFail, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := im.Import(ctx, importLines(1, 700, "Staff", " ops ", "Staff"))
	if err != nil || c != (ImportCounts{Created: 700}) {
		t.Fatalf("first batch: %+v %v", c, err)
	}
	bad := importLines(701, 10)
	bad[6].Email = "not-an-address"
	bad[8].Username = "bad name"
	_, err = im.Import(ctx, bad)
	wantLineError(t, err, 707, ErrInvalid, `email "not-an-address" is not an address`)
	if n := countUsers(t, db); n != 700 {
		t.Fatalf("%d users after the refused batch, want 700", n)
	}
	if im.Total() != (ImportCounts{Created: 700}) {
		t.Fatalf("total %+v", im.Total())
	}
	u, err := db.UserByUsername(ctx, "u0042")
	if err != nil || u.Email != "u42@example.com" || len(u.WebAuthnID) != 64 || groupList(u) != "Staff,ops" {
		t.Fatalf("imported user %+v %v", u, err)
	}
	groups, _, err := db.ListGroupsPage(ctx, PageQuery{Limit: 10})
	if err != nil || len(groups) != 2 || groups[0].Members != 700 {
		t.Fatalf("groups %+v %v", groups, err)
	}
}

// The first bad line of a batch is reported, whether it is bad in itself
// or conflicts with the database.
func TestImportRefusals(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	if err := db.CreateUser(ctx, &User{Username: "taken"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		edit     func([]ImportUser)
		line     int
		sentinel error
		text     string
	}{
		{"missing username", func(b []ImportUser) { b[2].Username = " " }, 3, ErrInvalid, "username is missing"},
		{"invalid username", func(b []ImportUser) { b[1].Username = "a b" }, 2, ErrInvalid, "username may contain only"},
		{"bad group", func(b []ImportUser) { b[3].Groups = []string{"a,b"} }, 4, ErrInvalid, "group name"},
		{"twice in batch", func(b []ImportUser) { b[4].Username = "U0002" }, 5, ErrInvalid, `username "u0002" is also on line 2`},
		{"exists", func(b []ImportUser) { b[3].Username = "taken" }, 4, ErrConflict, `username "taken" exists`},
		{"conflict before a bad value", func(b []ImportUser) { b[1].Username = "taken"; b[3].Email = "x" }, 2, ErrConflict, "exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, _ := db.NewImporter(ctx, ConflictFail, false)
			b := importLines(1, 5)
			tc.edit(b)
			_, err := im.Import(ctx, b)
			wantLineError(t, err, tc.line, tc.sentinel, tc.text)
			if n := countUsers(t, db); n != 1 {
				t.Fatalf("%d users, want 1", n)
			}
		})
	}
	if _, err := db.NewImporter(ctx, "merge", false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown mode: %v", err)
	}
}

// A username on a line of an earlier batch is a duplicate, in a real run
// (found by the row's stamp) and in a dry run (found by its hash).
func TestImportDuplicateAcrossBatches(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry=%v", dry), func(t *testing.T) {
			db, _ := newTestDB(t)
			ctx := context.Background()
			im, _ := db.NewImporter(ctx, ConflictUpdate, dry)
			if _, err := im.Import(ctx, importLines(1, 3)); err != nil {
				t.Fatal(err)
			}
			again := importLines(4, 3)
			again[1].Username = "u0002"
			_, err := im.Import(ctx, again)
			want := "is also on an earlier line"
			if dry {
				want = "is also on line 2"
			}
			wantLineError(t, err, 5, ErrInvalid, want)
		})
	}
}

// skip leaves existing users; update overwrites only the fields a line
// gives (never passkeys); dry runs write nothing but see the database.
func TestImportSkipUpdateDryRun(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	im, _ := db.NewImporter(ctx, ConflictFail, false)
	if _, err := im.Import(ctx, importLines(1, 3, "old")); err != nil {
		t.Fatal(err)
	}
	before, _ := db.UserByUsername(ctx, "u0001")

	dry, _ := db.NewImporter(ctx, ConflictUpdate, true)
	c, err := dry.Import(ctx, importLines(1, 5, "new"))
	if err != nil || c != (ImportCounts{Created: 2, Updated: 3}) {
		t.Fatalf("dry run: %+v %v", c, err)
	}
	dryFail, _ := db.NewImporter(ctx, ConflictFail, true)
	if _, err := dryFail.Import(ctx, importLines(3, 2)); err == nil || !errors.Is(err, ErrConflict) {
		t.Fatalf("dry run, fail mode, existing user: %v", err)
	}
	if n := countUsers(t, db); n != 3 {
		t.Fatalf("dry run wrote: %d users", n)
	}

	skip, _ := db.NewImporter(ctx, ConflictSkip, false)
	c, err = skip.Import(ctx, importLines(2, 3, "new"))
	if err != nil || c != (ImportCounts{Created: 1, Skipped: 2}) {
		t.Fatalf("skip: %+v %v", c, err)
	}
	if u, _ := db.UserByUsername(ctx, "u0002"); groupList(u) != "old" {
		t.Fatalf("skip changed a user: %v", u.GroupNames())
	}

	upd, _ := db.NewImporter(ctx, ConflictUpdate, false)
	b := importLines(1, 2, "new", "other")
	b[0].Email, b[0].EmailVerified, b[0].Disabled = "x@example.org", true, true
	b[0].Fields |= ImportEmailVerified | ImportDisabled
	b[1].Fields = ImportName // email and groups not given: kept
	b[1].Name = "Renamed"
	c, err = upd.Import(ctx, b)
	if err != nil || c != (ImportCounts{Updated: 2}) {
		t.Fatalf("update: %+v %v", c, err)
	}
	u, _ := db.UserByUsername(ctx, "u0001")
	if u.ID != before.ID || string(u.WebAuthnID) != string(before.WebAuthnID) || u.Email != "x@example.org" || !u.EmailVerified || !u.Disabled ||
		groupList(u) != "new,other" {
		t.Fatalf("updated user %+v groups %v", u, u.GroupNames())
	}
	u, _ = db.UserByUsername(ctx, "u0002")
	if u.DisplayName != "Renamed" || u.Email != "u2@example.com" || groupList(u) != "old" {
		t.Fatalf("partly updated user %+v groups %v", u, u.GroupNames())
	}
}

// Disabling the last enabled admin through an import is refused, as in
// the console.
func TestImportCannotDisableLastAdmin(t *testing.T) {
	db, _ := newTestDB(t)
	ctx := context.Background()
	if err := db.CreateUser(ctx, &User{Username: "root", IsAdmin: true}); err != nil {
		t.Fatal(err)
	}
	im, _ := db.NewImporter(ctx, ConflictUpdate, false)
	_, err := im.Import(ctx, []ImportUser{{Line: 2, Username: "newbie"}, {Line: 3, Username: "root", Disabled: true, Fields: ImportDisabled}})
	wantLineError(t, err, 3, ErrInvalid, "last enabled admin")
	if n := countUsers(t, db); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
}
