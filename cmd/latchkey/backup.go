package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/latchkey-idp/latchkey/models"
)

type backupCmd struct {
	File string `arg:"" help:"Backup file to write; must not exist." placeholder:"FILE"`
	JSON bool   `name:"json" help:"Print one JSON object."`
}

// Run snapshots the SQLite database while a server may be running
// (models.BackupSQLite). It never opens the master key: a backup is as
// worthless without the key as the data directory.
func (b *backupCmd) Run(ctx context.Context, e *env) error {
	if models.IsPostgresDSN(e.cli.Database) {
		return fmt.Errorf("backup handles SQLite only; for Postgres run: pg_dump -Fc -f latchkey.dump 'DSN' (and restore with pg_restore -d 'DSN' --no-owner latchkey.dump; see README, Backups)")
	}
	path, err := models.SQLiteFile(e.cli.Database, e.dataDir())
	if err != nil {
		return err
	}
	if err := models.BackupSQLite(ctx, path, b.File); err != nil {
		return err
	}
	if b.JSON {
		return e.printJSON(map[string]any{"backup": b.File, "database": path})
	}
	fmt.Fprintf(e.out, "backed up %s to %s (the master key is not in it: keep the key's own copy safe, apart from the backup)\n", path, b.File)
	return nil
}

type restoreCmd struct {
	File string `arg:"" help:"Backup file made by latchkey backup." placeholder:"FILE"`
	JSON bool   `name:"json" help:"Print one JSON object."`
}

// Run restores into an empty (or absent) data directory only; it never
// replaces a database.
func (r *restoreCmd) Run(ctx context.Context, e *env) error {
	if models.IsPostgresDSN(e.cli.Database) {
		return fmt.Errorf("restore handles SQLite only; for Postgres run: pg_restore -d 'DSN' --no-owner latchkey.dump (see README, Backups)")
	}
	path, err := models.SQLiteFile(e.cli.Database, e.dataDir())
	if err != nil {
		return err
	}
	if e.cli.Database == "" {
		entries, err := os.ReadDir(e.dataDir())
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("data directory: %w", err)
		case len(entries) > 0:
			return fmt.Errorf("the data directory %s is not empty; restore only into an empty (or new) data directory", e.dataDir())
		}
	}
	fp, err := models.RestoreSQLite(ctx, r.File, path)
	if err != nil {
		return err
	}
	if r.JSON {
		return e.printJSON(map[string]any{"restored": path, "master_key_fingerprint": fp})
	}
	fmt.Fprintf(e.out, "restored %s into %s\n", r.File, path)
	if fp != "" {
		fmt.Fprintf(e.out, "start the server with the master key whose fingerprint is %s (latchkey master-key status)\n", fp)
	}
	return nil
}
