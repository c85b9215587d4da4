package models

import (
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
