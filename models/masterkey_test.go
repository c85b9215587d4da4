package models

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// loadResult is what one concurrent loader got.
type loadResult struct {
	key     string
	created bool
	err     error
}

// loadTogether starts n loaders of path at once and returns what each got.
func loadTogether(path string, n int) []loadResult {
	res := make([]loadResult, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			k, c, err := LoadOrCreateMasterKeyFile(path)
			res[i] = loadResult{base64.StdEncoding.EncodeToString(k), c, err}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return res
}

// checkOneKey fails unless every loader of one file got the same valid
// key without error and exactly one of them created it, and the file holds
// that key and nothing is left beside it.
func checkOneKey(t *testing.T, path string, res []loadResult) {
	t.Helper()
	created := 0
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("%s: loader %d: %v", path, i, r.err)
		}
		if k, _ := base64.StdEncoding.DecodeString(r.key); len(k) != 32 {
			t.Fatalf("%s: loader %d got a %d-byte key", path, i, len(k))
		}
		if r.key != res[0].key {
			t.Fatalf("%s: loader %d got another key than loader 0", path, i)
		}
		if r.created {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%s: %d loaders say they created the key", path, created)
	}
	onDisk, err := ReadMasterKeyFile(path)
	if err != nil || base64.StdEncoding.EncodeToString(onDisk) != res[0].key {
		t.Fatalf("%s: the file holds another key (%v)", path, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("%s: %d files in the key directory, want 1 (temporary files left?)", path, len(entries))
	}
}

// TestMasterKeyCreationRace: many loaders starting together on a missing
// key file all get the same complete key (issue 20: 1,317 of 8,000
// concurrent loaders read a half-written key when the file was created
// with O_EXCL and then written). Goroutines of this process first, then
// several processes at once, each with goroutines, on the same files.
func TestMasterKeyCreationRace(t *testing.T) {
	t.Run("goroutines", func(t *testing.T) {
		for round := range 40 {
			path := filepath.Join(t.TempDir(), fmt.Sprint(round), MasterKeyFile)
			checkOneKey(t, path, loadTogether(path, 64))
		}
	})
	t.Run("processes", func(t *testing.T) {
		const procs, rounds, perProc = 4, 15, 25
		var dirs []string
		for range rounds {
			dirs = append(dirs, t.TempDir())
		}
		// Every process starts round i at the same wall-clock instant, so
		// the processes race each other on each file.
		t0 := time.Now().Add(3 * time.Second)
		outs := make([]bytes.Buffer, procs)
		cmds := make([]*exec.Cmd, procs)
		for p := range procs {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMasterKeyLoaderProcess$", "-test.count=1") //nolint:gosec // G204: this test binary
			cmd.Env = append(os.Environ(), "LATCHKEY_KEY_LOADER_DIRS="+strings.Join(dirs, string(os.PathListSeparator)),
				"LATCHKEY_KEY_LOADER_T0="+strconv.FormatInt(t0.UnixNano(), 10), "LATCHKEY_KEY_LOADER_N="+strconv.Itoa(perProc))
			cmd.Stdout, cmd.Stderr = &outs[p], &outs[p]
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[p] = cmd
		}
		byDir := map[string][]loadResult{}
		for p, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("loader process %d: %v\n%s", p, err, outs[p].String())
			}
			sc := bufio.NewScanner(&outs[p])
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) < 4 || f[0] != "LOADED" {
					continue
				}
				var err error
				if f[3] != "ok" {
					err = errors.New(strings.Join(f[3:], " "))
				}
				byDir[f[1]] = append(byDir[f[1]], loadResult{key: f[2], created: f[len(f)-1] == "created", err: err})
			}
		}
		for _, d := range dirs {
			res := byDir[filepath.Join(d, MasterKeyFile)]
			if len(res) != procs*perProc {
				t.Fatalf("%s: %d results, want %d", d, len(res), procs*perProc)
			}
			checkOneKey(t, filepath.Join(d, MasterKeyFile), res)
		}
	})
}

// TestMasterKeyLoaderProcess is the child of TestMasterKeyCreationRace's
// processes; run directly it does nothing.
func TestMasterKeyLoaderProcess(*testing.T) {
	dirs := os.Getenv("LATCHKEY_KEY_LOADER_DIRS")
	if dirs == "" {
		return
	}
	t0, _ := strconv.ParseInt(os.Getenv("LATCHKEY_KEY_LOADER_T0"), 10, 64)
	n, _ := strconv.Atoi(os.Getenv("LATCHKEY_KEY_LOADER_N"))
	for i, d := range filepath.SplitList(dirs) {
		time.Sleep(time.Until(time.Unix(0, t0).Add(time.Duration(i) * 50 * time.Millisecond)))
		path := filepath.Join(d, MasterKeyFile)
		for _, r := range loadTogether(path, n) {
			status := "ok"
			if r.err != nil {
				status = "error: " + r.err.Error()
			} else if r.created {
				status = "ok created"
			}
			fmt.Printf("LOADED %s %s %s\n", path, r.key, status)
		}
	}
}

