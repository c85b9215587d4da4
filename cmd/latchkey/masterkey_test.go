package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-idp/latchkey/models"
)

// runCLI runs the CLI in-process with exactly args (no flags added).
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(args, "--log-format", "text"), &out, &errOut)
	return code, out.String(), errOut.String()
}

// serveUntilReady runs `serve` in-process with args until it is ready,
// stops it, and returns its log.
func serveUntilReady(t *testing.T, args ...string) string {
	t.Helper()
	pub, internal := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, append([]string{"serve", "--issuer", "http://localhost:" + portOf(pub),
			"--listen", pub, "--internal-listen", internal, "--log-format", "text"}, args...), &out, &errOut)
	}()
	waitReady(t, "http://"+internal+"/readyz")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	}
	return errOut.String()
}

// newInstallation makes a data directory that a server has run on, with
// a user and a client, its master key in a file outside it. It returns
// the data directory and the key file.
func newInstallation(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	keyFile := filepath.Join(t.TempDir(), "keys", "master.key")
	serveUntilReady(t, "--data-dir", dir, "--master-key-file", keyFile)
	if code, _, e := runCLI(t, "users", "add", "--username", "vera", "--data-dir", dir, "--master-key-file", keyFile); code != 0 {
		t.Fatalf("users add: %s", e)
	}
	if code, _, e := runCLI(t, "clients", "add", "--name", "App", "--redirect-uri", "http://localhost:9/cb", "--data-dir", dir, "--master-key-file", keyFile); code != 0 {
		t.Fatalf("clients add: %s", e)
	}
	return dir, keyFile
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p) //nolint:gosec // G304: test files
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// TestCopiedDataDirIsWorthless copies the data directory of an
// installation, starts the real binary on the copy without the key, and
// shows that it refuses to start — naming the key it expects and every
// place it looked — and leaves no key file behind; that with a made-up key
// it refuses too; and that nothing in the copy opens a signing key or a
// secret. With the right key, the copy starts (the refusal is the key's).
func TestCopiedDataDirIsWorthless(t *testing.T) {
	bin := buildLatchkey(t) // crash_test.go
	dir, keyFile := newInstallation(t)
	key, err := models.ReadMasterKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	fp := models.MasterKeyFingerprint(key)
	stolen := filepath.Join(t.TempDir(), "stolen")
	copyDir(t, dir, stolen)
	config, home := t.TempDir(), t.TempDir()

	start := func(env ...string) (*exec.Cmd, *syncBuffer, string) {
		pub, internal := freeAddr(t), freeAddr(t)
		cmd := exec.Command(bin, "serve", "--data-dir", stolen, "--issuer", "http://localhost:"+portOf(pub), //nolint:gosec // G204: the binary under test
			"--listen", pub, "--internal-listen", internal, "--log-format", "text")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "XDG_CONFIG_HOME=" + config, "HOME=" + home}, env...)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out, internal
	}
	refused := func(name string, env ...string) string {
		cmd, out, _ := start(env...)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("%s: serve exited 0 on a copy without the key:\n%s", name, out.String())
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%s: serve is running on a copy without the key:\n%s", name, out.String())
		}
		return out.String()
	}

	log := refused("no key")
	for _, want := range []string{"refusing to start", fp, filepath.Join(config, "latchkey", "master.key"), filepath.Join(stolen, "master.key")} {
		if !strings.Contains(log, want) {
			t.Errorf("the refusal does not mention %q:\n%s", want, log)
		}
	}
	if files := listFiles(t, config); len(files) != 0 {
		t.Fatalf("a failed start left files in the configuration directory: %v", files)
	}
	if _, err := os.Stat(filepath.Join(stolen, "master.key")); err == nil {
		t.Fatal("a failed start left a key in the data directory")
	}
	made := models.NewMasterKey()
	if log := refused("made-up key", "LATCHKEY_MASTER_KEY="+base64.StdEncoding.EncodeToString(made)); !strings.Contains(log, fp) || !strings.Contains(log, models.MasterKeyFingerprint(made)) {
		t.Errorf("the refusal of a made-up key names neither fingerprint:\n%s", log)
	}

	// Nothing in the copy opens what it seals: not a key made up, not any
	// file of the copy read as a key, and the key's text is in no file.
	db, err := models.Open(context.Background(), models.Options{DataDir: stolen})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var signing []models.SigningKey
	var secrets []models.Secret
	if err := db.Gorm().Find(&signing).Error; err != nil || len(signing) < 2 {
		t.Fatalf("signing keys in the copy: %d %v", len(signing), err)
	}
	if err := db.Gorm().Find(&secrets).Error; err != nil || len(secrets) < 2 {
		t.Fatalf("secrets in the copy: %d %v", len(secrets), err)
	}
	candidates := [][]byte{made, make([]byte, 32)}
	for _, f := range listFiles(t, stolen) {
		b, _ := os.ReadFile(f) //nolint:gosec // G304: test files
		if bytes.Contains(b, key) || bytes.Contains(b, []byte(strings.TrimSpace(models.EncodeMasterKey(key)))) {
			t.Fatalf("%s holds the master key", f)
		}
		if k, err := models.DecodeMasterKey(string(b)); err == nil {
			candidates = append(candidates, k)
		}
	}
	for _, k := range candidates {
		s, _ := models.NewSealer(k)
		for _, row := range signing {
			if _, err := s.Open(row.PrivateKeyEnc, []byte(row.ID)); err == nil {
				t.Fatalf("signing key %s opened without the master key", row.ID)
			}
		}
		for _, row := range secrets {
			if _, err := s.Open(row.ValueEnc, []byte(row.Name)); err == nil {
				t.Fatalf("secret %s opened without the master key", row.Name)
			}
		}
	}

	// The control: the right key starts the copy.
	cmd, out, internal := start("LATCHKEY_MASTER_KEY_FILE=" + keyFile)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitReady(t, "http://"+internal+"/readyz")
	if strings.Contains(out.String(), "inside the data directory") {
		t.Fatalf("a key outside the data directory was warned about:\n%s", out.String())
	}
}

