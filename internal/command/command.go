// Package command holds what Latchkey's two command-line binaries share
// (cmd/latchkey and cmd/latchkey-bench): the logger their --log-level and
// --log-format flags describe, and opening the migrated database of
// --database/--data-dir. It imports models and the standard library.
package command

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/latchkey-idp/latchkey/models"
)

// NewLogger returns a slog logger writing to w at level ("debug", "info",
// "warn", "error"; anything else is info) as JSON, or as text when format
// is "text".
func NewLogger(level, format string, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // an unknown level leaves info
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// OpenDB opens the database (dsn, or SQLite in dataDir) and applies the
// migrations. onFresh, when not nil, is called before migrating a
// database that has never been migrated (a first start).
func OpenDB(ctx context.Context, dsn, dataDir string, onFresh func(*models.DB)) (*models.DB, error) {
	db, err := models.Open(ctx, models.Options{DSN: dsn, DataDir: dataDir})
	if err != nil {
		return nil, err
	}
	if onFresh != nil {
		if fresh, err := db.Fresh(ctx); err == nil && fresh {
			onFresh(db)
		}
	}
	if err := db.Migrate(ctx); err != nil {
		_ = db.Close() // reporting the migration error
		return nil, err
	}
	return db, nil
}

// CloseDB closes db when a command ends; a failed close becomes the
// command's error unless it already fails (defer command.CloseDB(db, &err)).
func CloseDB(db *models.DB, err *error) {
	if cerr := db.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close database: %w", cerr)
	}
}