// TestWriteMasterKeyFileNeverReplaces: an existing key file is kept as it
// is, and the failed write leaves no temporary file.
func TestWriteMasterKeyFileNeverReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), MasterKeyFile)
	first := NewMasterKey()
	if err := WriteMasterKeyFile(path, first); err != nil {
		t.Fatal(err)
	}
	if err := WriteMasterKeyFile(path, NewMasterKey()); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want fs.ErrExist", err)
	}
	got, err := ReadMasterKeyFile(path)
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("key replaced: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("%d files in the directory, want 1", len(entries))
	}
}

// TestMasterKeyFingerprintRevealsNothing: the fingerprint is stable, tells
// keys apart, and is neither the key nor its plain hash.
func TestMasterKeyFingerprintRevealsNothing(t *testing.T) {
	k := NewMasterKey()
	fp := MasterKeyFingerprint(k)
	if fp != MasterKeyFingerprint(k) || fp == MasterKeyFingerprint(NewMasterKey()) || len(fp) != 32 {
		t.Fatalf("fingerprint %q", fp)
	}
	if strings.Contains(fp, fmt.Sprintf("%x", k)[:16]) || strings.Contains(fp, fmt.Sprintf("%x", HashToken(string(k)))[:16]) {
		t.Fatal("the fingerprint shows the key or its SHA-256")
	}
}