// TestDefaultMasterKeyLocation: a first start makes the key in the
// configuration directory, mode 0600, and stores only its fingerprint.
func TestDefaultMasterKeyLocation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	config := t.TempDir()
	bin := buildLatchkey(t)
	cmd := exec.Command(bin, "keys", "rotate", "--data-dir", dir) //nolint:gosec // G204: the binary under test
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "XDG_CONFIG_HOME=" + config, "HOME=" + t.TempDir()}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	keyFile := filepath.Join(config, "latchkey", "master.key")
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		t.Fatal("a key was made in the data directory")
	}
	key, _ := models.ReadMasterKeyFile(keyFile)
	code, out, e := runCLI(t, "master-key", "status", "--json", "--data-dir", dir, "--master-key-file", keyFile)
	if code != 0 || !strings.Contains(out, `"expected_fingerprint": "`+models.MasterKeyFingerprint(key)) || !strings.Contains(out, `"inside_data_dir": false`) {
		t.Fatalf("status: %d %s %s", code, out, e)
	}
	// HOME's ~/.config when XDG_CONFIG_HOME is unset.
	home := t.TempDir()
	cmd = exec.Command(bin, "keys", "rotate", "--data-dir", filepath.Join(t.TempDir(), "data")) //nolint:gosec // G204: the binary under test
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(home, ".config", "latchkey", "master.key")); err != nil {
		t.Fatal(err)
	}
}

