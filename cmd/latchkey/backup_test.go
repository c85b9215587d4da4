package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey-idp/latchkey/models"
)

// TestBackupRestoreCLI: backup and restore refuse every bad input with a
// clear message and change nothing; a backup of an installation restores
// into a new data directory that serves with the right key only.
func TestBackupRestoreCLI(t *testing.T) {
	dir, keyFile := newInstallation(t)
	out := filepath.Join(t.TempDir(), "latchkey.backup")
	taken := filepath.Join(t.TempDir(), "taken")
	if err := os.WriteFile(taken, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"postgres", []string{"backup", out, "--database", "postgres://u:p@127.0.0.1:1/x"}, "pg_dump"},
		{"existing file", []string{"backup", taken, "--data-dir", dir}, "already exists"},
		{"no database", []string{"backup", out, "--data-dir", filepath.Join(t.TempDir(), "none")}, "no database"},
	} {
		if code, _, e := runCLI(t, tc.args...); code == 0 || !strings.Contains(e, tc.want) {
			t.Fatalf("%s: %d %s", tc.name, code, e)
		}
	}
	if b, _ := os.ReadFile(taken); string(b) != "keep" { //nolint:gosec // G304: test file
		t.Fatal("backup replaced a file")
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused backup wrote its file")
	}
	if code, o, e := runCLI(t, "backup", out, "--data-dir", dir); code != 0 || !strings.Contains(o, "backed up") {
		t.Fatalf("backup: %d %s %s", code, o, e)
	}

	notEmpty := t.TempDir()
	if err := os.WriteFile(filepath.Join(notEmpty, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"postgres", []string{"restore", out, "--database", "postgres://u:p@127.0.0.1:1/x"}, "pg_restore"},
		{"non-empty data dir", []string{"restore", out, "--data-dir", notEmpty}, "not empty"},
		{"not a backup", []string{"restore", taken, "--data-dir", filepath.Join(t.TempDir(), "a")}, "not a usable Latchkey backup"},
		{"missing file", []string{"restore", filepath.Join(t.TempDir(), "nope"), "--data-dir", filepath.Join(t.TempDir(), "b")}, "no such file"},
	} {
		if code, _, e := runCLI(t, tc.args...); code == 0 || !strings.Contains(e, tc.want) {
			t.Fatalf("%s: %d %s", tc.name, code, e)
		}
	}
	if entries, _ := os.ReadDir(notEmpty); len(entries) != 1 {
		t.Fatal("a refused restore changed the data directory")
	}

	restored := filepath.Join(t.TempDir(), "restored")
	key, _ := models.ReadMasterKeyFile(keyFile)
	code, o, e := runCLI(t, "restore", out, "--data-dir", restored)
	if code != 0 || !strings.Contains(o, models.MasterKeyFingerprint(key)) {
		t.Fatalf("restore: %d %s %s", code, o, e)
	}
	if code, _, e := runCLI(t, "restore", out, "--data-dir", restored); code == 0 || !strings.Contains(e, "not empty") {
		t.Fatalf("second restore: %d %s", code, e)
	}
	if code, _, e := runCLI(t, "keys", "rotate", "--data-dir", restored, "--master-key-file", filepath.Join(t.TempDir(), "other.key")); code == 0 || !strings.Contains(e, "refusing") {
		t.Fatalf("the restored data without its key: %d %s", code, e)
	}
	serveUntilReady(t, "--data-dir", restored, "--master-key-file", keyFile)
	if code, o, _ := runCLI(t, "users", "list", "--json", "--data-dir", restored, "--master-key-file", keyFile); code != 0 || !strings.Contains(o, "vera") {
		t.Fatalf("users after restore: %s", o)
	}
}