// TestCheckMasterKey: the first key a database meets is recorded by its
// fingerprint; another key is refused, naming both; a database sealed
// before fingerprints accepts only the key that opens its values.
func TestCheckMasterKey(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	k1, k2 := NewMasterKey(), NewMasterKey()
	if sealed, err := db.HoldsSealedMaterial(ctx); err != nil || sealed {
		t.Fatalf("a new database holds sealed material: %v %v", sealed, err)
	}
	if err := db.CheckMasterKey(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if sealed, _ := db.HoldsSealedMaterial(ctx); !sealed {
		t.Fatal("a database that names its key must count as sealed")
	}
	var mm *MasterKeyMismatchError
	if err := db.CheckMasterKey(ctx, k2); !errors.As(err, &mm) || mm.Expected != MasterKeyFingerprint(k1) || mm.Got != MasterKeyFingerprint(k2) {
		t.Fatalf("another key: %v", err)
	}
	if err := db.CheckMasterKey(ctx, k1); err != nil {
		t.Fatalf("the right key again: %v", err)
	}

	// A database sealed before fingerprints were stored.
	legacy, _ := newTestDB(t)
	s1, _ := NewSealer(k1)
	if _, err := legacy.SecretValue(ctx, "op_crypto_key", func() ([]byte, error) { return s1.Seal([]byte("x"), []byte("op_crypto_key")), nil }); err != nil {
		t.Fatal(err)
	}
	if err := legacy.CheckMasterKey(ctx, k2); !errors.As(err, &mm) || mm.Expected != "" {
		t.Fatalf("a key that opens nothing: %v", err)
	}
	if fp, _ := legacy.StoredMasterKeyFingerprint(ctx); fp != "" {
		t.Fatalf("the wrong key's fingerprint was stored: %q", fp)
	}
	if err := legacy.CheckMasterKey(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if fp, _ := legacy.StoredMasterKeyFingerprint(ctx); fp != MasterKeyFingerprint(k1) {
		t.Fatalf("fingerprint %q not stored", fp)
	}
}

// TestResealAll: every sealed value opens with the new key and no longer
// with the old, the fingerprint follows, an audit event says so; with the
// wrong old key nothing changes.
func TestResealAll(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	oldKey, newKey := NewMasterKey(), NewMasterKey()
	oldS, _ := NewSealer(oldKey)
	newS, _ := NewSealer(newKey)
	if err := db.CheckMasterKey(ctx, oldKey); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"op_crypto_key", "admin_console_client_secret"} {
		if _, err := db.SecretValue(ctx, name, func() ([]byte, error) { return oldS.Seal([]byte("v-"+name), []byte(name)), nil }); err != nil {
			t.Fatal(err)
		}
	}
	for _, kid := range []string{"k1", "k2"} {
		if err := db.CreateSigningKey(ctx, &SigningKey{ID: kid, Algorithm: "ES256", PrivateKeyEnc: oldS.Seal([]byte("priv-"+kid), []byte(kid)),
			PublicKey: []byte("pub"), CreatedAt: db.Now(), ActivatesAt: db.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() string {
		var keys []SigningKey
		var secrets []Secret
		db.Gorm().Order("id").Find(&keys)
		db.Gorm().Order("name").Find(&secrets)
		return fmt.Sprint(keys, secrets)
	}
	before := snapshot()
	if _, err := db.ResealAll(ctx, NewMasterKey(), newKey, "test"); err == nil {
		t.Fatal("resealed with a wrong old key")
	}
	if snapshot() != before {
		t.Fatal("a failed reseal changed the database")
	}
	res, err := db.ResealAll(ctx, oldKey, newKey, "test")
	if err != nil || res.SigningKeys != 2 || res.Secrets != 2 {
		t.Fatalf("reseal: %+v %v", res, err)
	}
	var keys []SigningKey
	var secrets []Secret
	db.Gorm().Find(&keys)
	db.Gorm().Find(&secrets)
	for _, k := range keys {
		if pt, err := newS.Open(k.PrivateKeyEnc, []byte(k.ID)); err != nil || string(pt) != "priv-"+k.ID {
			t.Fatalf("signing key %s: %q %v", k.ID, pt, err)
		}
		if _, err := oldS.Open(k.PrivateKeyEnc, []byte(k.ID)); err == nil {
			t.Fatalf("signing key %s still opens with the old key", k.ID)
		}
	}
	for _, s := range secrets {
		if pt, err := newS.Open(s.ValueEnc, []byte(s.Name)); err != nil || string(pt) != "v-"+s.Name {
			t.Fatalf("secret %s: %q %v", s.Name, pt, err)
		}
	}
	if err := db.CheckMasterKey(ctx, newKey); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckMasterKey(ctx, oldKey); err == nil {
		t.Fatal("the old key is still accepted")
	}
	var ev AuditEvent
	if err := db.Gorm().Where("type = ?", "master_key_rotated").First(&ev).Error; err != nil || ev.Detail["new_fingerprint"] != res.New {
		t.Fatalf("audit event: %+v %v", ev, err)
	}
}

// TestRunningInstances: a server's mark is seen until it stops or expires.
func TestRunningInstances(t *testing.T) {
	ctx := context.Background()
	db, clock := newTestDB(t)
	if err := db.MarkInstanceRunning(ctx, "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkInstanceRunning(ctx, "b", time.Minute); err != nil {
		t.Fatal(err)
	}
	if ls, err := db.RunningInstances(ctx); err != nil || len(ls) != 2 {
		t.Fatalf("running: %v %v", ls, err)
	}
	if err := db.MarkInstanceStopped(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	if ls, _ := db.RunningInstances(ctx); len(ls) != 0 {
		t.Fatalf("an expired mark counts: %v", ls)
	}
}

// A rotation and a server start cannot miss each other (issue 20): a
// rotation refuses, changing nothing, while a server is marked running;
// and a server that marks itself while a rotation is between its check
// and its commit then sees the new fingerprint (Postgres: the read waits
// for the commit; SQLite: the mark waits for the write lock) and refuses.
func TestRotationAndStartCannotMissEachOther(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	oldKey, newKey := NewMasterKey(), NewMasterKey()
	oldFP, newFP := MasterKeyFingerprint(oldKey), MasterKeyFingerprint(newKey)
	if err := db.CheckMasterKey(ctx, oldKey); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkInstanceRunning(ctx, "early", time.Minute); err != nil {
		t.Fatal(err)
	}
	var busy *ServersRunningError
	if _, err := db.ResealAll(ctx, oldKey, newKey, "test"); !errors.As(err, &busy) || busy.Running[0].Holder != "early" {
		t.Fatalf("rotation beside a running server: %v", err)
	}
	if err := db.ConfirmMasterKey(ctx, oldFP); err != nil {
		t.Fatalf("a refused rotation changed the fingerprint: %v", err)
	}
	if err := db.MarkInstanceStopped(ctx, "early"); err != nil {
		t.Fatal(err)
	}

	checked, started := make(chan struct{}), make(chan error, 1)
	go func() {
		<-checked
		if err := db.MarkInstanceRunning(ctx, "late", time.Minute); err != nil {
			started <- err
			return
		}
		started <- db.ConfirmMasterKey(ctx, oldFP)
	}()
	err := db.InTx(ctx, func(tx *DB) error {
		if err := tx.ctx(ctx).Model(&Setting{}).Where("name = ?", SettingMasterKeyFingerprint).Update("value", newFP).Error; err != nil {
			return err
		}
		if running, err := tx.RunningInstances(ctx); err != nil || len(running) != 0 {
			return fmt.Errorf("running %v %w", running, err)
		}
		close(checked)
		time.Sleep(300 * time.Millisecond) // the start runs now
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var mismatch *MasterKeyMismatchError
	if err := <-started; !errors.As(err, &mismatch) || mismatch.Expected != newFP {
		t.Fatalf("a server that started during the rotation confirmed the old key: %v", err)
	}
}