// TestLegacyMasterKeyWarnsAndMoves: an installation whose key is in the
// data directory keeps working with a warning at every start; `master-key
// move` moves the key out (refusing a target that exists or is inside the
// data directory, changing nothing), after which no warning is logged.
func TestLegacyMasterKeyWarnsAndMoves(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	legacy := filepath.Join(dir, "master.key")
	if err := models.WriteMasterKeyFile(legacy, models.NewMasterKey()); err != nil {
		t.Fatal(err)
	}
	key, _ := models.ReadMasterKeyFile(legacy)
	// Sealed with the key in the data directory, as before issue 20.
	if code, _, e := runCLI(t, "keys", "rotate", "--data-dir", dir, "--master-key-file", legacy); code != 0 {
		t.Fatalf("keys rotate: %s", e)
	}
	for range 2 { // every start
		if log := serveUntilReady(t, "--data-dir", dir); !strings.Contains(log, "inside the data directory") {
			t.Fatalf("no warning about the key in the data directory:\n%s", log)
		}
	}

	outside := filepath.Join(t.TempDir(), "moved.key")
	taken := filepath.Join(t.TempDir(), "taken.key")
	if err := os.WriteFile(taken, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ to, want string }{
		{filepath.Join(dir, "elsewhere.key"), "inside the data directory"},
		{taken, "already exists"},
	} {
		if code, _, e := runCLI(t, "master-key", "move", "--to", tc.to, "--data-dir", dir); code == 0 || !strings.Contains(e, tc.want) {
			t.Fatalf("move --to %s: %d %s", tc.to, code, e)
		}
	}
	if b, _ := os.ReadFile(taken); string(b) != "keep me" { //nolint:gosec // G304: test file
		t.Fatal("move replaced an existing file")
	}
	if k, err := models.ReadMasterKeyFile(legacy); err != nil || !bytes.Equal(k, key) {
		t.Fatal("a refused move changed the key file")
	}
	if code, out, e := runCLI(t, "master-key", "move", "--to", outside, "--data-dir", dir); code != 0 || !strings.Contains(out, "--master-key-file "+outside) {
		t.Fatalf("move: %d %s %s", code, out, e)
	}
	if _, err := os.Stat(legacy); err == nil {
		t.Fatal("the key is still in the data directory")
	}
	if k, err := models.ReadMasterKeyFile(outside); err != nil || !bytes.Equal(k, key) {
		t.Fatalf("moved key: %v", err)
	}
	if log := serveUntilReady(t, "--data-dir", dir, "--master-key-file", outside); strings.Contains(log, "inside the data directory") {
		t.Fatalf("warning after the move:\n%s", log)
	}
	// Moving a key given as a value is refused.
	enc := base64.StdEncoding.EncodeToString(key)
	if code, _, e := runCLI(t, "master-key", "move", "--to", filepath.Join(t.TempDir(), "x"), "--data-dir", dir, "--master-key", enc); code == 0 || !strings.Contains(e, "nothing to move") {
		t.Fatalf("move of a value: %d %s", code, e)
	}
}

// TestMasterKeyRotate: rotate refuses while a server runs and when the
// target exists; otherwise it re-seals under a new key written to --to,
// after which the old key is refused and the new one serves.
func TestMasterKeyRotate(t *testing.T) {
	dir, keyFile := newInstallation(t)
	newFile := filepath.Join(t.TempDir(), "new.key")
	ctx := context.Background()

	db, err := models.Open(ctx, models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MarkInstanceRunning(ctx, "host/1/test", time.Minute); err != nil {
		t.Fatal(err)
	}
	if code, _, e := runCLI(t, "master-key", "rotate", "--to", newFile, "--data-dir", dir, "--master-key-file", keyFile); code == 0 || !strings.Contains(e, "servers are running") || !strings.Contains(e, "host/1/test") {
		t.Fatalf("rotate while a server runs: %d %s", code, e)
	}
	if err := db.MarkInstanceStopped(ctx, "host/1/test"); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if _, err := os.Stat(newFile); err == nil {
		t.Fatal("a refused rotation wrote a key")
	}
	if code, _, e := runCLI(t, "master-key", "rotate", "--to", keyFile, "--data-dir", dir, "--master-key-file", keyFile); code == 0 || !strings.Contains(e, "already exists") {
		t.Fatalf("rotate onto the old key file: %d %s", code, e)
	}
	code, out, e := runCLI(t, "master-key", "rotate", "--to", newFile, "--json", "--data-dir", dir, "--master-key-file", keyFile)
	if code != 0 || !strings.Contains(out, `"rotated": true`) {
		t.Fatalf("rotate: %d %s %s", code, out, e)
	}
	if code, _, e := runCLI(t, "keys", "rotate", "--data-dir", dir, "--master-key-file", keyFile); code == 0 || !strings.Contains(e, "refusing") {
		t.Fatalf("the old key after rotation: %d %s", code, e)
	}
	serveUntilReady(t, "--data-dir", dir, "--master-key-file", newFile)
	db, err = models.Open(ctx, models.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var n int64
	if err := db.Gorm().Table("audit_events").Where("type = ?", "master_key_rotated").Count(&n).Error; err != nil || n != 1 {
		t.Fatalf("audit events of the rotation: %d %v", n, err)
	}
}
