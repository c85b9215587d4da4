package models

import (
	"io/fs"
	"strings"
	"testing"
)

// Every Postgres migration's Up section is a single goose statement block,
// so that goose sends it in one round trip (see Migrate).
func TestPostgresMigrationsAreOneBlock(t *testing.T) {
	files, err := fs.Glob(migrationsFS, "migrations/postgres/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Postgres migrations: %v", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(migrationsFS, f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		up, _, ok := strings.Cut(s, "-- +goose Down")
		if !ok || !strings.HasPrefix(up, "-- +goose Up\n-- +goose StatementBegin\n") ||
			!strings.HasSuffix(strings.TrimSpace(up), "-- +goose StatementEnd") || strings.Count(up, "StatementBegin") != 1 {
			t.Errorf("%s: the Up section is not one StatementBegin/StatementEnd block", f)
		}
	}
}
