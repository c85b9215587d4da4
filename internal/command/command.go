// Package command holds what Latchkey's two command-line binaries share
// (cmd/latchkey and cmd/latchkey-bench): parsing and running a kong
// command line (Run), the logger their --log-level and --log-format flags
// describe, and opening the migrated database of --database/--data-dir.
// It imports models, kong and the standard library.
package command

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/alecthomas/kong"
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

// Run is a binary's main without signals and exit, so tests can call it:
// it parses args into grammar (a pointer to the kong CLI struct; flags
// may also come from a JSON --config file), builds the value the
// commands' Run methods receive with env (called after parsing, with the
// logger to install as slog's default), and runs the chosen command with
// ctx bound. It returns the exit code: 0, 1 when the command failed, 2
// for a usage error. --help and --version print and return 0 (kong would
// otherwise go on, start `serve`, or complain that no command was given).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, name, description string, grammar any, env func() (any, *slog.Logger)) int {
	exited := false
	parser, err := kong.New(grammar,
		kong.Name(name),
		kong.Description(description),
		kong.Configuration(kong.JSON),
		kong.UsageOnError(),
		kong.Writers(stdout, stderr),
		kong.Exit(func(int) { exited = true }),
	)
	if err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return 2
	}
	kctx, err := parser.Parse(args)
	if exited {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return 2
	}
	if kctx == nil || strings.HasPrefix(kctx.Command(), "--") {
		return 0
	}
	e, log := env()
	slog.SetDefault(log)
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(e); err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return 1
	}
	return 0
}
