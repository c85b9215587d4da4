package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// users list pages with --limit and --after, searches by prefix, prints
// JSON Lines with --json and refuses a bad limit without touching the
// database.
func TestCLIUsersListPages(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"carol", "alice", "bob"} {
		if code, _, errOut := cliRun(t, dir, "users", "add", "--username", u, "--email", u+"@example.com"); code != 0 {
			t.Fatalf("users add %s: %s", u, errOut)
		}
	}
	names := func(out string) []string {
		t.Helper()
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var r struct {
				Username string `json:"username"`
				Passkeys *int   `json:"passkeys"`
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.Passkeys == nil {
				t.Fatalf("not one user object per line: %q (%v)", line, err)
			}
			got = append(got, r.Username)
		}
		return got
	}
	code, out, errOut := cliRun(t, dir, "users", "list", "--json", "--limit", "2")
	if got := names(out); code != 0 || strings.Join(got, ",") != "alice,bob" || !strings.Contains(errOut, "next page: --after bob") {
		t.Fatalf("first page: %d %v %q", code, got, errOut)
	}
	code, out, errOut = cliRun(t, dir, "users", "list", "--json", "--limit", "2", "--after", "bob")
	if got := names(out); code != 0 || strings.Join(got, ",") != "carol" || strings.Contains(errOut, "next page") {
		t.Fatalf("second page: %d %v %q", code, got, errOut)
	}
	code, out, _ = cliRun(t, dir, "users", "list", "--json", "--search", "CAR")
	if got := names(out); code != 0 || strings.Join(got, ",") != "carol" {
		t.Fatalf("search: %d %v", code, got)
	}
	code, out, _ = cliRun(t, dir, "users", "list")
	if code != 0 || !strings.HasPrefix(out, "USERNAME") || !strings.Contains(out, "carol@example.com") {
		t.Fatalf("table: %d %q", code, out)
	}
	for _, limit := range []string{"0", "1001", "--limit=-3"} {
		args := []string{"users", "list", "--limit", limit}
		if strings.HasPrefix(limit, "--") {
			args = []string{"users", "list", limit}
		}
		code, out, errOut = cliRun(t, dir, args...)
		if code == 0 || out != "" || !strings.Contains(errOut, "--limit must be 1 to 1000") {
			t.Fatalf("--limit %s: %d %q %q", limit, code, out, errOut)
		}
	}
}

// clients list pages by name with --limit and --after (a client_id), prints
// JSON Lines with --json, and refuses a bad limit or an unknown cursor.
func TestCLIClientsListPages(t *testing.T) {
	dir := t.TempDir()
	ids := map[string]string{}
	for _, name := range []string{"Charlie", "Alpha", "Bravo"} {
		code, out, errOut := cliRun(t, dir, "clients", "add", "--name", name, "--redirect-uri", "http://localhost:9/cb", "--public", "--json")
		var r struct {
			ClientID string `json:"client_id"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.ClientID == "" {
			t.Fatalf("clients add %s: %d %q %q", name, code, out, errOut)
		}
		ids[name] = r.ClientID
	}
	names := func(out string) []string {
		t.Helper()
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var r struct {
				ClientID string `json:"client_id"`
				Name     string `json:"name"`
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.ClientID != ids[r.Name] {
				t.Fatalf("not one client object per line: %q (%v)", line, err)
			}
			got = append(got, r.Name)
		}
		return got
	}
	code, out, errOut := cliRun(t, dir, "clients", "list", "--json", "--limit", "2")
	if got := names(out); code != 0 || strings.Join(got, ",") != "Alpha,Bravo" || !strings.Contains(errOut, "next page: --after "+ids["Bravo"]) {
		t.Fatalf("first page: %d %v %q", code, got, errOut)
	}
	code, out, errOut = cliRun(t, dir, "clients", "list", "--json", "--limit", "2", "--after", ids["Bravo"])
	if got := names(out); code != 0 || strings.Join(got, ",") != "Charlie" || strings.Contains(errOut, "next page") {
		t.Fatalf("second page: %d %v %q", code, got, errOut)
	}
	code, out, _ = cliRun(t, dir, "clients", "list")
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, ids["Charlie"]) {
		t.Fatalf("table: %d %q", code, out)
	}
	code, out, errOut = cliRun(t, dir, "clients", "list", "--limit", "1001")
	if code == 0 || out != "" || !strings.Contains(errOut, "--limit must be 1 to 1000") {
		t.Fatalf("--limit 1001: %d %q %q", code, out, errOut)
	}
	code, out, errOut = cliRun(t, dir, "clients", "list", "--after", "no-such-client")
	if code == 0 || out != "" || !strings.Contains(errOut, `--after: no client "no-such-client"`) {
		t.Fatalf("unknown cursor: %d %q %q", code, out, errOut)
	}
}
