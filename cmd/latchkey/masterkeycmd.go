package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/latchkey-idp/latchkey/internal/command"
	"github.com/latchkey-idp/latchkey/models"
)

type masterKeyCmd struct {
	Status masterKeyStatusCmd `cmd:"" help:"Print where the master key is and whether it is the one the database expects."`
	Move   masterKeyMoveCmd   `cmd:"" help:"Move the master key file (for example out of the data directory) to FILE."`
	Rotate masterKeyRotateCmd `cmd:"" help:"Re-seal every signing key and secret under a new master key written to FILE. Stop every server first."`
}

type masterKeyStatusCmd struct {
	JSON bool `name:"json" help:"Print one JSON object."`
}

func (m *masterKeyStatusCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	expected, err := db.StoredMasterKeyFingerprint(ctx)
	if err != nil {
		return err
	}
	mk, err := e.masterKey(ctx, db, false)
	if err != nil {
		return err
	}
	out := map[string]any{"file": mk.from, "fingerprint": models.MasterKeyFingerprint(mk.key),
		"expected_fingerprint": expected, "inside_data_dir": mk.inDataDir}
	if m.JSON {
		return e.printJSON(out)
	}
	fmt.Fprintf(e.out, "master key: %s\nfingerprint: %s (the database expects %s)\n", mk.from, out["fingerprint"], expected)
	if mk.inDataDir {
		fmt.Fprintln(e.out, "warning:", masterKeyInDataDirWarning)
	}
	return nil
}

type masterKeyMoveCmd struct {
	To   string `name:"to" required:"" help:"New key file; must not exist, must be outside the data directory." placeholder:"FILE"`
	JSON bool   `name:"json" help:"Print one JSON object."`
}

// Run copies the key to the new file (temporary file, sync, link: never
// over an existing file), reads it back, and only then removes the old
// file. A running server keeps the key it read at start, so moving is
// safe while it runs; its next start must find the key at the new place.
func (m *masterKeyMoveCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	mk, err := e.masterKey(ctx, db, false)
	if err != nil {
		return err
	}
	if !mk.file {
		return fmt.Errorf("the master key comes from %s, not from a file: nothing to move", mk.from)
	}
	to, err := e.newKeyFile(m.To)
	if err != nil {
		return err
	}
	if err := models.WriteMasterKeyFile(to, mk.key); err != nil {
		return newKeyFileError(to, err)
	}
	back, err := models.ReadMasterKeyFile(to)
	if err != nil {
		return fmt.Errorf("the key written to %s does not read back; the old file %s is kept: %w", to, mk.from, err)
	}
	if !bytes.Equal(back, mk.key) {
		return fmt.Errorf("the key written to %s reads back as another key; the old file %s is kept", to, mk.from)
	}
	if err := os.Remove(mk.from); err != nil {
		return fmt.Errorf("the key is now also in %s, but the old file could not be removed: %w", to, err)
	}
	if err := syncParent(mk.from); err != nil {
		return err
	}
	if m.JSON {
		return e.printJSON(map[string]any{"moved": true, "from": mk.from, "to": to, "start_flag": e.startFlag(to)})
	}
	fmt.Fprintf(e.out, "master key moved from %s to %s\n", mk.from, to)
	if f := e.startFlag(to); f != "" {
		fmt.Fprintf(e.out, "start the server and the CLI with %s\n", f)
	}
	return nil
}

type masterKeyRotateCmd struct {
	To   string `name:"to" required:"" help:"File for the new key; must not exist, must be outside the data directory." placeholder:"FILE"`
	JSON bool   `name:"json" help:"Print one JSON object."`
}

// Run re-seals under a new key with every server stopped. A running
// server holds the old key in memory: it would go on sealing new signing
// keys with it (rotation) and fail to open the re-sealed ones when its
// JWKS follows another instance's rotation, so rotate refuses while any
// server's presence mark is live (idp/presence.go).
func (m *masterKeyRotateCmd) Run(ctx context.Context, e *env) (err error) {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer command.CloseDB(db, &err)
	running, err := db.RunningInstances(ctx)
	if err != nil {
		return err
	}
	if len(running) > 0 {
		return fmt.Errorf("refusing to rotate: %w", &models.ServersRunningError{Running: running})
	}
	old, err := e.masterKey(ctx, db, false)
	if err != nil {
		return err
	}
	to, err := e.newKeyFile(m.To)
	if err != nil {
		return err
	}
	newKey := models.NewMasterKey()
	// The new key is on disk before the database depends on it; if the
	// transaction fails, the file goes and nothing changed.
	if err := models.WriteMasterKeyFile(to, newKey); err != nil {
		return newKeyFileError(to, err)
	}
	res, err := db.ResealAll(ctx, old.key, newKey, "cli")
	if err != nil {
		_ = os.Remove(to)
		var busy *models.ServersRunningError
		if errors.As(err, &busy) { // a server started meanwhile
			return fmt.Errorf("refusing to rotate (nothing changed): %w", err)
		}
		return fmt.Errorf("rotate master key (nothing changed): %w", err)
	}
	if m.JSON {
		return e.printJSON(map[string]any{"rotated": true, "old_fingerprint": res.Old, "new_fingerprint": res.New,
			"signing_keys": res.SigningKeys, "secrets": res.Secrets, "file": to, "old_file": old.from, "start_flag": e.startFlag(to)})
	}
	fmt.Fprintf(e.out, "re-sealed %d signing keys and %d secrets under the new master key %s (was %s), written to %s\n",
		res.SigningKeys, res.Secrets, res.New, res.Old, to)
	if f := e.startFlag(to); f != "" {
		fmt.Fprintf(e.out, "start the server and the CLI with %s\n", f)
	}
	fmt.Fprintf(e.out, "the old key (%s) opens nothing in this database any more, but it still opens backups made before now\n", old.from)
	return nil
}

// newKeyFile checks a destination for a key: absolute, not existing, and
// outside the data directory.
func (e *env) newKeyFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if insideDir(abs, e.dataDir()) {
		return "", fmt.Errorf("%s is inside the data directory %s: a copy of the directory would carry the key; choose a file elsewhere", abs, e.dataDir())
	}
	if _, err := os.Lstat(abs); err == nil {
		return "", fmt.Errorf("%s already exists; a key file is never replaced", abs)
	}
	return abs, nil
}

func newKeyFileError(path string, err error) error {
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; a key file is never replaced", path)
	}
	return err
}

// startFlag is the flag that makes later commands find the key at path,
// or "" when they find it without one (the default place).
func (e *env) startFlag(path string) string {
	if def, err := defaultMasterKeyPath(); err == nil && def == path && e.cli.MasterKeyFil == "" {
		return ""
	}
	return "--master-key-file " + path + " (LATCHKEY_MASTER_KEY_FILE)"
}

func syncParent(path string) error {
	d, err := os.Open(filepath.Dir(path)) //nolint:gosec // G304: the directory of the key file we moved
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
