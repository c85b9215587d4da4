package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain gives the tests (and the servers they exec) a configuration
// directory of their own: the default master key lives there, never in
// the real user's ~/.config.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latchkey-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.Setenv("XDG_CONFIG_HOME", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir) // a temp dir; the exit code is what matters
	os.Exit(code)
}
