package models

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/internal/dbtest"
)

// TestPostgres runs every test of this package again on Postgres
// (LATCHKEY_TEST_POSTGRES): the storage suite proves both backends.
func TestPostgres(t *testing.T) { dbtest.RerunOnPostgres(t, "") }

// TestBackendIsTheOneAsked guards the harness: in the Postgres child every
// test database really is Postgres.
func TestBackendIsTheOneAsked(t *testing.T) {
	db, _ := newTestDB(t)
	if db.IsPostgres() != dbtest.OnPostgres() {
		t.Fatalf("IsPostgres = %v, want %v", db.IsPostgres(), dbtest.OnPostgres())
	}
}

// TestMigrateNamesMissingSchema: a DSN whose search_path names a schema
// that does not exist is a bad input; the error says so and nothing is
// created anywhere else.
func TestMigrateNamesMissingSchema(t *testing.T) {
	if !dbtest.OnPostgres() {
		t.Skip("Postgres only: runs in the Postgres child of TestPostgres")
	}
	dsn := dbtest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	missing := q.Get("search_path") + "_missing"
	q.Set("search_path", missing)
	u.RawQuery = q.Encode()
	ctx := context.Background()
	db, err := Open(ctx, Options{DSN: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(t, db)
	// Other packages' tests create schemas in the same database at the
	// same time (go test runs packages in parallel), so only the schemas
	// this migration could have written to are counted: the missing one
	// and public, where a search_path falling back would put tables.
	tables := func() (n int64) {
		t.Helper()
		if err := db.gorm.Raw("SELECT COUNT(*) FROM pg_tables WHERE schemaname IN ('public', ?)", missing).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := tables()
	err = db.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "search_path ("+missing+") names no schema") {
		t.Fatalf("Migrate = %v, want an error naming the missing schema %s", err, missing)
	}
	if after := tables(); after != before {
		t.Fatalf("tables in the database: %d before the failed migration, %d after", before, after)
	}
}
