package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/latchkey-idp/latchkey/models"
)

// The master key lives outside the data directory (issue 20): a copy of
// the directory — a backup, a volume snapshot, a share — must not carry
// the key that opens the signing keys it holds. Its default place is the
// user's configuration directory; --master-key-file and
// LATCHKEY_MASTER_KEY(_FILE) override it. The database stores only the
// key's fingerprint (models.MasterKeyFingerprint), and no command makes
// a new key for a database that already depends on one.

// masterKey is the key in use and where it came from.
type masterKey struct {
	key  []byte
	from string // a file path, or the name of the flag/env carrying the value
	file bool   // from is a file
	// inDataDir: the key file is inside the data directory (an
	// installation from before the key moved out).
	inDataDir bool
	created   bool
}

const masterKeyValueSource = "--master-key (LATCHKEY_MASTER_KEY)"

// defaultMasterKeyPath is $XDG_CONFIG_HOME/latchkey/master.key, else
// ~/.config/latchkey/master.key (the XDG Base Directory default).
func defaultMasterKeyPath() (string, error) {
	base := os.Getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(base) { // the spec: a relative value is ignored
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no configuration directory for the master key (set --master-key-file): %w", err)
		}
		base = filepath.Join(home, ".config")
	}
	return filepath.Join(base, "latchkey", models.MasterKeyFile), nil
}

// legacyMasterKeyPath is where installations made before issue 20 keep
// the key: inside the data directory.
func (e *env) legacyMasterKeyPath() string { return filepath.Join(e.dataDir(), models.MasterKeyFile) }

func (e *env) dataDir() string {
	if e.cli.DataDir == "" {
		return "data"
	}
	return e.cli.DataDir
}

// insideDir reports whether path is dir or inside it (symbolic links of
// existing parents resolved).
func insideDir(path, dir string) bool {
	resolve := func(p string) string {
		p, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		// Resolve the longest existing prefix.
		rest := ""
		for {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				return filepath.Join(r, rest)
			}
			parent := filepath.Dir(p)
			if parent == p {
				return filepath.Join(p, rest)
			}
			rest = filepath.Join(filepath.Base(p), rest)
			p = parent
		}
	}
	rel, err := filepath.Rel(resolve(dir), resolve(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// keyCandidates lists the places to look for the key, in order, and the
// file a new key would go to ("" when none may be made there).
func (e *env) keyCandidates() (files []string, createAt string, err error) {
	if e.cli.MasterKeyFil != "" {
		return []string{e.cli.MasterKeyFil}, e.cli.MasterKeyFil, nil
	}
	def, err := defaultMasterKeyPath()
	if err != nil {
		return nil, "", err
	}
	return []string{def, e.legacyMasterKeyPath()}, def, nil
}

// masterKey finds the master key of db. It tries the configured places
// (the value of --master-key, else --master-key-file, else the default
// file and then the data directory's) and takes the first key the
// database accepts (models.CheckMasterKey). When none is found and the
// database depends on no key, create makes a new key file; otherwise it
// fails naming the key the database expects and every place it looked,
// and writes nothing.
func (e *env) masterKey(ctx context.Context, db *models.DB, create bool) (*masterKey, error) {
	var looked []string
	try := func(mk *masterKey) (bool, error) {
		err := db.CheckMasterKey(ctx, mk.key)
		var mm *models.MasterKeyMismatchError
		if errors.As(err, &mm) {
			looked = append(looked, fmt.Sprintf("%s (holds key %s)", mk.from, mm.Got))
			return false, nil
		}
		return err == nil, err
	}
	if e.cli.MasterKey != "" {
		key, err := models.DecodeMasterKey(e.cli.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", masterKeyValueSource, err)
		}
		mk := &masterKey{key: key, from: masterKeyValueSource}
		if ok, err := try(mk); ok || err != nil {
			return mk, err
		}
		return nil, e.noKeyError(ctx, db, looked)
	}
	files, createAt, err := e.keyCandidates()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		key, err := models.ReadMasterKeyFile(f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			looked = append(looked, f+" (no such file)")
			continue
		case err != nil:
			return nil, err
		}
		mk := &masterKey{key: key, from: f, file: true, inDataDir: insideDir(f, e.dataDir())}
		if ok, err := try(mk); ok || err != nil {
			return mk, err
		}
	}
	sealed, err := db.HoldsSealedMaterial(ctx)
	if err != nil {
		return nil, err
	}
	if sealed || !create {
		return nil, e.noKeyError(ctx, db, looked)
	}
	key, created, err := models.LoadOrCreateMasterKeyFile(createAt)
	if err != nil {
		return nil, err
	}
	mk := &masterKey{key: key, from: createAt, file: true, created: created, inDataDir: insideDir(createAt, e.dataDir())}
	if err := db.CheckMasterKey(ctx, key); err != nil {
		// Another first start stored its key first: ours opens nothing.
		if created {
			_ = os.Remove(createAt)
		}
		return nil, err
	}
	return mk, nil
}

// noKeyError explains a refused start: which key the database expects and
// where the command looked.
func (e *env) noKeyError(ctx context.Context, db *models.DB, looked []string) error {
	fp, err := db.StoredMasterKeyFingerprint(ctx)
	if err != nil {
		return err
	}
	sealed, err := db.HoldsSealedMaterial(ctx)
	if err != nil {
		return err
	}
	if !sealed {
		return fmt.Errorf("no master key found (the database depends on none yet; `latchkey serve` makes one).\n  Looked in:\n    - %s",
			strings.Join(looked, "\n    - "))
	}
	want := "the master key that sealed it (its fingerprint is not recorded yet)"
	if fp != "" {
		want = "the master key with fingerprint " + fp
	}
	return fmt.Errorf("refusing to start: the database holds signing keys and secrets sealed with %s, and no such key was found; "+
		"a new key would open nothing, so none was made.\n  Looked in:\n    - %s\n  "+
		"Give the key with --master-key-file FILE (LATCHKEY_MASTER_KEY_FILE) or LATCHKEY_MASTER_KEY; `latchkey master-key status` prints fingerprints",
		want, strings.Join(looked, "\n    - "))
}

// sealer returns the Sealer of db's master key (making a key file on a
// database that depends on none) and logs where it came from.
func (e *env) sealer(ctx context.Context, db *models.DB) (*models.Sealer, *masterKey, error) {
	mk, err := e.masterKey(ctx, db, true)
	if err != nil {
		return nil, nil, err
	}
	if mk.created {
		e.log.Warn("created a new master key; back it up apart from the data directory: without it the signing keys cannot be used",
			"file", mk.from, "fingerprint", models.MasterKeyFingerprint(mk.key))
	}
	if mk.inDataDir {
		e.log.Warn(masterKeyInDataDirWarning, "file", mk.from)
	}
	s, err := models.NewSealer(mk.key)
	return s, mk, err
}

// masterKeyInDataDirWarning is logged at every start, and shown in the
// admin console, while the key sits next to the database it protects.
const masterKeyInDataDirWarning = "the master key is inside the data directory: anyone who copies the directory can sign tokens. " +
	"Move it out with `latchkey master-key move --to FILE` and start with --master-key-file FILE"
